// Package proxy serves the pools of a configuration: it owns the listeners
// and client connections, routes each request to its server and writes the
// replies back to every client in its own order.
//
// Each client connection has a reader goroutine (parse, route, forward)
// and a writer goroutine (wait for the oldest request's reply, encode it,
// flush when nothing else is ready), joined by a bounded FIFO of messages.
// A slow server delays only the replies queued behind its request. An
// idle client is parked (park.go): no goroutine until it sends again.
// Client and server sockets are read and written with raw system calls
// (internal/rawio), waiting in the runtime's poller.
//
// A binary upgrade moves clients between processes: HandOver stops every
// client's reader, waits until the replies it owes are written, and gives
// its socket and the unparsed start of its next request away; Adopt, in
// the new process, serves them as if just accepted.
package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/sockets"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// Options are the process-wide settings that are not in the config file.
type Options struct {
	// MbufSize sizes client and server read buffers (twemproxy's -m), in
	// bytes; it is also the longest key accepted.
	MbufSize int
	// Version is reported in the stats document.
	Version string
	// OutputLimit bounds the reply bytes held for a client that does not
	// read; past it the proxy stops reading the client's requests until
	// it drains. 0 means DefaultOutputLimit.
	OutputLimit int
	// Listen opens the listener of a pool; nil opens the socket here
	// (sockets.Listen). A worker uses it to take the sockets its master
	// opened.
	Listen func(l config.Listen, backlog int) (net.Listener, error)
}

// DefaultMbufSize is twemproxy's default -m.
const DefaultMbufSize = 16384

// Proxy serves every pool of one configuration.
type Proxy struct {
	opts  Options
	pools []*poolServer
	stats *stats.Process
	done  chan struct{} // closed by Close

	readBufs sync.Pool // *[]byte of MbufSize, lent to clients while they read
	parker   *parker   // nil: clients are never parked

	reloadMu sync.Mutex  // one reload at a time
	draining atomic.Bool // StopAccepting was called: no listener opens again

	handOverMu sync.Mutex // one HandOver at a time

	mu       sync.Mutex
	closed   bool
	clients  map[*client]struct{}
	handover *handover // set while HandOver runs: new clients are handed over too
	wg       sync.WaitGroup
}

// poolServer is one pool with its listener. Its configuration and
// servers are swapped as one by a reload; a request uses the state it
// loaded when it was dispatched.
type poolServer struct {
	proxy    *Proxy
	state    atomic.Pointer[poolState]
	ln       net.Listener // nil for a pool added while draining
	lnClosed atomic.Bool
	proto    protocol
	nclients atomic.Int64
	retired  atomic.Bool // removed by a reload: its clients are let go
}

// poolState is a pool's configuration and the servers built from it.
type poolState struct {
	cfg   *config.Pool
	pool  *pool.Pool
	users atomic.Int64 // clients whose requests use this state
}

func (ps *poolServer) cfg() *config.Pool { return ps.state.Load().cfg }
func (ps *poolServer) pool() *pool.Pool  { return ps.state.Load().pool }

// New builds the pools and opens their listeners. Nothing is served
// until Serve.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	if opts.MbufSize <= 0 {
		opts.MbufSize = DefaultMbufSize
	}
	if opts.OutputLimit <= 0 {
		opts.OutputLimit = DefaultOutputLimit
	}
	host, _ := os.Hostname()
	p := &Proxy{
		opts:    opts,
		done:    make(chan struct{}),
		clients: make(map[*client]struct{}),
		stats:   &stats.Process{Source: host, Version: opts.Version, Start: time.Now()},
	}
	if k, err := newParker(p); err != nil {
		logging.Warnf("idle clients will not be parked: %v", err)
	} else {
		p.parker = k
	}
	p.readBufs.New = func() any {
		b := make([]byte, opts.MbufSize)
		return &b
	}
	for _, pc := range cfg.Pools {
		ps, err := p.newPoolServer(pc, true)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.pools = append(p.pools, ps)
		p.stats.Pools = append(p.stats.Pools, ps.pool().Stats)
	}
	return p, nil
}

// newPoolServer builds a pool and, when open is set, opens its listener.
func (p *Proxy) newPoolServer(cfg *config.Pool, open bool) (*poolServer, error) {
	var proto protocol = mcProto{}
	if cfg.Redis {
		proto = redisProto{}
	}
	newCodec, handshake := codecFor(cfg)
	pl, err := pool.New(cfg, newCodec, handshake, p.opts.MbufSize, p.stats, nil)
	if err != nil {
		return nil, err
	}
	ps := &poolServer{proxy: p, proto: proto}
	if open {
		if ps.ln, err = p.listen(cfg.Listen, cfg.Backlog); err != nil {
			pl.Close()
			return nil, fmt.Errorf("pool %s: listen on %s: %w", cfg.Name, cfg.Listen.Addr, err)
		}
		p.stats.AddConn() // twemproxy counts listeners as connections
	}
	ps.state.Store(&poolState{cfg: cfg, pool: pl})
	return ps, nil
}

