package proxy

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// A client connection's life is a small state machine; every transition
// is a method in this file:
//
//	(accepted, adopted) -> reading or parked   begin
//	reading -> parked      park: idle (the sweeper asked), every reply written
//	parked -> reading      resume: its socket is readable, HandOver, Close
//	reading -> leaving     stopLeaving: HandOver or Drain, at a request boundary
//	leaving -> handedOver  handingOver: every reply written, the socket goes
//	reading, leaving -> closed
//	                       end: EOF, an error, QUIT, a framing error, Close,
//	                       a Drain, or a handover that failed
//
// While reading, the reader parses and forwards requests and the writer
// sends the replies in order; the reader stops (at a request boundary)
// when the client sends EOF, breaks the framing, QUITs, is asked to park
// by the sweeper, or is asked to leave. It records why (stop) and closes
// the queue; the writer, once every reply owed is written, acts on it:
// park, hand over, or close. So a transition out of reading always runs
// on the writer, with the reader ended and nothing owed.
//
// c.mu guards state and the leave request against the goroutines outside
// the client that act on it (the parker's wake, HandOver, Close): it is
// taken only at transitions, never on the request path.
type clientState uint8

const (
	stateReading    clientState = iota // reader and writer run
	stateParked                        // no goroutine; the socket waits in the parker
	stateLeaving                       // the reader stopped to leave: the writer sends what is owed
	stateHandedOver                    // the socket went to another process (or is going)
	stateClosed                        // the connection is closed
)

// stopReason is why a reader stopped, for the writer to act on.
type stopReason uint8

const (
	stopClose stopReason = iota // EOF, an error, QUIT, a framing error, Close
	stopPark                    // idle: the sweeper asked it to park
	stopLeave                   // HandOver or Drain asked it to leave
)

// maxPipeline bounds the requests a client may have waiting for replies;
// past it the reader stops reading until the writer catches up.
const maxPipeline = 256

// flushSize is how much reply data the writer gathers before writing even
// though more replies are ready.
const flushSize = 64 << 10

// client is one client connection.
type client struct {
	p    *Proxy
	ps   *poolServer
	conn net.Conn
	// tlsSock is the TCP socket under conn, a *tls.Conn, for a TLS
	// client; nil for a plaintext one.
	tlsSock *tlsSocket
	raw     syscall.RawConn // of the socket; nil when it has no descriptor: never parked
	fd      int             // conn's descriptor, -1 if none: for CLIENT LIST
	since   time.Time       // accepted (or adopted)

	queue requests // in arrival order, read by the writer
	// writing: a writer runs, a writer goroutine (writeLoop) or a server
	// connection's reader (writeReplies inline, Wake); w is its state.
	writing     atomic.Bool
	w           *writer
	startWriter func() // runs writeLoop, tracked as Proxy.spawn does: made once
	// inBatch: a backend reader's batch holds the client, to wake it once
	// the replies of its read are all in (msg.CompleteIn, client.Wake).
	inBatch atomic.Bool

	proto    proto.Protocol
	affinity uint32       // picks this client's connection to each server
	pending  atomic.Int64 // requests queued and not yet answered
	// settling: the reader waits in settle; settled tells it pending
	// fell to 0.
	settling atomic.Bool
	settled  chan struct{}
	reads    atomic.Uint32

	mu    sync.Mutex
	state atomic.Uint32 // a clientState; written under mu
	ho    *handover     // under mu: the handover (or drain) it is to leave for
	// abandoned tells the writer to stop waiting for replies and close
	// (HandOver's grace is over).
	abandoned atomic.Bool
	parkFD    int32 // a TLS client's socket descriptor while parked whole; under mu
	// Parking right after a burst (see parkSoon). eager: the client parks
	// as soon as its replies are written and it sent nothing more;
	// soonAsked: the writer asked that of the reader; parkedSoon and
	// parkedAt (under mu): the last park was one of those, and when.
	eager      atomic.Bool
	soonAsked  atomic.Bool
	parkedSoon bool
	parkedAt   time.Time

	// Handed from the reader to the writer through the queue's close:
	// why the reader stopped, and for a handover the bytes read and not
	// parsed (set by Adopt before the first reader, too) and what the
	// client set up for itself.
	stop     stopReason
	unparsed []byte
	session  proto.Session
	// inTransaction: the client left inside a transaction, whose state
	// another process cannot take: it is closed, not handed over.
	inTransaction bool

	// Owned by the reader goroutine.
	in     *connReader  // while it runs
	st     *poolState   // the pool state its requests use (see follow)
	h      proto.Client // the protocol's state of this client: parser, AUTH
	out    outbox       // dispatched from the read being parsed, not handed on yet
	fragOf []int32      // scratch: server index -> fragment index
	// fragOfSlot is a cluster pool's scratch: slot -> fragment index.
	fragOfSlot map[uint32]int32
	// pin is the client's own connection to pinServer, for a protocol's
	// state on the connection (a Redis transaction): see proto.Pin.
	pin        *backend.Conn
	pinServer  *pool.Server
	pinDialect uint8 // what pin speaks (proto.Msg.Dialect)
	onPin      bool  // the last request sent went on pin
	// sentDialect is the dialect of the last request sent (Msg.Dialect).
	sentDialect uint8
	readAt      time.Time // when the last read returned, if slow requests are logged

	seenReads uint32 // owned by the sweeper: reads at its last look
}

