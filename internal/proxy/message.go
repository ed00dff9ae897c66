package proxy

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// msg is one client request on its way through the proxy: what its
// protocol decoded (proto.Msg), where it went, and whether it is done.
type msg struct {
	proto.Msg
	c     *client
	start time.Time // when its bytes were read; zero unless slow requests are logged
	// gen numbers the message's uses; it is done (has every reply, or
	// the proxy's own) when doneGen holds its gen. releaseMsg and resend
	// advance gen, so that no reset of done costs an atomic store.
	gen     uint64
	doneGen atomic.Uint64

	server  *pool.Server   // where it went whole
	servers []*pool.Server // where each fragment went, as Frags
	pending atomic.Int32   // fragments without their reply yet

	// A cluster pool's redirections of it so far, and the pauses they
	// cost (see resend).
	redirects int
	paused    time.Duration
}

var msgPool = sync.Pool{New: func() any {
	m := &msg{gen: 1}
	m.Owner = m
	return m
}}

// done reports whether m has its replies (or the proxy's own). A writer
// asks it of the message it owns; pauseWriter, which may look at one
// another writer took meanwhile, asks doneGen itself.
func (m *msg) done() bool { return m.doneGen.Load() == m.gen }

// markDone makes m done; whoever waits on m may recycle it from then on.
func (m *msg) markDone() { m.doneGen.Store(m.gen) }

func (c *client) newMsg() *msg {
	m := msgPool.Get().(*msg)
	m.c, m.start = c, c.readAt
	return m
}

// maxKeptBuffer is the largest buffer a recycled message keeps.
const maxKeptBuffer = 1 << 20

// releaseMsg recycles m, which nothing refers to any more: its reply is
// written and every fragment is back from its server.
func releaseMsg(m *msg) {
	for _, f := range m.Frags {
		resetFrag(f)
	}
	clear(m.servers)
	// Zeroed in place, then given back its buffers: a literal with them
	// is built on the stack and copied over m, and that copy's wide loads
	// wait on the narrow stores that built it.
	wire, reply, marks, local := keep(m.Wire), keep(m.Reply), m.Marks[:0], keep(m.Local)
	frags, keyFrag := m.Frags[:0], m.KeyFrag[:0]
	m.Msg = proto.Msg{}
	m.Wire, m.Reply, m.Marks, m.Owner = wire, reply, marks, m
	m.Local, m.Frags, m.KeyFrag = local, frags, keyFrag
	m.c, m.start, m.server, m.servers = nil, time.Time{}, nil, m.servers[:0]
	m.redirects, m.paused = 0, 0
	// Not done, for its next use; and pending is stored only when a split
	// request left it non-zero.
	m.gen++
	if m.pending.Load() != 0 {
		m.pending.Store(0)
	}
	msgPool.Put(m)
}

// resetFrag empties a fragment for reuse, keeping its buffers.
func resetFrag(f *proto.Frag) {
	clear(f.Elems)
	wire, reply, marks, spans, elems := keep(f.Wire), keep(f.Reply), f.Marks[:0], f.Spans[:0], f.Elems[:0]
	*f = proto.Frag{} // in place, then the buffers: see releaseMsg
	f.Wire, f.Reply, f.Marks, f.Spans, f.Elems = wire, reply, marks, spans, elems
}

func keep(b []byte) []byte {
	if cap(b) > maxKeptBuffer {
		return nil
	}
	return b[:0]
}

// Complete is called by a server connection when the request, or one of
// its fragments, has its reply or error.
func (m *msg) Complete(r *proto.Request) {
	if r != &m.Request && m.pending.Add(-1) != 0 {
		return // a fragment, and not the last
	}
	m.finish()
}

// CompleteIn is Complete for a server connection handing over the
// replies of one read (proto.BatchOwner): the client's writer is woken
// once they are all in, and then writes them itself (client.Wake).
func (m *msg) CompleteIn(r *proto.Request, b *proto.Batch) {
	if r != &m.Request && m.pending.Add(-1) != 0 {
		return
	}
	c := m.c
	m.markDone() // m is not touched after this (finish)
	if !c.inBatch.Load() && c.inBatch.CompareAndSwap(false, true) {
		b.Add(c)
	}
}

