package proxy

import (
	"crypto/tls"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// writeLoop sends the replies in request order, and once the reader has
// stopped and every reply owed is written, acts on why it stopped: the
// client parks, hands over or closes (see client.go).
//
// It runs only while it has something to do: where it would wait (for
// the oldest request's reply, or for a request), it ends, and whatever
// gives it work again starts a new one (wakeWriter). Replies from a
// server are mostly written without it: the server connection's reader
// runs the same loop itself (Wake), and starts it only to go on with
// what could wait. A client that waits for its reply, or sends nothing,
// so holds one goroutine, its reader, not two; and a reply costs the
// starting of a goroutine where it cost the waking of one.
func (c *client) writeLoop() { c.writeReplies(false) }

// writeReplies is the writer's loop, with writing set. It reports true
// when it ended where the writer pauses (writing then clear, or the
// client done with), false when inline stopped it.
//
// inline is the loop as a server connection's reader runs it (Wake): it
// never waits, and never does more than write replies. It stops, with
// writing still set, for a writer goroutine to go on from there, at a TLS
// client (its TLS connection writes), a cluster pool's (a redirection
// sends the request again), a failed or abandoned client, the queue
// closed (the client parks, leaves or closes), a request that closes the
// connection, a large reply, or replies still being written out (the
// output would queue, and past its limit wait). Without those it cannot
// wait: each write it makes is less than flushSize (take writes at that)
// plus a reply under DirectWriteSize, and with no sender running the
// output waits only when one write leaves more than its limit queued.
func (c *client) writeReplies(inline bool) bool {
	if inline && (c.tlsSock != nil || c.ps.pool().IsCluster()) {
		return false
	}
	for {
		w := c.writer() // anew after a pause: a writer that parked the client let go of it
		if inline && (w.failed || c.abandoned.Load() || w.o.busy() || w.o.limit < 2*(flushSize+backend.DirectWriteSize)) {
			return false
		}
		m := w.current()
		if m == nil {
			var closed bool
			w.taken, closed = c.queue.popBatch(w.taken[:0])
			w.next = 0
			if len(w.taken) == 0 && !closed {
				w.flush() // nothing else is ready: the client gets what is done
				c.parkSoon(w.o)
				if c.pauseWriter(w) {
					return true
				}
				continue
			}
			if closed {
				if inline {
					return false
				}
				if c.writerStopped(w) {
					return true
				}
				continue
			}
			m = w.taken[0]
		}
		switch {
		case w.failed || !m.done() && c.abandoned.Load():
			// dropped, or answered with an error (take)
		case !m.done():
			w.flush()
			if c.pauseWriter(w) {
				return true
			}
			continue
		case inline && (m.Closes || replySize(m) >= backend.DirectWriteSize):
			return false
		case c.resend(m): // a cluster's redirection: m went again
			continue
		}
		w.taken[w.next] = nil
		w.next++
		w.take(m)
	}
}

// replySize bounds the size of the reply a client gets to m, which has
// its replies: what was read for it and for its fragments, and what the
// proxy answered itself, with room for a merged reply's header.
func replySize(m *msg) int {
	n := len(m.Reply) + len(m.Local) + 64
	for _, f := range m.Frags {
		n += len(f.Reply)
	}
	return n
}

// writerStopped is the writer's once the reader has stopped and every
// request is taken: the client parks, hands over or closes. It reports
// whether the writer ends; false when it goes on (the client reads again).
func (c *client) writerStopped(w *writer) bool {
	w.flush()
	if c.stop == stopPark && !w.failed {
		// A parked client holds no writer state (a TLS client's output
		// stays: its TLS connection writes through it). Let go of it
		// before parking: once parked, the client may read again and
		// start another writer at once.
		w.out, w.taken = nil, nil // a burst's reply buffer, a TLS client's too
		if c.tlsSock == nil {
			c.w = nil
		}
		if c.park(w.o) {
			if c.tlsSock == nil {
				return true // parked away: the client struct is done (parkAway)
			}
			return c.pauseWriter(nil)
		}
		c.w = w
		return false // it reads again
	}
	handedOver := c.stop == stopLeave && w.o.wait() == nil && !w.failed &&
		!c.abandoned.Load() && c.handOff()
	c.end(handedOver)
	return true // and no writer starts again: writing stays set
}

// wakeWriter tells the writer something changed: it starts one if none
// runs; one that runs re-checks before it ends (pauseWriter).
func (c *client) wakeWriter() {
	if !c.writing.Load() && c.writing.CompareAndSwap(false, true) {
		c.spawnWriter()
	}
}

// spawnWriter starts a writer goroutine, writing being set.
func (c *client) spawnWriter() {
	c.p.goroutines.Add(1) // as Proxy.spawn does, without a closure each time
	go c.startWriter()
}

// Wake is wakeWriter for a backend's reader that has handed over the
// replies of one read, some of them this client's (proto.Waker). With no
// writer running, that reader runs the writer's loop itself (inline)
// rather than start a writer, which costs a goroutine and leaves the
// replies to wait for it; it starts one only to go on where the inline
// loop stops.
func (c *client) Wake() {
	c.inBatch.Store(false) // before looking for work: a reply done later is woken again
	if !c.writing.Load() && c.writing.CompareAndSwap(false, true) && !c.writeReplies(true) {
		c.spawnWriter()
	}
}

// pauseWriter is the writer's where it would wait, with w its state (nil
// once let go of): it reports true when it is to end, false when work
// came meanwhile and it goes on. Whoever gives it work does so before
// wakeWriter, so either this check sees the work or wakeWriter sees the
// writer gone and starts another.
//
// Once writing is clear another writer may start and change the writer
// state, so what the check needs of it is read before.
func (c *client) pauseWriter(w *writer) bool {
	var cur *msg
	var gen uint64
	if w != nil {
		if cur = w.current(); cur != nil {
			gen = cur.gen
		}
	}
	c.writing.Store(false)
	if !c.writerHasWork(cur, gen) {
		return true
	}
	return !c.writing.CompareAndSwap(false, true) // another one started meanwhile
}

// writerHasWork reports whether a writer waiting for the reply to cur's
// use gen (or, if nil, for a request) would not wait now. A cur that
// another writer took meanwhile (and recycled) may be misread; that
// writer then does the work. (Hence gen, read while cur was the writer's:
// cur.done would read a recycled message's gen as it changes.)
func (c *client) writerHasWork(cur *msg, gen uint64) bool {
	if c.abandoned.Load() {
		return true
	}
	if cur != nil {
		return cur.doneGen.Load() == gen
	}
	return c.queue.ready()
}

// writer returns the client's writer state, made on first use.
func (c *client) writer() *writer {
	if c.w == nil {
		c.w = &writer{c: c, o: c.newOutput()}
	}
	return c.w
}

// newOutput returns the output of a writer starting: on the socket, and
// for a TLS client through its TLS connection.
func (c *client) newOutput() *output {
	o := newOutput(c.socket(), c.p.opts.OutputLimit, c.p.spawn)
	if c.tlsSock != nil {
		o.tls = c.conn.(*tls.Conn)
		c.tlsSock.out.Store(o)
	}
	return o
}

// writer is the state of a client's writeLoop, kept from one writer
// goroutine to the next: the replies encoded and not yet sent, the
// requests taken off the queue whose replies are not written yet (the
// first is the one it waits for), and whether the connection failed.
type writer struct {
	c      *client
	o      *output
	out    []byte // replies encoded, sent when nothing else is ready
	taken  []*msg // off the queue at once (popBatch); those from next on are not written yet
	next   int
	failed bool // the connection failed or closes: replies are discarded
	// answered counts the requests taken since the last flush, for
	// client.answered: once per flush, not per reply.
	answered int64
}

// current returns the oldest request taken whose reply is not written
// yet; nil when it has written every one taken.
func (w *writer) current() *msg {
	if w.next < len(w.taken) {
		return w.taken[w.next]
	}
	return nil
}

// send hands b to the output; it reports whether the output keeps b.
func (w *writer) send(b []byte) (owned bool) {
	if w.failed {
		return false
	}
	owned, err := w.o.send(b)
	if err != nil {
		w.failed = true
		w.c.breakSocket() // ends the reader
	}
	return owned
}

// flush sends the replies encoded so far, and counts their requests
// answered.
func (w *writer) flush() {
	if w.send(w.out) || cap(w.out) > maxKeptBuffer {
		w.out = nil
	} else {
		w.out = w.out[:0]
	}
	if w.answered > 0 {
		w.c.answered(w.answered)
		w.answered = 0
	}
}

// take encodes the reply to m, the oldest request: it has its reply, or
// the connection failed, or the client is abandoned (HandOver's grace is
// over).
func (w *writer) take(m *msg) {
	c := w.c
	w.answered++
	if w.failed {
		if m.done() {
			releaseMsg(m)
		} // else a backend still owns it: leave it to the GC
		return
	}
	if !m.done() {
		// Closing during a handover: the reply will not come in time.
		// A backend still owns m: leave it to the GC.
		if !m.NoReply {
			w.out = c.proto.AppendError(w.out, errHandOverTimeout)
		}
		return
	}
	c.noticeDemoted(m)
	if m.Silent {
		// CLIENT REPLY OFF or SKIP: done, and not written
	} else if reply := c.forwardedReply(m); len(reply) >= backend.DirectWriteSize {
		// A large value goes out from the buffer it was read into.
		w.flush()
		if w.send(reply) { // the output keeps it: Reply or Local (proto.Protocol.Reply)
			m.Reply, m.Local = nil, nil
		}
	} else if reply != nil {
		w.out = append(w.out, reply...)
	} else {
		w.out = c.appendReply(w.out, m)
	}
	if !m.start.IsZero() {
		c.checkSlow(m)
	}
	closes := m.Closes
	releaseMsg(m)
	if len(w.out) >= flushSize || closes {
		w.flush()
	}
	if closes {
		w.o.wait()
		w.failed = true // discard whatever the reader queued meanwhile
		c.conn.Close()
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

// noticeDemoted tells a sentinel group whose server answered m as a
// replica (-READONLY: the master it was taken for was demoted) to ask the
// sentinels where its master went.
func (c *client) noticeDemoted(m *msg) {
	if s := m.server; s != nil && s.Group() && m.Err == nil && c.proto.Demoted(m.Reply) {
		s.Demoted()
	}
	for i, f := range m.Frags {
		if s := m.servers[i]; s.Group() && f.Err == nil && c.proto.Demoted(f.Reply) {
			s.Demoted()
		}
	}
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
	case len(m.Frags) > 0: // Merge's reply, which may use m.Local
		for _, f := range m.Frags {
			if f.Err != nil {
				c.ps.pool().Stats.ForwardError.Add(1)
				break
			}
		}
		return c.proto.Merge(out, &m.Msg)
	case len(m.Local) > 0:
		return append(out, m.Local...)
	case m.NoReply:
		return out
	case m.Err != nil:
		c.ps.pool().Stats.ForwardError.Add(1)
		return c.proto.AppendError(out, m.Err.Error())
	}
	return out
}
