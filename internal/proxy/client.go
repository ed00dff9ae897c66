package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// maxPipeline bounds the requests a client may have waiting for replies;
// past it the reader stops reading until the writer catches up.
const maxPipeline = 256

// flushSize is how much reply data the writer gathers before writing even
// though more replies are ready.
const flushSize = 64 << 10

// client is one client connection.
type client struct {
	ps   *poolServer
	conn net.Conn
	raw  syscall.RawConn // nil when conn has no descriptor: never parked

	queue  requests      // in arrival order, read by the writer
	notify chan struct{} // cap 1: a request was queued or completed, or the queue closed

	proto    proto.Protocol
	affinity uint32       // picks this client's connection to each server
	pending  atomic.Int64 // requests queued and not yet answered

	// Handover (see HandOver): ho is set when the client is to be handed
	// over, abandoned when it is to be closed instead, without waiting
	// for the replies still owed.
	ho        atomic.Pointer[handover]
	abandoned atomic.Bool
	// unparsed holds the bytes read and not parsed while the client moves
	// between processes: set by Adopt before the reader starts, and by
	// the reader when it stops for a handover (with leaving and
	// authPassed), for the writer to read once the queue is closed.
	unparsed   []byte
	leaving    bool
	authPassed bool
	handedOver bool // owned by the writer: the handover succeeded
	shared     bool // under Proxy.mu: being handed over, so never shut down

	// Parking (see parker). parking is set by the reader when it stops to
	// park, for the writer to read once the queue is closed; reads counts
	// the reader's reads, for the sweeper. The others are under Proxy.mu.
	parking   bool
	reads     atomic.Uint32
	parked    bool
	parkFD    int32 // the socket's descriptor, while parked
	seenReads uint32

	// Owned by the reader goroutine.
	st     *poolState   // the pool state its requests use (see follow)
	h      proto.Client // the protocol's state of this client: parser, AUTH
	fragOf []int32      // scratch: server index -> fragment index
	readAt time.Time    // when the last read returned, if slow requests are logged
}

var clientCount atomic.Uint32

func newClient(ps *poolServer, conn net.Conn) *client {
	c := &client{
		ps:       ps,
		conn:     conn,
		queue:    requests{room: make(chan struct{}, 1)},
		notify:   make(chan struct{}, 1),
		proto:    ps.proto,
		affinity: clientCount.Add(1),
	}
	if sc, ok := conn.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	st := ps.state.Load()
	c.h = c.proto.NewClient(&st.settings)
	c.fragOf = make([]int32, len(st.pool.Servers))
	for i := range c.fragOf {
		c.fragOf[i] = -1
	}
	return c
}

// dropScratch lets go of the reader's scratch memory while parked.
func (c *client) dropScratch() { c.h.Release() }

// enqueue hands m to the writer, in request order. The writer is woken
// only for a reply already made: for a forwarded request the wake-up
// comes with the reply (finish), so a request costs the writer one
// wake-up, not two.
func (c *client) enqueue(m *msg) {
	m.Key, m.Keys = nil, nil // the reader's bytes: not kept past dispatch
	done := m.done.Load()    // before m is the writer's, which may recycle it
	c.pending.Add(1)
	c.queue.push(m)
	if done {
		c.wakeWriter()
	}
}

// wakeWriter tells the writer something changed; it re-checks.
func (c *client) wakeWriter() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// closeQueue tells the writer no request follows.
func (c *client) closeQueue() {
	c.queue.close()
	c.wakeWriter()
}

// follow moves the client to its pool's current state after a reload,
// once none of its requests is still out on the old one: requests sent
// before and after the switch could otherwise run out of order on the
// old and new connections to one server.
func (c *client) follow() {
	cur := c.ps.state.Load()
	if cur == c.st || c.pending.Load() != 0 {
		return
	}
	cur.users.Add(1)
	c.st.users.Add(-1)
	c.st = cur
	for len(c.fragOf) < len(cur.pool.Servers) {
		c.fragOf = append(c.fragOf, -1)
	}
}