var clientSeq atomic.Uint32 // numbers clients, for their affinity

func newClient(ps *poolServer, conn net.Conn, sock *tlsSocket) *client {
	c := &client{
		p:        ps.proxy,
		ps:       ps,
		conn:     conn,
		tlsSock:  sock,
		proto:    ps.proto,
		affinity: clientSeq.Add(1),
	}
	c.fd, c.since = -1, time.Now()
	c.startWriter = func() {
		defer c.p.goroutines.Done()
		c.writeLoop()
	}
	if sc, ok := c.socket().(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
		if c.raw != nil {
			c.raw.Control(func(fd uintptr) { c.fd = int(fd) })
		}
	}
	return c
}

// protocolState returns the protocol's state of the client, made when it
// first reads (or is adopted): a connection opened and never used costs
// none.
func (c *client) protocolState() proto.Client {
	if c.h == nil {
		c.h = c.proto.NewClient(&c.ps.state.Load().settings)
	}
	if c.fragOf == nil { // a woken client's protocol state is its own from before
		c.fragOf = make([]int32, len(c.ps.state.Load().pool.Servers))
		for i := range c.fragOf {
			c.fragOf[i] = -1
		}
	}
	return c.h
}

// socket returns the client's socket: conn, or the TCP socket under a
// TLS client's conn.
func (c *client) socket() net.Conn {
	if c.tlsSock != nil {
		return c.tlsSock.Conn
	}
	return c.conn
}

func (c *client) getState() clientState { return clientState(c.state.Load()) }

func (c *client) setStateLocked(s clientState) { c.state.Store(uint32(s)) }

// begin starts a client just tracked (adopted, or accepted over TLS):
// parked when it has nothing to parse yet and can park, else reading. A
// TLS client reads first: its handshake may have read its first request
// (see tls.go).
func (c *client) begin() {
	if c.unparsed == nil && c.tlsSock == nil && c.parkAway(nil) {
		return
	}
	c.run()
}

// run starts the reader (reading); the writer starts when there is a
// reply to write. A TLS client's output is made first: the TLS connection
// writes through it (tlsSocket).
func (c *client) run() {
	if c.tlsSock != nil {
		c.writer()
	}
	c.p.spawn(c.readLoop)
}

// parkLocked parks a TLS client whole if it may: not leaving, the proxy
// open, the socket added to the parker. It reports whether it did.
func (c *client) parkLocked() bool {
	if c.p.parker == nil || c.ho != nil || c.p.isClosed() || !c.p.parkWhole(c) {
		return false
	}
	c.setStateLocked(stateParked)
	c.parkedSoon = c.soonAsked.Swap(false)
	if c.parkedSoon {
		c.parkedAt = time.Now()
	}
	return true
}

