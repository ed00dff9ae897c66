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
//
// Every goroutine of the proxy is started by Proxy.spawn, and Close waits
// for all of them.
//
// Locks, in the order they may be taken (a lock is never taken while
// holding one below it):
//
//	Proxy.reloadMu    one Reload, StopAccepting or Close at a time
//	Proxy.handOverMu  one HandOver at a time
//	Proxy.clientsMu   the client registry: clients, closed, handover
//	client.mu         a client's state and leave request (client.go)
//	parker.mu         the parked clients by socket
//	requests.mu, output.mu, pool and backend locks: each alone
//
// None is held across a blocking call (a socket write, a wait): the
// registry is copied out under clientsMu and acted on after. The request
// path takes none of the first five; the pools are read through an
// atomic pointer.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/backoff"
	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto"
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
	pools atomic.Pointer[[]*poolServer] // replaced whole by Reload
	stats *stats.Process
	done  chan struct{} // closed by Close
	// ctx ends with Close, and with it what waits on a client (a TLS
	// handshake).
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool // Close was called

	readBufs sync.Pool // *[]byte of MbufSize, lent to clients while they read
	parker   *parker   // nil: clients are never parked

	reloadMu sync.Mutex  // one reload at a time
	draining atomic.Bool // StopAccepting was called: no listener opens again

	handOverMu sync.Mutex // one HandOver at a time

	clientsMu sync.Mutex
	clients   map[*client]struct{}
	handover  *handover // set while HandOver runs: new clients are handed over too

	goroutines sync.WaitGroup // every goroutine spawn started
}

// poolServer is one pool with its listener. Its configuration and
// servers are swapped as one by a reload; a request uses the state it
// loaded when it was dispatched.
type poolServer struct {
	proxy    *Proxy
	state    atomic.Pointer[poolState]
	ln       net.Listener // nil for a pool added while draining
	lnClosed atomic.Bool
	proto    proto.Protocol // the same for every state: see sameListener
	clients  users          // retired when a reload removes the pool
}

// poolState is a pool's configuration and the servers built from it.
type poolState struct {
	cfg      *config.Pool
	pool     *pool.Pool
	settings proto.Settings // what the protocol reads of cfg
	users    users          // clients whose requests use this state; retired when a reload replaces it
}

func (ps *poolServer) newState(cfg *config.Pool, pl *pool.Pool) *poolState {
	pl.SetReplaced(func(next *pool.Pool) { ps.proxy.replaced(ps, pl, next) })
	return &poolState{
		cfg: cfg, pool: pl, users: newUsers(),
		settings: proto.Settings{Password: cfg.RedisAuth, KeyLimit: ps.proxy.opts.MbufSize, Router: pl, Peers: ps.peers, HashTag: cfg.HashTag,
			Denied: cfg.DenyCommands, Status: poolStatus{ps.proxy, pl}, Cluster: cfg.RedisCluster, Listen: cfg.Listen.TCPAddr()},
	}
}

// peers yields the pool's clients (proto.Settings.Peers).
func (ps *poolServer) peers(yield func(proto.Peer) bool) {
	for _, c := range ps.proxy.clientList(nil) {
		if c.ps != ps {
			continue
		}
		if !yield(proto.Peer{Client: c.h, Addr: c.conn.RemoteAddr().String(), LocalAddr: c.conn.LocalAddr().String(), FD: c.fd, Since: c.since}) {
			return
		}
	}
}

// users counts the clients of something a reload may retire (a pool
// state, a removed pool), for the retirement to wait on: gone is closed
// once it is retired and has no user left.
type users struct {
	n       atomic.Int64
	retired atomic.Bool
	gone    chan struct{}
	once    sync.Once
}

func newUsers() users { return users{gone: make(chan struct{})} }

// add counts d users in (or out, d < 0) and returns how many there are.
func (u *users) add(d int64) int64 {
	n := u.n.Add(d)
	if n == 0 && u.retired.Load() {
		u.once.Do(func() { close(u.gone) })
	}
	return n
}