func (c *client) start() {
	go c.readLoop()
	go c.writeLoop()
}

// readLoop parses requests and forwards them until EOF, an error or QUIT,
// or until the client parks.
func (c *client) readLoop() {
	defer c.ps.proxy.wg.Done()
	// Closing the queue lets the writer park the client and a new reader
	// start: the last thing this one does.
	defer c.closeQueue()
	c.st = c.ps.state.Load() // no request is out: the current state
	c.st.users.Add(1)
	defer func() { c.st.users.Add(-1) }()
	size := c.ps.proxy.opts.MbufSize
	r := newConnReader(c.conn, &c.ps.proxy.readBufs, size)
	defer r.release()
	// buf is nil while waiting idle; an adopted client's first bytes are
	// parsed before anything is read (primed).
	buf, primed := c.unparsed, c.unparsed != nil
	c.unparsed = nil
	start := 0 // first byte of the request being parsed
	for {
		if buf != nil && len(buf) == cap(buf) {
			if start > 0 {
				n := copy(buf, buf[start:])
				buf, start = buf[:n], 0
			} else {
				buf = r.grow(buf)
			}
		}
		var err error
		if primed {
			primed = false
		} else {
			buf, err = r.read(buf)
			c.reads.Add(1)
		}
		if c.st.cfg.SlowReqDuration > 0 {
			c.readAt = time.Now() // once per read, for every request in it
		}
		for start < len(buf) {
			n, perr := c.h.Parse(buf[start:])
			if perr != nil {
				m := c.newMsg()
				m.Local = c.proto.AppendFramingError(m.Local, perr)
				c.ps.pool().Stats.ClientErr.Add(1)
				m.Closes = true
				c.answer(m)
				return
			}
			if n == 0 {
				break
			}
			c.follow()
			stop := c.dispatch(buf[start : start+n])
			start += n
			if stop {
				return
			}
		}
		if start == len(buf) { // everything parsed; r.read lets go of buf while idle
			start, buf = 0, buf[:0]
		}
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded) && c.ho.Load() != nil:
				c.stopForHandOver(buf[start:])
			case errors.Is(err, os.ErrDeadlineExceeded): // the sweeper asks to park
				c.conn.SetReadDeadline(time.Time{})
				if c.ho.Load() != nil { // a handover came meanwhile
					c.stopForHandOver(buf[start:])
				} else if start < len(buf) || c.pending.Load() != 0 {
					continue // not idle after all
				} else {
					c.parking = true
				}
			case errors.Is(err, io.EOF):
				c.ps.pool().Stats.ClientEOF.Add(1)
			case !errors.Is(err, net.ErrClosed): // not our own close
				c.ps.pool().Stats.ClientErr.Add(1)
			}
			return
		}
	}
}