// park is the writer's, once the reader stopped to park and every reply
// is written: the client parks (true), or reads again (false) when it
// cannot (its replies are still being written, a handover began, the
// proxy closes).
func (c *client) park(o *output) bool {
	c.queue.reopen()
	c.h.Release() // before a resume can start a reader
	var parked bool
	if c.tlsSock == nil {
		parked = c.parkAway(o)
	} else {
		c.mu.Lock()
		parked = !o.busy() && c.parkLocked()
		c.mu.Unlock()
	}
	if !parked {
		c.p.spawn(c.readLoop)
	}
	return parked
}

// parkAway parks a plaintext client as a parkedConn (see park.go): from
// its writer, every reply written, or from begin, before it ran (o nil).
// Its socket is kept as a dup; the client struct ends here, with writing
// set so that no writer starts on it again, and its state closed. It
// reports false when the client is to read instead: replies are still
// being written, it is to leave, the proxy closes, it cannot be parked.
func (c *client) parkAway(o *output) bool {
	c.mu.Lock()
	if c.p.parker == nil || o != nil && o.busy() || c.ho != nil || c.p.isClosed() || c.raw == nil {
		c.mu.Unlock()
		return false
	}
	fd, err := -1, error(nil)
	if cerr := c.raw.Control(func(s uintptr) { fd, err = dupSocket(int(s)) }); cerr != nil || err != nil {
		c.mu.Unlock()
		return false
	}
	c.writing.Store(true)
	c.setStateLocked(stateClosed)
	c.mu.Unlock()
	pc := &parkedConn{fd: int32(fd), ps: c.ps, affinity: c.affinity, h: c.h, since: c.since.UnixNano()}
	if a, ok := c.conn.RemoteAddr().(*net.TCPAddr); ok {
		pc.remote = netip.AddrPortFrom(a.AddrPort().Addr().Unmap(), uint16(a.Port))
	}
	if c.soonAsked.Swap(false) {
		pc.parkedAt = time.Now().UnixNano()
	}
	c.conn.Close()
	c.p.sleep(pc, c)
	return true
}

// resume starts a parked client's goroutines again: its socket is
// readable, it is to leave, or the proxy closes.
func (c *client) resume() {
	c.mu.Lock()
	if c.getState() != stateParked {
		c.mu.Unlock()
		return
	}
	c.p.unparkWhole(c)
	c.setStateLocked(stateReading)
	// A client back soon after parking right after a burst is busy: it
	// parks again only once idle for a sweep.
	c.eager.Store(!c.parkedSoon || time.Since(c.parkedAt) >= parkSweep)
	c.mu.Unlock()
	c.run()
}

// parkSoon is the writer's, with every reply written and no request
// queued: an eager client is asked to park now rather than after a sweep
// of idleness, so that a burst of clients that each sent a request or two
// (a fleet of application servers after a deploy, a health check) holds
// no goroutine for long. A client that comes back within a sweep of such
// a park is busy, and is not eager again until it has idled a sweep: it
// cost one park more.
func (c *client) parkSoon(o *output) {
	if !c.eager.Load() || c.soonAsked.Load() || c.pending.Load() != 0 || c.getState() != stateReading || o.busy() {
		return
	}
	c.soonAsked.Store(true)
	c.conn.SetReadDeadline(aLongTimeAgo) // as the sweeper does: the reader parks if idle
}

// leave asks the client to leave for h (a handover or a drain): its
// reader stops at the next request boundary. The reader sees the passed
// deadline only as a read error, so the request path checks nothing.
func (c *client) leave(h *handover) {
	c.mu.Lock()
	if c.ho == nil {
		c.ho = h
	}
	c.mu.Unlock()
	c.conn.SetReadDeadline(aLongTimeAgo)
	c.resume()         // if parked: its reader sees the deadline at once
	if h.late.Load() { // a client adopted after the grace
		c.abandon(h.grace)
	}
}

// leaving returns the handover the client is to leave for, or nil.
func (c *client) leaving() *handover {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ho
}

// abandon makes the writer stop waiting for replies and close the
// client; writes to a client that does not read fail after grace.
func (c *client) abandon(grace time.Duration) {
	c.abandoned.Store(true)
	c.conn.SetWriteDeadline(time.Now().Add(grace))
	c.wakeWriter()
}

