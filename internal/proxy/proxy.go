// Package proxy serves the pools of a configuration: it owns the listeners
// and client connections, routes each request to its server and writes the
// replies back to every client in its own order.
//
// Each client connection has a reader goroutine (parse, route, forward)
// and a writer (wait for the oldest request's reply, encode it, flush when
// nothing else is ready), joined by a bounded FIFO of messages that each
// side takes in runs: the reader hands on what one read brought at once
// (outbox.go), the writer takes what is queued. The writer is mostly the
// reader of the server connection that read the replies (writeloop.go),
// and a goroutine of its own only where it could wait. A slow server
// delays only the replies queued behind its request. An
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
//	client.mu         a client's state and leave request (client.go)
//	Proxy.clientsMu   the client registry: clients, the parked ones
//	                  (parker.byFD), closed, handover
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
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/backoff"
	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/pool"
	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/rawio"
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
	clients   map[*client]struct{} // with a client struct: served, or a TLS client parked whole
	// asleep counts the plaintext clients parked (parker.byFD) or being
	// woken: clients too, without a client struct.
	asleep   int
	handover *handover // set while HandOver runs: new clients are handed over too

	goroutines sync.WaitGroup // every goroutine spawn started
}

// poolServer is one pool with its listener. Its configuration and
// servers are swapped as one by a reload; a request uses the state it
// loaded when it was dispatched.
type poolServer struct {
	proxy *Proxy
	state atomic.Pointer[poolState]
	ln    net.Listener // nil for a pool added while draining
	// lnFile is a dup of ln's socket, in the Go poller as a file, whose
	// RawConn can wait to accept, which a listener's cannot: acceptor
	// accepts plaintext clients through it, straight into the parker.
	// nil when clients are not parked.
	lnFile   *os.File
	acceptor *rawio.Acceptor
	lnClosed atomic.Bool
	proto    proto.Protocol // the same for every state: see sameListener
	clients  users          // retired when a reload removes the pool
	// letGo: the pool was removed and its grace is over: its clients stop
	// being read (retirePool), a client woken from the parker too.
	letGo atomic.Bool
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
	for _, peer := range ps.proxy.parkedPeers(ps) {
		if !yield(peer) {
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
	if k, err := newParker(p.parkedReady); err != nil {
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
	if ps.ln != nil {
		ps.openListenerFile()
	}
	return ps, nil
}

func (p *Proxy) listen(l config.Listen, backlog int) (net.Listener, error) {
	if p.opts.Listen != nil {
		return p.opts.Listen(l, backlog)
	}
	return sockets.Listen(l, backlog)
}

// openListenerFile makes lnFile and acceptor, for a proxy that parks
// clients; without them it accepts through ln.
func (ps *poolServer) openListenerFile() {
	fl, ok := ps.ln.(interface{ File() (*os.File, error) })
	if !ok || ps.proxy.parker == nil {
		return
	}
	f, err := fl.File()
	if err != nil {
		logging.Warnf("pool %s: accepting through the listener: %v", ps.cfg().Name, err)
		return
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		logging.Warnf("pool %s: accepting through the listener: %v", ps.cfg().Name, err)
		return
	}
	ps.lnFile, ps.acceptor = f, rawio.NewAcceptor(raw)
}

// closeListener stops accepting on the pool, once.
func (ps *poolServer) closeListener() {
	if ps.ln != nil && ps.lnClosed.CompareAndSwap(false, true) {
		if ps.lnFile != nil {
			ps.lnFile.Close()
		}
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
		var (
			conn   net.Conn
			fd     int
			remote netip.AddrPort
			err    error
		)
		if ps.acceptor != nil && ps.cfg().ClientTLS.Config == nil {
			fd, remote, err = ps.acceptor.Accept()
		} else {
			conn, err = ps.ln.Accept()
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ps.lnClosed.Load() {
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
		if conn != nil {
			err = ps.admit(conn, nil)
		} else {
			err = ps.admitParked(fd, remote)
		}
		if errors.Is(err, errProxyClosed) {
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
	if !ps.countClient(conn.RemoteAddr) {
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

// countClient counts a new client of the pool, from remote, in; false
// (and a warning) when the pool's client_connections limit is reached.
func (ps *poolServer) countClient(remote func() net.Addr) bool {
	limit := int64(ps.cfg().ClientConnections)
	if n := ps.clients.add(1); limit > 0 && n > limit {
		ps.clients.add(-1)
		logging.Warnf("pool %s: client connections limit %d reached, closing %s", ps.cfg().Name, limit, remote())
		return false
	}
	return true
}

// admitParked admits fd, a plaintext client's connection from remote
// (zero for a Unix socket), just accepted, as a parked client (see
// park.go): the first thing it sends wakes it.
func (ps *poolServer) admitParked(fd int, remote netip.AddrPort) error {
	pc := &parkedConn{fd: int32(fd), ps: ps, affinity: clientSeq.Add(1), remote: remote, since: time.Now().UnixNano()}
	if !ps.countClient(pc.remoteAddr) {
		unix.Close(fd)
		return errClientLimit
	}
	if pc.remote.IsValid() {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as Go does for its TCP sockets
		if ps.cfg().TCPKeepalive {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		}
	}
	ps.connOpened(false)
	if logging.Enabled(logging.Notice) { // not even the address's making otherwise
		logging.Noticef("accepted client %s on pool %s", pc.remoteString(), ps.cfg().Name)
	}
	ps.proxy.sleep(pc, nil)
	if ps.proxy.isClosed() {
		return errProxyClosed
	}
	return nil
}

// connOpened counts a client connection in, with countClient;
// connClosed out: closed, or handed over to another process.
func (ps *poolServer) connOpened(tls bool) {
	ps.proxy.stats.AddConn()
	ps.pool().Stats.ClientConnections.Add(1)
	if tls {
		ps.pool().Stats.TLS.Clients.Add(1)
	}
}

func (ps *poolServer) connClosed(tls bool) {
	ps.pool().Stats.ClientConnections.Add(-1)
	if tls {
		ps.pool().Stats.TLS.Clients.Add(-1)
	}
	ps.proxy.stats.DoneConn()
	ps.clients.add(-1)
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
	ps.connOpened(sock != nil)
	if sock != nil {
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

// trackWoken tracks a client woken from the parker (see track).
func (p *Proxy) trackWoken(c *client) bool {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	p.asleep--
	if p.isClosed() {
		p.signalIfEmptyLocked()
		return false
	}
	p.clients[c] = struct{}{}
	p.goroutines.Add(1)
	return true
}

// untrack forgets a client whose connection is closed (or handed over):
// out of the counts, then out of the registry, then out of what Close
// waits for. Counted out first, so that a HandOver that finds no client
// left (forgetLocked tells it) finds the pool's stats without it too.
func (p *Proxy) untrack(c *client) {
	c.ps.connClosed(c.tlsSock != nil)
	p.clientsMu.Lock()
	p.forgetLocked(c)
	p.clientsMu.Unlock()
	p.goroutines.Done() // see track
}

// untrackLocked forgets a client struct whose connection is parked as a
// parkedConn.
func (p *Proxy) untrackLocked(c *client) {
	p.forgetLocked(c)
	p.goroutines.Done() // see track
}

func (p *Proxy) forgetLocked(c *client) {
	delete(p.clients, c)
	p.signalIfEmptyLocked()
}

// signalIfEmptyLocked tells a HandOver under way that no client is left.
func (p *Proxy) signalIfEmptyLocked() {
	if h := p.handover; h != nil && len(p.clients)+p.asleep == 0 {
		h.signalEmpty()
	}
}

// clientList appends every client struct to buf: a snapshot, to act on without
// the registry's lock.
func (p *Proxy) clientList(buf []*client) []*client {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	for c := range p.clients {
		buf = append(buf, c)
	}
	return buf
}

// clientCount returns how many clients there are, parked ones too.
func (p *Proxy) clientCount() int {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	return len(p.clients) + p.asleep
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
	p.closeParked(func(*parkedConn) bool { return true })
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
