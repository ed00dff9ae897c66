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
func (c *client) writeLoop() {
	w := &writer{c: c, o: c.newOutput()}
	for {
		m, ok, closed := c.queue.pop()
		switch {
		case ok:
			w.take(m)
			continue
		case !closed:
			w.flush() // nothing else is ready: the client gets what is done
			<-c.notify
			continue
		}
		w.flush()
		if c.stop == stopPark && !w.failed {
			if c.park(w.o) {
				return
			}
			continue // it reads again
		}
		handedOver := c.stop == stopLeave && w.o.wait() == nil && !w.failed &&
			!c.abandoned.Load() && c.handOff()
		c.end(handedOver)
		return
	}
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

// writer is the state of a client's writeLoop: the replies encoded and
// not yet sent, and whether the connection failed.
type writer struct {
	c      *client
	o      *output
	out    []byte // replies encoded, sent when nothing else is ready
	failed bool   // the connection failed or closes: replies are discarded
}

// send hands b to the output; it reports whether the output keeps b.
func (w *writer) send(b []byte) (owned bool) {
	if w.failed {
		return false
	}
	owned, err := w.o.send(b)
	if err != nil {
		w.failed = true
		w.c.socket().Close() // unblocks the reader (a failed TLS connection gets no close_notify)
	}
	return owned
}

// flush sends the replies encoded so far.
func (w *writer) flush() {
	if w.send(w.out) || cap(w.out) > maxKeptBuffer {
		w.out = nil
	} else {
		w.out = w.out[:0]
	}
}

// take waits for the reply to m, the oldest request, and encodes it.
func (w *writer) take(m *msg) {
	c := w.c
	if w.failed {
		c.answered()
		if m.done.Load() {
			releaseMsg(m)
		} // else a backend still owns it: leave it to the GC
		return
	}
	for {
		for !m.done.Load() {
			if c.abandoned.Load() {
				// Closing during a handover: the reply will not come in time.
				// A backend still owns m: leave it to the GC.
				c.answered()
				if !m.NoReply {
					w.out = c.proto.AppendError(w.out, errHandOverTimeout)
				}
				return
			}
			w.flush()
			<-c.notify
		}
		if !c.resend(m) { // a cluster's redirection: m went again
			break
		}
	}
	c.answered()
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