// stopLeaving is the reader's, stopping for a handover: the writer hands
// over once it has written every reply, with rest (the start of the next
// request).
func (c *client) stopLeaving(rest []byte) {
	c.stop = stopLeave
	if len(rest) > 0 {
		c.unparsed = append([]byte(nil), rest...)
	}
	c.session = c.h.Session()
	c.session.Authed = c.session.Authed && c.st.settings.Password != ""
	c.inTransaction = c.h.InTransaction()
	c.mu.Lock()
	c.setStateLocked(stateLeaving)
	c.mu.Unlock()
}

// shutdownRead ends the client's requests, for a removed pool: its reader
// sees end of file, its writer sends the replies still owed and closes. A
// socket being handed over is left alone: the other process has it too.
func (c *client) shutdownRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.getState() {
	case stateHandedOver, stateClosed:
		return
	}
	if rc, ok := c.socket().(interface{ CloseRead() error }); ok {
		rc.CloseRead() // parked: the parker wakes it, and it reads EOF
	} else {
		c.conn.Close()
	}
}

// breakSocket shuts the client's socket down both ways, to end its reader
// (which reads end of file) and writer: Close would wait for a reader
// inside its read call (see connReader), and the client's end closes it.
// A socket going to another process is left alone: the shutdown would end
// the connection there too.
func (c *client) breakSocket() {
	type halfCloser interface {
		CloseRead() error
		CloseWrite() error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.getState() == stateHandedOver {
		return
	}
	if s, ok := c.socket().(halfCloser); ok {
		s.CloseRead()
		s.CloseWrite()
		return
	}
	c.socket().Close()
}

// handingOver marks the client's socket as going to another process.
func (c *client) handingOver() {
	c.mu.Lock()
	c.setStateLocked(stateHandedOver)
	c.mu.Unlock()
}

// end closes the connection, from the writer, and forgets the client:
// gone for good, or handed over to another process (and then not counted
// as ended by the client).
func (c *client) end(handedOver bool) {
	c.mu.Lock()
	if !handedOver {
		c.setStateLocked(stateClosed)
	}
	c.mu.Unlock()
	c.conn.Close()
	c.p.untrack(c)
	verb := "closed"
	if handedOver {
		verb = "handed over"
	}
	logging.Noticef("%s client %s on pool %s", verb, c.conn.RemoteAddr(), c.ps.cfg().Name)
}

// answered counts n requests of pending out, from the writer: their
// replies are written (or dropped), and tells a reader waiting in settle.
func (c *client) answered(n int64) {
	if c.pending.Add(-n) == 0 && c.settling.Load() {
		select {
		case c.settled <- struct{}{}:
		default:
		}
	}
}

// settle waits, on the reader, until every request queued so far is
// answered. Requests that go on the client's own server connection (a
// transaction's) and those that go on the shared ones could otherwise
// reach one server out of order: a GET sent after EXEC read before it.
func (c *client) settle() {
	c.flushOut()
	if c.settled == nil { // made the first time: before settling tells answered of it
		c.settled = make(chan struct{}, 1)
	}
	c.settling.Store(true)
	for c.pending.Load() != 0 {
		<-c.settled
	}
	c.settling.Store(false)
	select { // a signal left from a wait that ended without it
	case <-c.settled:
	default:
	}
}

// closeQueue tells the writer no request follows.
func (c *client) closeQueue() {
	c.queue.close()
	c.wakeWriter()
}

// follow moves the client to its pool's current state after a reload,
// once none of its requests is still out on the old one (or waiting in
// the outbox to go there): requests sent before and after the switch
// could otherwise run out of order on the old and new connections to one
// server. A client holding a connection of its own (a transaction)
// follows once it gives it back.
func (c *client) follow() {
	cur := c.ps.state.Load()
	if cur == c.st || c.pending.Load() != 0 || len(c.out.msgs) > 0 || c.pin != nil {
		return // (a transaction ends on the servers it began with)
	}
	cur.users.add(1)
	c.st.users.add(-1)
	c.st = cur
	for len(c.fragOf) < len(cur.pool.Servers) {
		c.fragOf = append(c.fragOf, -1)
	}
}
