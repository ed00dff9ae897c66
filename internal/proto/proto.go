// Package proto is the seam between the proxy and the protocols it speaks.
// A protocol (package resp for Redis, package mc for memcached) is one
// Protocol value: it parses client requests, says how each is routed,
// builds what goes to the servers, frames the servers' replies, and
// encodes the replies and errors its clients get. The proxy routes and
// carries messages; a server connection (package backend) sends Wire and
// fills Reply. Neither knows a protocol's bytes, and a protocol knows
// neither the proxy's nor the backend's types.
//
// The life of one client request, all in protocol-neutral fields:
//
//	Client.Parse      frames the next request in the client's bytes
//	Client.Decode     fills a Msg: a local reply, or the key(s) to route by
//	(the proxy)       routes: one server, any server, or one Frag per server
//	Client.Encode     sets Wire of the Msg, or of each Frag, for the servers
//	Framer.Frame      (on each server connection) finds the end of a reply
//	Protocol.Reply    the client's bytes of a forwarded request's reply
//	Protocol.Merge    the client's reply to a split request, from its Frags
//
// Parse, Decode and Encode run on the client's reader goroutine and may
// keep state between requests (a parser, whether the client passed AUTH);
// the Protocol methods keep none, so the client's writer calls them while
// the reader goes on.
package proto

import (
	"strconv"
	"time"
)

// Protocol is one protocol: the state-free side, shared by every client
// and server connection of the pools that speak it.
type Protocol interface {
	// NewClient returns the state of a new client connection.
	NewClient(s *Settings) Client
	// NewFramer returns the reply framer of a new server connection.
	NewFramer() Framer
	// Handshake returns the requests sent first on every new server
	// connection of a dialect (Redis HELLO, AUTH and SELECT), whose
	// replies are dropped.
	Handshake(password string, db int, dialect uint8) [][]byte

	// Reply returns the bytes the client gets for m, a request sent
	// whole to one server that has its Reply: Reply itself, a part of
	// it, or a reply built from it into m.Local. The result may alias
	// m.Reply or m.Local.
	Reply(m *Msg) []byte
	// Merge appends the client's reply to a split request whose every
	// fragment has its reply or error.
	Merge(out []byte, m *Msg) []byte
	// AppendError appends an error reply saying msg (a server's failure,
	// "Connection refused", ...), in the protocol's form.
	AppendError(out []byte, msg string) []byte
	// AppendFramingError appends the last reply a client gets before its
	// connection is closed because its request framing is lost.
	AppendFramingError(out []byte, err error) []byte
	// Describe returns the command name and first key of a request the
	// proxy built (Wire), for logs.
	Describe(wire []byte) (cmd, key []byte)
	// Demoted reports whether a server's reply says it is not the master
	// it was taken for (Redis's -READONLY from a replica): a sentinel
	// group then asks where its master went.
	Demoted(reply []byte) bool
	// Redirection returns what a server's reply says of where its request
	// must run instead (a Redis Cluster's MOVED and ASK), or that it may
	// run later (TRYAGAIN, CLUSTERDOWN); Kind is RedirectNone for any
	// other reply.
	Redirection(reply []byte) Redirect
	// Asking appends to dst what makes a server run wire once for a slot
	// it is importing (Redis ASKING), then wire; the Framer frames their
	// replies as one, setting Request.Preamble, when Hint is the returned
	// hint.
	Asking(dst, wire []byte) ([]byte, uint8)
}

// Redirect is where a server says its request must run (see
// Protocol.Redirection).
type Redirect struct {
	Kind RedirectKind
	Slot int    // the slot of the request's keys
	Addr string // "host:port" of the server to ask
}

// RedirectKind is what a Redirect asks for.
type RedirectKind uint8

const (
	// RedirectNone: the reply is the request's.
	RedirectNone RedirectKind = iota
	// RedirectMoved: the slot lives on Addr now; send the request there.
	RedirectMoved
	// RedirectAsk: the slot is moving to Addr; send the request there
	// once, with Asking.
	RedirectAsk
	// RedirectRetry: send the request again, to the same server, a
	// little later.
	RedirectRetry
)

