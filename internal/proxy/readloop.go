package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// readLoop parses requests and forwards them until the client stops
// being read (see stopReason); closing the queue then hands the client
// to the writer, as the last thing the reader does.
func (c *client) readLoop() {
	c.stop = stopClose
	defer c.closeQueue()
	defer c.dropPin()        // a transaction left open ends with the connection
	c.st = c.ps.state.Load() // no request is out: the current state
	c.st.users.add(1)
	defer func() { c.st.users.add(-1) }()
	c.protocolState()
	r := newConnReader(c.conn, &c.p.readBufs, c.p.opts.MbufSize, c.parseRequests)
	c.in = r
	defer func() { r.release(); c.in = nil; c.out.release() }()
	if c.unparsed != nil { // an adopted client's first bytes, parsed before anything is read
		r.prime(c.unparsed)
		c.unparsed = nil
		if c.parseRequests() {
			return
		}
	}
	for {
		err := r.run()
		switch {
		case err == nil: // parseRequests stopped: QUIT, a framing error
		case errors.Is(err, os.ErrDeadlineExceeded):
			if c.leaving() == nil { // the sweeper asks it to park
				c.conn.SetReadDeadline(time.Time{})
				if c.leaving() == nil { // no handover meanwhile
					if len(r.unconsumed()) > 0 || c.pending.Load() != 0 || c.h.InTransaction() {
						c.eager.Store(false) // busy: it parks once idle a sweep
						c.soonAsked.Store(false)
						continue // not idle after all, or holding a transaction open
					}
					c.stop = stopPark
					return
				}
			}
			if c.serveSent(r) {
				return
			}
			c.stopLeaving(r.unconsumed())
		case errors.Is(err, io.EOF):
			c.ps.pool().Stats.ClientEOF.Add(1)
		case !errors.Is(err, net.ErrClosed): // not our own close
			c.ps.pool().Stats.ClientErr.Add(1)
		}
		return
	}
}

// serveSent is the reader's when its client is to leave (HandOver,
// Drain): the requests the client sent before, still in its socket, are
// served first, so that it gets their replies rather than a connection
// closed under them. It reports true when the client is not to be read
// any more anyway: it QUIT, broke the framing, closed or failed.
func (c *client) serveSent(r *connReader) bool {
	c.conn.SetReadDeadline(time.Time{})
	stopped, err := r.runReady()
	switch {
	case stopped:
		return true
	case err == nil, errors.Is(err, os.ErrDeadlineExceeded): // emptied, or asked to leave once more meanwhile
		return false
	case errors.Is(err, io.EOF):
		c.ps.pool().Stats.ClientEOF.Add(1)
	case !errors.Is(err, net.ErrClosed):
		c.ps.pool().Stats.ClientErr.Add(1)
	}
	return true
}

// parseRequests parses and dispatches the requests the reader holds
// whole (connReader.consume), and hands them on (flushOut); it reports
// true when the client is not to be read any more: it QUIT, or broke the
// framing.
func (c *client) parseRequests() (stop bool) {
	stop = c.parseRead()
	c.flushOut()
	return stop
}

// parseRead is parseRequests up to the hand-on.
func (c *client) parseRead() (stop bool) {
	r := c.in
	c.reads.Add(1)
	if c.st.cfg.SlowReqDuration > 0 {
		c.readAt = time.Now() // once per read, for every request in it
	}
	for r.start < len(r.buf) {
		n, err := c.h.Parse(r.buf[r.start:])
		if err != nil {
			logging.Noticef("client %s on pool %s: %v: closing it", c.conn.RemoteAddr(), c.ps.cfg().Name, err)
			m := c.newMsg()
			m.Local = c.proto.AppendFramingError(m.Local, err)
			c.ps.pool().Stats.ClientErr.Add(1)
			m.Closes = true
			c.answer(m)
			return true
		}
		if n == 0 {
			return false
		}
		c.follow()
		quit := c.dispatch(r.buf[r.start : r.start+n])
		r.start += n
		if quit {
			return true
		}
		if c.out.full() {
			c.flushOut()
		}
	}
	return false
}