// finish marks m done and wakes its client's writer. The writer may
// recycle m as soon as done is set, so m is not touched after that.
func (m *msg) finish() {
	c := m.c
	m.markDone()
	c.wakeWriter()
}

// dispatch handles the request frame the client's protocol has just
// parsed: answered here, or routed and sent. It reports true when the
// client must not be read any more (QUIT).
func (c *client) dispatch(frame []byte) bool {
	m := c.newMsg()
	st := c.st
	act := c.h.Decode(frame, &m.Msg, &st.settings)
	if m.Pin != proto.PinNone || c.onPin || m.Dialect != c.sentDialect {
		c.pinStep(m, act)
	}
	switch act {
	case proto.Skip:
		releaseMsg(m)
		return false
	case proto.Answer:
		closes := m.Closes // before m is the writer's
		c.answer(m)
		return closes
	case proto.Forward:
		c.forward(m, st.pool.Route(m.Key), frame)
	case proto.ForwardAny:
		c.forward(m, st.pool.Any(), frame)
	case proto.ForwardTo:
		var s *pool.Server
		if m.Target >= 0 && m.Target < len(st.pool.Servers) {
			s = st.pool.Servers[m.Target]
		}
		c.forward(m, s, frame)
	case proto.Split:
		c.split(m, frame)
	case proto.FanOut:
		c.fanOut(m, frame)
	}
	return false
}

// pinStep does what m's Pin asks before m is handled: PinDrop closes the
// client's own server connection; a request that moves between the
// shared server connections and the client's own, to a new one of its
// own, or to the connections of another dialect (after HELLO 3 or 2)
// waits until what went before is answered, or the two could reach one
// server out of order.
func (c *client) pinStep(m *msg, act proto.Action) {
	if m.Pin == proto.PinDrop {
		c.dropPin()
		m.Pin = proto.PinNone
	}
	onPin := m.Pin != proto.PinNone
	moves := onPin != c.onPin || m.Dialect != c.sentDialect || m.Pin == proto.PinOpen
	if moves && act != proto.Answer && act != proto.Skip {
		c.settle()
		c.onPin, c.sentDialect = onPin, m.Dialect
	}
}

// answer queues a request answered by the proxy (m.Local).
func (c *client) answer(m *msg) {
	m.markDone()
	c.enqueue(m)
}

// refuse answers m with the protocol's error saying text, instead of
// whatever the protocol put in m.Local for its reply.
func (c *client) refuse(m *msg, text string) {
	m.Local = c.proto.AppendError(m.Local[:0], text)
	c.answer(m)
}

// forward sends m whole to s.
func (c *client) forward(m *msg, s *pool.Server, frame []byte) {
	if m.Pin != proto.PinNone {
		c.forwardPinned(m, s, frame)
		return
	}
	if s == nil {
		c.refuse(m, errRefused)
		return
	}
	m.server = s
	c.h.Encode(&m.Msg, frame)
	c.enqueue(m)
	c.send(s.Conn(c.affinity, m.Dialect), &m.Request)
}

// forwardPinned sends m on the client's own connection to a server (see
// proto.Pin), which PinOpen takes from s.
func (c *client) forwardPinned(m *msg, s *pool.Server, frame []byte) {
	switch m.Pin {
	case proto.PinOpen:
		c.dropPin()
		if s == nil {
			c.refuse(m, errRefused)
			return
		}
		c.pin, c.pinServer, c.pinDialect = s.Pin(m.Dialect), s, m.Dialect
	}
	if c.pin == nil { // its opening failed: the protocol's state is void
		c.refuse(m, errRefused)
		return
	}
	m.server = c.pinServer
	c.h.Encode(&m.Msg, frame)
	last := m.Pin == proto.PinClose // before m is the writer's
	c.enqueue(m)
	c.flushOut() // queued first, and what went before sent first
	c.pin.Send(&m.Request)
	if last {
		c.pinServer.Unpin(c.pin, c.pinDialect)
		c.pin, c.pinServer = nil, nil
	}
}