// NumDialects bounds the dialects of a protocol: variants that the
// protocol's server connections speak from their handshake on (Redis's
// RESP2 and RESP3), each for the clients that speak it. A server has one
// set of connections per dialect; dialect 0's is the protocol's own, and
// the others are opened when a client first needs them.
const NumDialects = 2

// Settings are a pool's settings that a protocol reads when it handles
// a client's requests.
type Settings struct {
	// Password is what clients must AUTH with (redis_auth); "" for none.
	Password string
	// KeyLimit refuses keys of this many bytes or more (twemproxy's mbuf
	// size bounds its keys); 0 for no limit.
	KeyLimit int
	// Router says where keys live, for requests whose keys must be on one
	// server and for those sent to a server the protocol chooses.
	Router Router
	// HashTag is the pool's hash_tag, "" for none: key names a request
	// makes from a pattern (Redis SORT BY) live with the pattern when
	// its hash tag comes before what is filled in.
	HashTag string
	// Peers calls yield with every client connection of the pool in this
	// process, until it returns false (Redis CLIENT LIST).
	Peers func(yield func(Peer) bool)
	// Denied are the names of the commands the pool refuses
	// (deny_commands), lowercase; nil for none.
	Denied []string
	// Status is what the proxy knows of itself and of the pool, for the
	// documents a protocol answers with (Redis INFO, memcached stats).
	Status StatusSource
	// Cluster is set when the pool fronts a Redis Cluster (redis_cluster):
	// its clients are shown a cluster whose one node is the proxy.
	Cluster bool
	// Listen is the pool's listen address, "host:port", as clients dial
	// it (a wildcard host such as 0.0.0.0 included); "" for a unix socket.
	Listen string
}

// Peer is a client connection as a command that lists them sees it.
type Peer struct {
	Client    Client // its protocol state, which its reader owns: read with care
	Addr      string
	LocalAddr string
	FD        int       // its descriptor, -1 if it has none
	Since     time.Time // when it was accepted
}

// StatusSource fills a Status with what the proxy knows now.
type StatusSource interface {
	Status(st *Status)
}

// Status is a snapshot of the proxy and one of its pools, in protocol
// neutral terms.
type Status struct {
	Version          string    // the proxy's
	PID              int       // the process's
	Start            time.Time // when the process started
	TotalConnections int64     // every connection the process opened
	CurrConnections  int64     // its open connections: listeners, clients, servers
	Pool             string    // the pool's name
	Clients          int64     // the pool's client connections
	DB               int       // the database of the pool's servers (redis_db)
	Servers          []ServerStatus
}

// ServerStatus is one server of a pool, in the pool's order.
type ServerStatus struct {
	Name        string // its name in logs and stats
	Addr        string
	Ejected     bool  // out of the ring (auto_eject_hosts)
	Connections int64 // open connections to it
	Requests    int64 // requests sent to it
	Errors      int64 // connections it closed, failed or timed out
}

// AppendFields appends the server as the documents of every protocol
// show it: "name=...,addr=...,state=up|ejected,connections=...,
// requests=...,errors=...".
func (s *ServerStatus) AppendFields(dst []byte) []byte {
	state := "up"
	if s.Ejected {
		state = "ejected"
	}
	dst = append(append(append(append(dst, "name="...), s.Name...), ",addr="...), s.Addr...)
	dst = append(append(dst, ",state="...), state...)
	dst = strconv.AppendInt(append(dst, ",connections="...), s.Connections, 10)
	dst = strconv.AppendInt(append(dst, ",requests="...), s.Requests, 10)
	return strconv.AppendInt(append(dst, ",errors="...), s.Errors, 10)
}

// Router is the pool's placement of keys, as the proxy routes them.
type Router interface {
	// ServerOf returns the index of the server key routes to, or -1 when
	// no server is live.
	ServerOf(key []byte) int
	// NumServers returns how many servers the pool has, live or not.
	NumServers() int
}

