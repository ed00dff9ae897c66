package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// HandOff is a client connection given away at a request boundary.
type HandOff struct {
	Pool string // the pool's name
	// File is the client's socket (a dup); the receiver owns it. To pass
	// its fd on, take it with File.SyscallConn: File.Fd would switch the
	// socket to blocking mode.
	File     *os.File
	Unparsed []byte // bytes read from the client not yet parsed: the start of its next request
	Authed   bool   // the client passed the pool's redis_auth (false when the pool has none)
}

// errHandOverTimeout answers the requests a client is owed when HandOver
// closes it before their replies came.
const errHandOverTimeout = "proxy restarting: no reply from the server in time"

// aLongTimeAgo is a deadline that has passed: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// handover is one HandOver in progress.
type handover struct {
	give  func(HandOff) error
	grace time.Duration
	empty chan struct{} // cap 1: the last client is gone
	late  bool          // under Proxy.mu: grace is over, clients are closed
}

// add tells c (under Proxy.mu) to stop reading and to leave at its next
// request boundary. The reader sees the expired deadline only as a read
// error, so the request path checks nothing.
func (h *handover) add(c *client) {
	c.ho.Store(h)
	c.conn.SetReadDeadline(aLongTimeAgo)
	c.resumeLocked() // if parked: its reader sees the deadline at once
	if h.late {
		c.abandon(h.grace)
	}
}

// StopAccepting closes every pool's listener; clients keep being served.
// In a worker it closes only the worker's copy: the master's socket and
// its accept queue stay. The proxy is then draining: a later Reload opens
// no listener (a pool it adds can only adopt clients).
func (p *Proxy) StopAccepting() {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	p.draining.Store(true)
	p.mu.Lock()
	pools := p.pools
	p.mu.Unlock()
	for _, ps := range pools {
		ps.closeListener()
	}
}

// Drain stops accepting and closes every client at a request boundary,
// once the replies it is owed are written, for a graceful stop: HandOver
// with nowhere to give the clients to. It returns when every client is
// gone.
func (p *Proxy) Drain(grace time.Duration) {
	p.StopAccepting()
	p.HandOver(nil, grace)
}

// HandOver gives every client away, for a binary upgrade; call
// StopAccepting first. Each client stops reading at once; once every
// request it had read is answered and the replies are written, its
// socket and the bytes of its next request read so far go to give (from
// the client's own goroutine: give may run for many clients at once),
// and the connection is closed here without counting as ended by the
// client. A client whose give fails is just closed.
//
// A client still owed a reply after grace (a server that does not answer)
// is closed instead: replies that come before its writer reaches them are
// sent, the others answered with an error, in request order; a client
// that does not read them within another grace loses them. HandOver
// returns when every client is gone.
func (p *Proxy) HandOver(give func(HandOff) error, grace time.Duration) {
	p.handOverMu.Lock()
	defer p.handOverMu.Unlock()
	h := &handover{give: give, grace: grace, empty: make(chan struct{}, 1)}
	p.mu.Lock()
	p.handover = h
	for c := range p.clients {
		h.add(c)
	}
	p.mu.Unlock()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.clients) == 0 {
			p.handover = nil
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		select {
		case <-h.empty:
		case <-timer.C:
			p.mu.Lock()
			h.late = true
			logging.Warnf("handover: %d clients not at a request boundary after %v, closing them", len(p.clients), grace)
			for c := range p.clients {
				c.abandon(grace)
			}
			p.mu.Unlock()
		}
	}
}

// clientGoneLocked is called (under Proxy.mu) when a client is untracked.
func (p *Proxy) clientGoneLocked() {
	if h := p.handover; h != nil && len(p.clients) == 0 {
		select {
		case h.empty <- struct{}{}:
		default:
		}
	}
}

// Adopt serves a client handed over by another process as if it had been
// accepted on the named pool, with h.Unparsed as the first bytes read. It
// owns h.File from the call on (closing it on error). It fails when the
// pool is unknown, full or the proxy closed.
func (p *Proxy) Adopt(h HandOff) error {
	ps := p.poolNamed(h.Pool)
	if ps == nil {
		h.File.Close()
		return fmt.Errorf("adopt: no pool %q", h.Pool)
	}
	conn, err := net.FileConn(h.File) // a dup of its own
	h.File.Close()
	if err == nil {
		err = ps.admit(conn, &h)
	}
	if err != nil {
		return fmt.Errorf("adopt a client of pool %s: %w", h.Pool, err)
	}
	return nil
}

func (p *Proxy) poolNamed(name string) *poolServer {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range p.pools {
		if ps.cfg().Name == name {
			return ps
		}
	}
	return nil
}

// adopt gives a new client the state it was handed over with.
func (c *client) adopt(h *HandOff) {
	if len(h.Unparsed) > 0 {
		buf := make([]byte, len(h.Unparsed), max(c.ps.proxy.opts.MbufSize, len(h.Unparsed)))
		copy(buf, h.Unparsed)
		c.unparsed = buf
	}
	if h.Authed {
		c.h.SetAuthed()
	}
}

// stopForHandOver records, in the reader, what the writer hands over once
// it has written every reply: rest is the start of the next request. (A
// refused memcached request is answered as soon as it is parsed, so none
// is pending here.)
func (c *client) stopForHandOver(rest []byte) {
	c.leaving = true
	if len(rest) > 0 {
		c.unparsed = bytes.Clone(rest)
	}
	c.authPassed = c.h.Authed() && c.st.settings.Password != ""
}

// handOff gives the connection away, from the writer, with every reply
// written and the reader stopped; the caller closes it.
func (c *client) handOff() {
	h, p := c.ho.Load(), c.ps.proxy
	if h.give == nil { // Drain: closed by the caller
		return
	}
	name := c.ps.cfg().Name
	p.mu.Lock()
	c.shared = true
	p.mu.Unlock()
	var f *os.File
	err := errors.New("not a socket")
	if fc, ok := c.conn.(interface{ File() (*os.File, error) }); ok {
		f, err = fc.File()
	}
	if err == nil {
		err = h.give(HandOff{Pool: name, File: f, Unparsed: c.unparsed, Authed: c.authPassed})
		if err != nil {
			f.Close() // unless the receiver did
		}
	}
	if err != nil {
		logging.Warnf("pool %s: client %s not handed over, closing it: %v", name, c.conn.RemoteAddr(), err)
		return
	}
	c.handedOver = true
}

// abandon makes the writer stop waiting for replies and close the client
// (under Proxy.mu, during a HandOver); writes to a client that does not
// read fail after grace.
func (c *client) abandon(grace time.Duration) {
	c.abandoned.Store(true)
	c.conn.SetWriteDeadline(time.Now().Add(grace))
	c.wakeWriter()
}