func (p *Proxy) listen(l config.Listen, backlog int) (net.Listener, error) {
	if p.opts.Listen != nil {
		return p.opts.Listen(l, backlog)
	}
	return sockets.Listen(l, backlog)
}

// closeListener stops accepting on the pool, once.
func (ps *poolServer) closeListener() {
	if ps.ln != nil && ps.lnClosed.CompareAndSwap(false, true) {
		ps.ln.Close()
		ps.proxy.stats.DoneConn()
	}
}

// Serve accepts and serves clients on every pool until Close; it returns
// at once, the work runs on goroutines.
func (p *Proxy) Serve() {
	for _, ps := range p.pools {
		if ps.cfg().Preconnect {
			ps.pool().Preconnect()
		}
		ps.serve()
	}
	if p.parker != nil {
		p.wg.Add(1)
		go p.parker.run()
		p.every(parkSweep, p.sweepIdle)
	}
	r := newReleaser()
	p.every(releaseEvery, func(now time.Time) { r.check(now, releaseAbove, releaseAtLeast) })
}

// every runs f every d on a goroutine of its own until the proxy closes.
func (p *Proxy) every(d time.Duration, f func(now time.Time)) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case now := <-tick.C:
				f(now)
			}
		}
	}()
}

// serve starts the pool's accept loop, if it has a listener.
func (ps *poolServer) serve() {
	if ps.ln == nil {
		return
	}
	ps.proxy.wg.Add(1)
	go ps.acceptLoop()
}

func (ps *poolServer) acceptLoop() {
	defer ps.proxy.wg.Done()
	for {
		conn, err := ps.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			logging.Errorf("pool %s: accept: %v", ps.cfg().Name, err)
			continue
		}
		if err := ps.admit(conn, nil); errors.Is(err, errProxyClosed) {
			return
		}
	}
}

var (
	errProxyClosed = errors.New("proxy closed")
	errClientLimit = errors.New("client connections limit reached")
)

// admit serves conn as a client of the pool: accepted here, or adopted
// with the state of a client handed over by another process. It closes
// conn when the pool is full or the proxy closed.
func (ps *poolServer) admit(conn net.Conn, h *HandOff) error {
	limit := int64(ps.cfg().ClientConnections)
	if n := ps.nclients.Add(1); limit > 0 && n > limit {
		ps.nclients.Add(-1)
		logging.Warnf("pool %s: client connections limit %d reached, closing %s",
			ps.cfg().Name, limit, conn.RemoteAddr())
		conn.Close()
		return errClientLimit
	}
	sockets.SetKeepAlive(conn, ps.cfg().TCPKeepalive)
	c := newClient(ps, conn)
	verb := "accepted"
	if h != nil {
		c.adopt(h)
		verb = "adopted"
	}
	if !ps.proxy.track(c) {
		conn.Close()
		ps.nclients.Add(-1)
		return errProxyClosed
	}
	ps.proxy.stats.AddConn()
	ps.pool().Stats.ClientConnections.Add(1)
	logging.Noticef("%s client %s on pool %s", verb, conn.RemoteAddr(), ps.cfg().Name)
	ps.proxy.startOrPark(c)
	return nil
}

func (p *Proxy) track(c *client) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.clients[c] = struct{}{}
	p.wg.Add(2)
	if h := p.handover; h != nil {
		h.add(c)
	}
	return true
}

// untrack forgets a client whose connection is closed: gone for good, or
// handed over to another process (and then not counted as ended by the
// client).
func (p *Proxy) untrack(c *client) {
	c.ps.nclients.Add(-1)
	c.ps.pool().Stats.ClientConnections.Add(-1)
	p.stats.DoneConn()
	p.mu.Lock()
	delete(p.clients, c)
	p.clientGoneLocked()
	p.mu.Unlock()
	verb := "closed"
	if c.handedOver {
		verb = "handed over"
	}
	logging.Noticef("%s client %s on pool %s", verb, c.conn.RemoteAddr(), c.ps.cfg().Name)
}

// Health returns nil when every pool has a live server, else an error
// naming the first pool that has none.
func (p *Proxy) Health() error {
	p.mu.Lock()
	pools := p.pools
	p.mu.Unlock()
	for _, ps := range pools {
		if !ps.pool().Live() {
			return fmt.Errorf("pool %q: no live server", ps.cfg().Name)
		}
	}
	return nil
}

// Stats returns the counters behind the stats document.
func (p *Proxy) Stats() *stats.Process { return p.stats }

// Close stops accepting, closes every client and server connection and
// waits for the proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.reloadMu.Lock() // let a reload finish first
	defer p.reloadMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	for _, ps := range p.pools {
		ps.closeListener()
	}
	for c := range p.clients {
		c.conn.Close()
		c.resumeLocked() // if parked: its goroutines end it
	}
	p.mu.Unlock()
	if p.parker != nil {
		p.parker.close() // not under mu: a wake in progress may be waiting for it
	}
	for _, ps := range p.pools {
		ps.pool().Close()
	}
	p.wg.Wait()
	return nil
}