// Client is one client connection's protocol state, owned by its reader.
type Client interface {
	// Parse returns the length of the complete request at the start of
	// buf, 0 when more bytes are needed, or an error when the request
	// framing is lost (the client then gets AppendFramingError and is
	// closed). It resumes like the parsers of packages resp and mc: the
	// next call gets the same frame start with more bytes appended,
	// until a frame is complete; the call after that starts a new one.
	Parse(buf []byte) (int, error)
	// Decode fills m for the request frame Parse has just framed, and
	// says what the proxy does with it.
	Decode(frame []byte, m *Msg, s *Settings) Action
	// Encode sets the Wire of a request Decode forwarded: m's own when
	// it goes whole to one server, else each fragment's, once the proxy
	// has given every key its fragment (Msg.KeyFrag).
	Encode(m *Msg, frame []byte)
	// Session returns what the connection has set up for itself, which
	// Resume restores in a client handed over by another process.
	Session() Session
	Resume(Session)
	// InTransaction reports whether the connection has state on a server
	// or in the protocol that another process could not take over (a
	// Redis MULTI or WATCH): such a client is closed, not handed over.
	InTransaction() bool
	// Release lets go of scratch memory while the client is idle.
	Release()
}

// Session is what a client connection has set up for itself that a
// handover to another process carries.
type Session struct {
	Authed  bool   // it passed AUTH
	Dialect uint8  // the dialect it speaks (Msg.Dialect)
	Name    string // its name (Redis CLIENT SETNAME)
}

// Action is what the proxy does with a decoded request.
type Action uint8

const (
	// Answer: Msg.Local is the reply (empty: the client gets none, as
	// after QUIT); nothing goes to a server. With Msg.Closes set the
	// connection closes after it and nothing more is read.
	Answer Action = iota
	// Skip: nothing to send and nothing to answer.
	Skip
	// Forward: to the server of Msg.Key.
	Forward
	// ForwardAny: to any live server (a command without a key).
	ForwardAny
	// Split: every Msg.Step-th of Msg.Keys is routed; each server gets
	// one fragment with its keys in request order, and the client one
	// merged reply. Keys all on one server make the request go whole.
	Split
	// ForwardTo: to the server whose index is Msg.Target.
	ForwardTo
	// FanOut: the request whole to every live server, one fragment
	// each, in the order of the pool's servers; the client gets Merge's
	// reply.
	FanOut
)

// Pin ties a client's requests to a server connection of its own, for
// a protocol's state that lives on the connection (a Redis transaction):
// no other client's request goes on it while the client holds it.
type Pin uint8

const (
	// PinNone: the request goes the usual way.
	PinNone Pin = iota
	// PinOpen: the client takes a connection of its own to the server
	// the request routes to (Forward or ForwardTo) and sends it there;
	// its PinUse and PinClose requests follow on that connection.
	PinOpen
	// PinUse: on the client's own connection, whatever the Action says.
	PinUse
	// PinClose: on the client's own connection, which it then gives
	// back for other clients' transactions.
	PinClose
	// PinDrop: the client's own connection, if any, is closed (its state
	// on the server is unknown); the request is then handled as Action
	// says, without a pin.
	PinDrop
)

// Request is one request on its way to a server, and its reply back. The
// server connection owns it from Send until it tells Owner.
type Request struct {
	Wire  []byte // what is sent
	Reply []byte // the reply, as the server sent it
	// Marks are spans of Reply the Framer recorded for the protocol's
	// Merge (the elements of an MGET reply, the VALUE blocks of a
	// memcached get), when Hint asked for them; else empty.
	Marks []int32
	// Preamble is the length of the replies at the start of Reply to
	// requests the protocol sent before Wire's own (MULTI, ASKING), set
	// by the Framer: the request's own reply comes after them.
	Preamble int
	Err      error // instead of Reply: why the request failed
	Owner    Owner // told when Reply or Err is set; nil: the reply is dropped
	// NoReply requests get no reply from the server (memcached noreply):
	// they are done once written.
	NoReply bool
	// Hint is what the protocol's Framer needs to know about the request
	// to frame its reply; its meaning is the protocol's.
	Hint uint8

	SentAt time.Time // set by the server connection when it writes Wire
	// DoneAt is when the reply was read; zero for a failed request.
	DoneAt time.Time
}

// maxKeptMarks bounds the marks buffer a framer keeps between replies.
const maxKeptMarks = 64 << 10