// writeLoop encodes replies in request order and hands them to the
// client's output whenever the next reply is not ready yet, then closes
// the connection once everything is written.
func (c *client) writeLoop() {
	defer c.ps.proxy.wg.Done()
	parked := false
	defer func() {
		if !parked {
			c.conn.Close()
			c.ps.proxy.untrack(c)
		}
	}()
	o := newOutput(c.conn, c.ps.proxy.opts.OutputLimit)
	var out []byte
	failed := false
	send := func(b []byte) (owned bool) {
		if failed {
			return false
		}
		owned, err := o.send(b)
		if err != nil {
			failed = true
			c.conn.Close() // unblocks the reader
		}
		return owned
	}
	flush := func() {
		if send(out) || cap(out) > maxKeptBuffer {
			out = nil
		} else {
			out = out[:0]
		}
	}
	for {
		m, ok, closed := c.queue.pop()
		if !ok && !closed {
			flush() // nothing else is ready: the client gets what is done
			<-c.notify
			continue
		}
		if !ok {
			flush()
			if c.parking && !failed {
				c.parking = false
				if parked = c.park(o); parked {
					return
				}
				continue // the reader runs again
			}
			if o.wait() == nil && !failed && c.leaving && !c.abandoned.Load() {
				c.handOff()
			}
			return
		}
		if failed {
			c.pending.Add(-1)
			if m.done.Load() {
				releaseMsg(m)
			} // else a backend still owns it: leave it to the GC
			continue
		}
		abandoned := false
		for !m.done.Load() {
			if abandoned = c.abandoned.Load(); abandoned {
				break
			}
			flush()
			<-c.notify
		}
		c.pending.Add(-1) // answered (or abandoned): no longer waited for
		if abandoned {
			// Closing during a handover: the reply will not come in time.
			// A backend still owns m: leave it to the GC.
			if !m.NoReply {
				out = c.proto.AppendError(out, errHandOverTimeout)
			}
			continue
		}
		if reply := c.forwardedReply(m); len(reply) >= backend.DirectWriteSize {
			// A large value goes out from the buffer it was read into.
			flush()
			if send(reply) {
				m.Reply = nil
			}
		} else if reply != nil {
			out = append(out, reply...)
		} else {
			out = c.appendReply(out, m)
		}
		if !m.start.IsZero() {
			c.checkSlow(m)
		}
		closes := m.Closes
		releaseMsg(m)
		if len(out) >= flushSize || closes {
			flush()
		}
		if closes {
			o.wait()
			failed = true // discard whatever the reader queued meanwhile
			c.conn.Close()
		}
	}
}

// checkSlow logs m if it took slow_req_duration or longer, from the read
// that brought it to its (last) reply or failure.
func (c *client) checkSlow(m *msg) {
	r, server := &m.Request, m.server
	if len(m.Frags) > 0 { // the fragment that ended last (or failed) decides
		r, server = &m.Frags[0].Request, m.servers[0]
		for i, f := range m.Frags[1:] {
			if f.DoneAt.IsZero() || !r.DoneAt.IsZero() && f.DoneAt.After(r.DoneAt) {
				r, server = &f.Request, m.servers[i+1]
			}
		}
	}
	if server == nil {
		return // answered by the proxy
	}
	done := r.DoneAt
	if done.IsZero() {
		done = time.Now() // failed: timed out, refused, ...
	}
	d := done.Sub(m.start)
	if d < c.ps.cfg().SlowReqDuration {
		return
	}
	c.ps.pool().Stats.SlowRequests.Add(1)
	cmd, key := c.proto.Describe(r.Wire)
	if len(key) > maxKeyInLog {
		key = key[:maxKeyInLog]
	}
	logging.Warnf("slow request on pool %s: %s key %q from client %s to server %s took %d ms",
		c.ps.cfg().Name, cmd, key, c.conn.RemoteAddr(), server.Name(), d.Milliseconds())
}

// maxKeyInLog truncates keys in the slow request log.
const maxKeyInLog = 64

// forwardedReply returns the reply to m, a request forwarded whole that
// has its reply, as its client gets it; nil for any other request.
func (c *client) forwardedReply(m *msg) []byte {
	if m.server == nil || m.Err != nil || m.NoReply || len(m.Local) > 0 {
		return nil
	}
	return c.proto.Reply(&m.Msg)
}

// appendReply encodes the reply to m, a request that was not forwarded
// whole, or failed.
func (c *client) appendReply(out []byte, m *msg) []byte {
	switch {
	case len(m.Local) > 0:
		return append(out, m.Local...)
	case m.NoReply:
		return out
	case len(m.Frags) > 0:
		for _, f := range m.Frags {
			if f.Err != nil {
				c.ps.pool().Stats.ForwardError.Add(1)
				break
			}
		}
		return c.proto.Merge(out, &m.Msg)
	case m.Err != nil:
		c.ps.pool().Stats.ForwardError.Add(1)
		return c.proto.AppendError(out, m.Err.Error())
	}
	return out
}