// retire marks it retired: gone is closed now, or when the last user
// leaves.
func (u *users) retire() {
	u.retired.Store(true)
	u.add(0)
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
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if k, err := newParker(); err != nil {
		logging.Warnf("idle clients will not be parked: %v", err)
	} else {
		p.parker = k
	}
	p.readBufs.New = func() any {
		b := make([]byte, opts.MbufSize)
		return &b
	}
	var pools []*poolServer
	for _, pc := range cfg.Pools {
		ps, err := p.newPoolServer(pc, true)
		if err != nil {
			p.pools.Store(&pools)
			p.Close()
			return nil, err
		}
		pools = append(pools, ps)
		p.stats.Pools = append(p.stats.Pools, ps.pool().Stats)
	}
	p.pools.Store(&pools)
	return p, nil
}

// poolList returns the pools being served.
func (p *Proxy) poolList() []*poolServer { return *p.pools.Load() }

// newPoolServer builds a pool and, when open is set, opens its listener.
func (p *Proxy) newPoolServer(cfg *config.Pool, open bool) (*poolServer, error) {
	pl, err := pool.New(cfg, p.opts.MbufSize, p.stats, nil)
	if err != nil {
		return nil, err
	}
	ps := &poolServer{proxy: p, proto: pl.Protocol, clients: newUsers()}
	if open {
		if ps.ln, err = p.listen(cfg.Listen, cfg.Backlog); err != nil {
			pl.Close()
			return nil, fmt.Errorf("pool %s: listen on %s: %w", cfg.Name, cfg.Listen.Addr, err)
		}
		p.stats.AddConn() // twemproxy counts listeners as connections
	}
	ps.state.Store(ps.newState(cfg, pl))
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

// spawn runs f on a goroutine that Close waits for.
func (p *Proxy) spawn(f func()) {
	p.goroutines.Add(1)
	go func() {
		defer p.goroutines.Done()
		f()
	}()
}

func (p *Proxy) isClosed() bool { return p.closed.Load() }

// Serve accepts and serves clients on every pool until Close; it returns
// at once, the work runs on goroutines.
func (p *Proxy) Serve() {
	for _, ps := range p.poolList() {
		if ps.cfg().Preconnect {
			ps.pool().Preconnect()
		}
		ps.serve()
	}
	if p.parker != nil {
		p.spawn(p.parker.run)
		var buf []*client
		p.every(parkSweep, func(time.Time) { buf = p.sweepIdle(buf) })
	}
	r := newReleaser()
	p.every(releaseEvery, func(now time.Time) { r.check(now, releaseAbove, releaseAtLeast) })
}

// every runs f every d on a goroutine of its own until the proxy closes.
func (p *Proxy) every(d time.Duration, f func(now time.Time)) {
	p.spawn(func() {
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
	})
}

// serve starts the pool's accept loop, if it has a listener.
func (ps *poolServer) serve() {
	if ps.ln != nil {
		ps.proxy.spawn(ps.acceptLoop)
	}
}

// acceptLoop serves the pool's listener until it closes. Accept errors
// (running out of descriptors, EMFILE, ENFILE) are retried with
// package backoff's pauses and logged once a run.
func (ps *poolServer) acceptLoop() {
	var pause backoff.Accept
	for {
		conn, err := ps.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			wait, first := pause.Failed()
			if first {
				logging.Errorf("pool %s: accept: %v; retrying, backing off up to %v", ps.cfg().Name, err, backoff.Max)
			}
			select {
			case <-time.After(wait):
			case <-ps.proxy.done:
				return
			}
			continue
		}
		if pause.OK() {
			logging.Noticef("pool %s: accepting again", ps.cfg().Name)
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
	if n := ps.clients.add(1); limit > 0 && n > limit {
		ps.clients.add(-1)
		logging.Warnf("pool %s: client connections limit %d reached, closing %s",
			ps.cfg().Name, limit, conn.RemoteAddr())
		conn.Close()
		return errClientLimit
	}
	sockets.SetKeepAlive(conn, ps.cfg().TCPKeepalive)
	if cfg := ps.cfg().ClientTLS.Config; cfg != nil && h == nil {
		ps.proxy.spawn(func() { ps.handshake(conn, cfg) })
		return nil
	}
	return ps.serveClient(conn, nil, h)
}

// serveClient serves conn, admitted: over TLS on sock when sock is not
// nil (conn is then its tls.Conn).
func (ps *poolServer) serveClient(conn net.Conn, sock *tlsSocket, h *HandOff) error {
	c := newClient(ps, conn, sock)
	verb := "accepted"
	if h != nil {
		c.adopt(h)
		verb = "adopted"
	}
	if !ps.proxy.track(c) {
		conn.Close()
		ps.clients.add(-1)
		return errProxyClosed
	}
	ps.proxy.stats.AddConn()
	ps.pool().Stats.ClientConnections.Add(1)
	if sock != nil {
		ps.pool().Stats.TLS.Clients.Add(1)
		verb += " TLS"
	}
	logging.Noticef("%s client %s on pool %s", verb, conn.RemoteAddr(), ps.cfg().Name)
	c.begin()
	if h := ps.proxy.handoverNow(); h != nil {
		c.leave(h) // a handover began meanwhile: this client goes too
	}
	return nil
}

// track adds a client to the registry, unless the proxy closed. It counts
// the client among the proxy's goroutines until untrack, so that Close,
// which may have begun meanwhile, waits for the client to end: its writer
// runs only while a reply is ready, and a reply still owed by a server
// must not start one after Close returned.
func (p *Proxy) track(c *client) bool {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	if p.isClosed() {
		return false
	}
	p.clients[c] = struct{}{}
	p.goroutines.Add(1)
	return true
}

// handoverNow returns the handover under way, or nil.
func (p *Proxy) handoverNow() *handover {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	return p.handover
}

// untrack forgets a client whose connection is closed.
func (p *Proxy) untrack(c *client) {
	c.ps.pool().Stats.ClientConnections.Add(-1)
	if c.tlsSock != nil {
		c.ps.pool().Stats.TLS.Clients.Add(-1)
	}
	p.stats.DoneConn()
	p.clientsMu.Lock()
	delete(p.clients, c)
	if h := p.handover; h != nil && len(p.clients) == 0 {
		h.signalEmpty()
	}
	p.clientsMu.Unlock()
	c.ps.clients.add(-1)
	p.goroutines.Done() // see track
}

// clientList appends every client to buf: a snapshot, to act on without
// the registry's lock.
func (p *Proxy) clientList(buf []*client) []*client {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	for c := range p.clients {
		buf = append(buf, c)
	}
	return buf
}

// clientCount returns how many clients are tracked.
func (p *Proxy) clientCount() int {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	return len(p.clients)
}

// Health returns nil when every pool has a live server and every
// sentinel group a known master, else an error naming the first pool that
// has no live server, or every group without a master.
func (p *Proxy) Health() error {
	for _, ps := range p.poolList() {
		if !ps.pool().Live() {
			return fmt.Errorf("pool %q: no live server", ps.cfg().Name)
		}
	}
	if down := p.stats.GroupsDown(); len(down) > 0 {
		return fmt.Errorf("no master known for sentinel groups %s", strings.Join(down, ", "))
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
	p.clientsMu.Lock()
	if p.isClosed() {
		p.clientsMu.Unlock()
		return nil
	}
	p.closed.Store(true)
	close(p.done)
	p.cancel()
	p.clientsMu.Unlock()
	for _, ps := range p.poolList() {
		ps.closeListener()
	}
	for _, c := range p.clientList(nil) {
		c.breakSocket() // a TLS client's too: no close_notify to wait on
		c.resume()      // if parked: its goroutines end it
	}
	if p.parker != nil {
		p.parker.close()
	}
	for _, ps := range p.poolList() {
		ps.pool().Close()
	}
	p.goroutines.Wait()
	return nil
}