// dropPin closes the client's own server connection, if it has one:
// whatever the protocol left open on it ends with it.
func (c *client) dropPin() {
	if c.pin != nil {
		c.pinServer.ClosePin(c.pin)
		c.pin, c.pinServer = nil, nil
	}
}

// errRefused answers a request for a pool without a live server.
const errRefused = "Connection refused"

// split sends a multi-key request as one fragment per server, each with
// that server's keys in request order; keys all on one server make it go
// whole.
func (c *client) split(m *msg, frame []byte) {
	assign := c.assignFrags
	if c.st.pool.IsCluster() {
		assign = c.assignSlotFrags
	}
	if !assign(m) {
		c.refuse(m, errRefused)
		return
	}
	if len(m.Frags) == 1 {
		s := m.servers[0]
		resetFrag(m.Frags[0])
		m.Frags, m.KeyFrag, m.servers = m.Frags[:0], m.KeyFrag[:0], m.servers[:0]
		c.forward(m, s, frame)
		return
	}
	c.h.Encode(&m.Msg, frame)
	m.pending.Store(int32(len(m.Frags)))
	c.st.pool.Stats.Fragments.Add(int64(len(m.Frags)))
	c.enqueue(m)
	for i, f := range m.Frags {
		c.send(m.servers[i].Conn(c.affinity, m.Dialect), &f.Request)
	}
}

// fanOut sends m whole to every live server, one fragment each; the
// client gets the protocol's Merge of their replies.
func (c *client) fanOut(m *msg, frame []byte) {
	live := c.st.pool.LiveServers()
	if len(live) == 0 {
		c.refuse(m, errRefused)
		return
	}
	c.h.Encode(&m.Msg, frame) // m.Wire: the request whole
	for _, s := range live {
		f := m.Frags[c.addFrag(m, s)]
		f.Wire = append(f.Wire[:0], m.Wire...)
		f.Hint = m.Hint
		c.fragOf[s.Index()] = -1
	}
	m.pending.Store(int32(len(m.Frags)))
	c.st.pool.Stats.Fragments.Add(int64(len(m.Frags)))
	c.enqueue(m)
	for i, f := range m.Frags {
		c.send(m.servers[i].Conn(c.affinity, m.Dialect), &f.Request)
	}
}

// assignFrags routes the keys of split request m and gives it a fragment
// per server: m.KeyFrag[k] is the fragment of its k-th key, and each
// fragment's NKeys is counted. It reports false, adding no fragment, when
// no server is live.
func (c *client) assignFrags(m *msg) bool {
	pl := c.st.pool
	for len(c.fragOf) < len(pl.Servers) { // a reload may add servers
		c.fragOf = append(c.fragOf, -1)
	}
	n := m.NumKeys()
	kf := slices.Grow(m.KeyFrag[:0], n)[:n]
	if !pl.RouteKeys(kf, m.Keys, m.Step) {
		m.KeyFrag = kf[:0]
		return false
	}
	m.KeyFrag = kf
	// kf holds each key's server; it becomes each key's fragment.
	fragOf := c.fragOf
	for k, si := range kf {
		fi := fragOf[si]
		if fi < 0 {
			fi = c.addFrag(m, pl.Servers[si])
		}
		kf[k] = uint32(fi)
	}
	for _, s := range m.servers {
		fragOf[s.Index()] = -1
	}
	for _, fi := range kf {
		m.Frags[fi].NKeys++
	}
	return true
}

// addFrag adds to split request m a fragment for server s and returns its
// index. Fragments of earlier requests kept in m.Frags are reused.
func (c *client) addFrag(m *msg, s *pool.Server) int32 {
	fi := int32(len(m.Frags))
	m.Frags = slices.Grow(m.Frags, 1)[:fi+1]
	f := m.Frags[fi]
	if f == nil {
		f = &proto.Frag{}
		m.Frags[fi] = f
	}
	f.Owner, f.Server = m, s.Name()
	m.servers = append(m.servers, s)
	c.fragOf[s.Index()] = fi
	return fi
}
