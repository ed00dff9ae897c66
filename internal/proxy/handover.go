package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// HandOff is a client connection given away at a request boundary.
type HandOff struct {
	Pool string // the pool's name
	// File is the client's socket (a dup); the receiver owns it. To pass
	// its fd on, take it with File.SyscallConn: File.Fd would switch the
	// socket to blocking mode.
	File     *os.File
	Unparsed []byte // bytes read from the client not yet parsed: the start of its next request
	// Session is what the client set up for itself; Authed says it passed
	// the pool's redis_auth (false when the pool has none).
	Session proto.Session
}

// errHandOverTimeout answers the requests a client is owed when HandOver
// closes it before their replies came.
const errHandOverTimeout = "proxy restarting: no reply from the server in time"

// aLongTimeAgo is a deadline that has passed: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// handover is one HandOver in progress.
type handover struct {
	give  func(HandOff) error // nil: Drain, the clients are closed
	grace time.Duration
	empty chan struct{} // cap 1: the last client is gone
	late  atomic.Bool   // grace is over: clients are closed
}

// signalEmpty tells HandOver the last client is gone.
func (h *handover) signalEmpty() {
	select {
	case h.empty <- struct{}{}:
	default:
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
	for _, ps := range p.poolList() {
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
	p.clientsMu.Lock()
	p.handover = h
	p.clientsMu.Unlock()
	defer func() {
		p.clientsMu.Lock()
		p.handover = nil
		p.clientsMu.Unlock()
	}()
	p.wakeParked() // they leave as they start
	clients := p.clientList(nil)
	for _, c := range clients {
		c.leave(h)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for p.clientCount() > 0 {
		select {
		case <-h.empty:
		case <-timer.C:
			h.late.Store(true)
			clients = p.clientList(clients[:0])
			logging.Warnf("handover: %d clients not at a request boundary after %v, closing them", len(clients), grace)
			for _, c := range clients {
				c.abandon(grace)
			}
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
	for _, ps := range p.poolList() {
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
	c.protocolState().Resume(h.Session)
}

// handOff gives the connection away, from the writer, with every reply
// written and the reader stopped; it reports whether it did (the caller
// closes the connection either way).
func (c *client) handOff() bool {
	h := c.leaving()
	if h.give == nil { // Drain
		return false
	}
	name := c.ps.cfg().Name
	if c.tlsSock != nil {
		logging.Noticef("pool %s: client %s speaks TLS, whose session cannot be handed over: closing it at a request boundary, every reply written",
			name, c.conn.RemoteAddr())
		return false
	}
	if c.inTransaction {
		logging.Noticef("pool %s: client %s is inside a transaction, which cannot be handed over: closing it (nothing of the transaction ran)",
			name, c.conn.RemoteAddr())
		return false
	}
	c.handingOver()
	var f *os.File
	err := errors.New("not a socket")
	if fc, ok := c.conn.(interface{ File() (*os.File, error) }); ok {
		f, err = fc.File()
	}
	if err == nil {
		err = h.give(HandOff{Pool: name, File: f, Unparsed: c.unparsed, Session: c.session})
		if err != nil {
			f.Close() // unless the receiver did
		}
	}
	if err != nil {
		logging.Warnf("pool %s: client %s not handed over, closing it: %v", name, c.conn.RemoteAddr(), err)
		return false
	}
	return true
}