// SwapMarks gives r the marks a framer recorded for its reply (none when
// ok is false) and returns the buffer for the framer's next reply: r's
// old one, emptied, or the framer's own when r takes none; a buffer grown
// past 64K marks is dropped.
func (r *Request) SwapMarks(marks []int32, ok bool) []int32 {
	r.Marks = r.Marks[:0]
	if ok {
		marks, r.Marks = r.Marks, marks
	}
	if cap(marks) > maxKeptMarks {
		return nil
	}
	return marks[:0]
}

// Owner is told when its request has a reply or an error.
type Owner interface {
	Complete(r *Request)
}

// BatchOwner is an Owner that can leave the rest of Complete to a Batch:
// a server connection handing over the replies of one read completes
// each with CompleteIn, then runs the batch once.
type BatchOwner interface {
	Owner
	CompleteIn(r *Request, b *Batch)
}

// A Batch holds what owners left to be done once a server connection has
// handed over every whole reply of one read: a client with several
// replies in the read is woken once, when all of them are in.
type Batch struct {
	waiting []Waker
}

// Waker is what an owner leaves in a Batch.
type Waker interface {
	Wake()
}

// Add leaves w to be woken when the batch runs.
func (b *Batch) Add(w Waker) { b.waiting = append(b.waiting, w) }

// Run wakes what was left, in the order it was left, and empties b.
func (b *Batch) Run() {
	for i, w := range b.waiting {
		b.waiting[i] = nil
		w.Wake()
	}
	b.waiting = b.waiting[:0]
}

// Framer frames the replies of one server connection, in order. It is
// stateful, so that a reply arriving in pieces is scanned once; a new
// connection gets a new one.
type Framer interface {
	// Frame returns the length of the complete reply to r at the start
	// of buf, or 0 when more bytes are needed; the next call then gets
	// the same start with more bytes. An error means the connection is
	// out of step. Once it returns n > 0 the framer has set r.Marks, if
	// r asked for them; the next call is for the next reply.
	Frame(r *Request, buf []byte) (int, error)
}

// Msg is one client request as a protocol decodes it and the proxy
// routes it.
type Msg struct {
	// Request is what goes to the server when the request is sent whole.
	Request
	// Local is a reply the proxy makes itself (Answer), or the error
	// the request got instead of being forwarded. For FanOut it may hold
	// the protocol's own part of the reply, for Merge.
	Local []byte
	// Closes closes the client connection after this reply.
	Closes bool
	// Silent requests are handled, but their reply is not written (Redis
	// CLIENT REPLY OFF and SKIP; a memcached flush_all noreply, which the
	// servers are asked to answer).
	Silent bool
	// Pin is how the request uses the client's own server connection.
	Pin Pin
	// Target is the server index of ForwardTo.
	Target int
	// Dialect is what the server connections of the request (and of its
	// fragments) must speak, below NumDialects.
	Dialect uint8
	// Aux is the protocol's, from Decode to Encode, Reply and Merge.
	Aux int64
	// Op is the protocol's own code for the request's command, for
	// Encode, Reply and Merge.
	Op uint16
	// Key is what Forward routes by.
	Key []byte
	// Keys and Step are what Split routes by: Keys[0], Keys[Step], ...
	Keys [][]byte
	Step int

	// Frags are a split request's fragments, one per server; KeyFrag
	// gives each routed key, in request order, its fragment.
	Frags   []*Frag
	KeyFrag []uint32
}

// KeyRun returns the fragment of routed key k, and the end of the run of
// keys from k that go to the same fragment: keys next to each other in
// the request and on one server are encoded, and their replies merged,
// as one run.
func (m *Msg) KeyRun(k int) (frag uint32, end int) {
	frag, end = m.KeyFrag[k], k+1
	for end < len(m.KeyFrag) && m.KeyFrag[end] == frag {
		end++
	}
	return frag, end
}

// NumKeys returns how many keys Split routes.
func (m *Msg) NumKeys() int { return (len(m.Keys) + m.Step - 1) / m.Step }

// Frag is the part of a split request that goes to one server.
type Frag struct {
	Request
	Server string // the server's name, for errors
	NKeys  int    // how many of the request's keys it carries

	// Scratch of the protocol's Encode and Merge, kept with the fragment
	// so that recycled messages allocate nothing: where its keys are in
	// Wire, spans of a reply the Framer did not mark, two cursors.
	Spans  []int32
	Elems  [][]byte
	KeyAt  int
	ElemAt int
}
