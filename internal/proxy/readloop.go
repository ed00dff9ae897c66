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
	r := newConnReader(c.conn, &c.p.readBufs, c.p.opts.MbufSize)
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
				logging.Noticef("client %s on pool %s: %v: closing it", c.conn.RemoteAddr(), c.ps.cfg().Name, perr)
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
			quit := c.dispatch(buf[start : start+n])
			start += n
			if quit {
				return
			}
		}
		if start == len(buf) { // everything parsed; r.read lets go of buf while idle
			start, buf = 0, buf[:0]
		}
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if c.leaving() == nil { // the sweeper asks it to park
				c.conn.SetReadDeadline(time.Time{})
				if c.leaving() == nil { // no handover meanwhile
					if start < len(buf) || c.pending.Load() != 0 || c.h.InTransaction() {
						continue // not idle after all, or holding a transaction open
					}
					c.stop = stopPark
					return
				}
			}
			c.stopLeaving(buf[start:])
		case errors.Is(err, io.EOF):
			c.ps.pool().Stats.ClientEOF.Add(1)
		case !errors.Is(err, net.ErrClosed): // not our own close
			c.ps.pool().Stats.ClientErr.Add(1)
		}
		return
	}
}
