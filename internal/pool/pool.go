// Package pool is one twemproxy server pool: the protocol it speaks (as
// the configuration says: package resp or mc), its servers, their
// connections, the key distribution over the live servers and
// auto-ejection.
//
// Routing state (the continuum over live servers) is immutable and swapped
// atomically when a server is ejected or comes back; Route never locks.
package pool

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/backend"
	"github.com/nutcracker-go/nutcracker/internal/cluster"
	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/dist"
	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/proto/mc"
	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// Pool routes keys to servers.
type Pool struct {
	Config   *config.Pool
	Protocol proto.Protocol // resp or mc, as the configuration says
	Servers  []*Server      // in twemproxy's order (sorted by ring name)
	Stats    *stats.Pool

	hash    hashkit.Func
	tag     []byte
	watcher watcher // a sentinel pool's; nil for others
	// A cluster pool's (see cluster.go); nil for others.
	cluster    *clusterPool
	onReplaced atomic.Pointer[Replaced]
	routing    atomic.Pointer[routing]

	mu      sync.Mutex // serialises rebuilds
	closed  bool
	rebuild *time.Timer
}

// routing is the continuum over the servers that were live when it was
// built, or a cluster pool's slot table.
type routing struct {
	continuum dist.Continuum
	live      []*Server  // continuum index -> server
	index     []uint32   // continuum index -> index in Servers
	allLive   bool       // no server is ejected: index is the identity
	slots     *slotTable // a cluster pool's: slot -> index in Servers
}

// Server is one backend of a pool with its connections.
type Server struct {
	Config *config.Server
	Stats  *stats.Server
	pool   *Pool
	index  int
	conns  []*backend.Conn // dialect 0's connections: sets' first set
	sets   *connSets       // its connections, one set per dialect of the protocol
	reused bool            // a reload handed sets to a newer pool's server

	failures     atomic.Int32
	ejectedUntil atomic.Int64 // unix nanos; 0 = not ejected
	outOfRing    atomic.Bool  // the current routing leaves the server out

	failLog logging.Recurring // its lines: the first failure, counts, the recovery
	logName string            // "server <name> of pool <pool>", made once: failures are many

	// moves is where a sentinel group's master is (see Follow); nil for
	// a server of fixed address.
	moves *backend.Address

	pinMu   sync.Mutex
	pinIdle [proto.NumDialects][]*backend.Conn // clients' own connections given back, for the next transaction
	pinOut  map[*backend.Conn]bool             // those clients hold now, for Follow to break
	pinShut bool                               // the pool is closed: given-back connections are closed
}

// connSets are a server's connections: one set of n per dialect of the
// protocol (proto.NumDialects), made with that dialect's options. The
// first set is made with the server, the others when a client first
// needs them: most pools never need a second. A reload hands them on to
// the next pool's server of the same name.
type connSets struct {
	opts   [proto.NumDialects]*backend.Options
	sets   [proto.NumDialects]atomic.Pointer[[]*backend.Conn]
	n      int
	tls    string        // the digest of the TLS files the conns were made with (config.ServerTLS)
	events *serverEvents // the conns' health events go to the Server owning them

	mu     sync.Mutex // serialises opening a set with closing them all
	closed bool
}

// get returns the connections of dialect d, opening them if need be.
func (cs *connSets) get(d uint8) []*backend.Conn {
	if set := cs.sets[d].Load(); set != nil {
		return *set
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if set := cs.sets[d].Load(); set != nil {
		return *set
	}
	set := make([]*backend.Conn, cs.n)
	for i := range set {
		set[i] = backend.New(cs.opts[d])
		if cs.closed { // the pool is gone: its requests fail at once
			set[i].Close()
		}
	}
	cs.sets[d].Store(&set)
	return set
}

// close returns every connection opened so far; none opens after it.
func (cs *connSets) close() []*backend.Conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.closed = true
	return cs.allLocked()
}

// all returns every connection opened so far.
func (cs *connSets) all() []*backend.Conn {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.allLocked()
}

func (cs *connSets) allLocked() []*backend.Conn {
	var all []*backend.Conn
	for d := range cs.sets {
		if set := cs.sets[d].Load(); set != nil {
			all = append(all, *set...)
		}
	}
	return all
}

// ProtocolOf returns the protocol a pool speaks: Redis's when the
// configuration says redis: true, else memcached's.
func ProtocolOf(cfg *config.Pool) proto.Protocol {
	if cfg.Redis {
		return resp.Protocol{}
	}
	return mc.Protocol{}
}

// New builds a pool and its (idle) server connections, which speak the
// pool's protocol (with its handshake: redis AUTH and SELECT); proc, if
// not nil, counts the server connections.
//
// prev, if not nil, is the pool this one replaces (a configuration
// reload): a server of prev with the same name, address and connection
// settings lends this pool its connections and counters, so its clients'
// requests and its stats go on undisturbed. Call prev.Retire after the
// new pool is in use.
func New(cfg *config.Pool, readBufferSize int, proc *stats.Process, prev *Pool) (*Pool, error) {
	var slots *cluster.Map
	if cfg.RedisCluster { // before prev lends anything: this may refuse the pool
		var err error
		if slots, err = discoverCluster(cfg, prev); err != nil {
			return nil, err
		}
	}
	return newWithMap(cfg, readBufferSize, proc, prev, slots)
}

// newWithMap is New, with the slot map of a cluster pool fetched.
func newWithMap(cfg *config.Pool, readBufferSize int, proc *stats.Process, prev *Pool, slots *cluster.Map) (*Pool, error) {
	hash, ok := hashkit.ByName(cfg.Hash)
	if !ok {
		return nil, fmt.Errorf("pool %s: unknown hash %q", cfg.Name, cfg.Hash)
	}
	p := &Pool{Config: cfg, Protocol: ProtocolOf(cfg), hash: hash, tag: []byte(cfg.HashTag), Stats: &stats.Pool{Name: cfg.Name}}
	if prev != nil && prev.Config.Name == cfg.Name {
		p.Stats = prev.Stats // counters go on; the server list is rebuilt below
	}
	if cfg.ServerTLS.Config != nil || cfg.ClientTLS.Config != nil {
		p.Stats.TLS.Used.Store(true)
	}
	var masters map[string]string
	if len(cfg.Groups) > 0 { // before prev lends anything: this may refuse the pool
		var err error
		if masters, err = discover(cfg, sentinelOptions(cfg, nil)); err != nil {
			return nil, err
		}
	}
	var statServers []*stats.Server
	servers := cfg.Servers
	switch {
	case len(cfg.Groups) > 0:
		servers = groupServers(cfg)
	case slots != nil:
		servers = masterServers(cfg, slots)
	}
	for i := range servers {
		sc := &servers[i]
		s := &Server{Config: sc, pool: p, index: i, logName: "server " + sc.RingName + " of pool " + cfg.Name}
		addr := sc.Addr
		if sc.Network == "tcp" && sc.Addr != "" {
			addr = net.JoinHostPort(sc.Host, strconv.Itoa(sc.Port))
		}
		if sc.Addr == "" { // a sentinel group's master, found later
			s.moves = backend.NewAddress(errNoMaster(sc.RingName))
		}
		sets := &connSets{n: cfg.ServerConnections, tls: cfg.ServerTLS.Digest}
		for d := range sets.opts {
			sets.opts[d] = &backend.Options{
				Network:     sc.Network,
				Addr:        addr,
				Moves:       s.moves,
				TLS:         cfg.ServerTLS.Config,
				TLSFailures: &p.Stats.TLS.ServerFailures,
				// memcached 1.6's TLS stalls on pipelined requests.
				OneInFlight:    cfg.ServerTLS.Config != nil && !cfg.Redis,
				Timeout:        cfg.Timeout,
				KeepAlive:      cfg.TCPKeepalive,
				NewFramer:      p.Protocol.NewFramer,
				Handshake:      p.Protocol.Handshake(cfg.RedisAuth, cfg.RedisDB, uint8(d)),
				ReadBufferSize: readBufferSize,
			}
		}
		if old := prev.reusable(sc.RingName, sets); old != nil {
			old.reused = true
			s.conns, s.sets, s.Stats, s.moves = old.conns, old.sets, old.Stats, old.moves
			s.sets.events.server.Store(s)
		} else {
			s.Stats = &stats.Server{Name: sc.RingName, Process: proc, Group: s.moves != nil}
			sets.events = &serverEvents{}
			sets.events.server.Store(s)
			for _, o := range sets.opts {
				o.Events, o.Stats = sets.events, s.Stats
			}
			s.sets, s.conns = sets, sets.get(0)
		}
		statServers = append(statServers, s.Stats)
		p.Servers = append(p.Servers, s)
	}
	p.Stats.SetServers(statServers)
	if slots != nil {
		p.startCluster(slots, readBufferSize, proc)
		return p, nil
	}
	if err := p.buildRouting(0); err != nil {
		p.Close()
		return nil, err
	}
	if len(cfg.Groups) > 0 {
		p.followSentinels(masters)
	}
	return p, nil
}

// reusable returns the server of p (which may be nil) named name whose
// connections were made with the same settings as sets', or nil.
func (p *Pool) reusable(name string, sets *connSets) *Server {
	if p == nil {
		return nil
	}
	for _, s := range p.Servers {
		if s.Config.RingName == name && !s.reused && s.sets.n == sets.n && sameOptions(s.sets, sets) {
			return s
		}
	}
	return nil
}

// sameOptions reports whether a's connections and b's are made alike.
func sameOptions(a, b *connSets) bool {
	if a.tls != b.tls {
		return false
	}
	for d := range a.opts {
		o, n := a.opts[d], b.opts[d]
		if o.Network != n.Network || o.Addr != n.Addr || (o.Moves == nil) != (n.Moves == nil) || o.Timeout != n.Timeout ||
			o.KeepAlive != n.KeepAlive || o.ReadBufferSize != n.ReadBufferSize ||
			!slices.EqualFunc(o.Handshake, n.Handshake, bytes.Equal) {
			return false
		}
	}
	return true
}

// Retire ends a pool replaced by a reload: the connections of servers the
// new pool did not take over are closed once their requests are answered,
// or after grace at most, or when abort is closed. It returns when they
// are closed.
func (p *Pool) Retire(grace time.Duration, abort <-chan struct{}) {
	p.mu.Lock()
	p.closed = true
	if p.rebuild != nil {
		p.rebuild.Stop()
	}
	p.mu.Unlock()
	if p.watcher != nil {
		p.watcher.Close()
	}
	p.stopCluster()
	var wg sync.WaitGroup
	for _, s := range p.Servers {
		s.closePins() // a client's own connection is closed when it gives it back
		if s.reused {
			continue
		}
		for _, c := range s.sets.close() {
			wg.Go(func() { c.CloseWhenIdle(grace, abort) })
		}
	}
	wg.Wait()
}

// serverEvents passes a connection's health events to the server that
// owns it now: a reload may hand the connection to a new Server.
type serverEvents struct{ server atomic.Pointer[Server] }

func (e *serverEvents) ServerOK()              { e.server.Load().ServerOK() }
func (e *serverEvents) ServerFailed(err error) { e.server.Load().ServerFailed(err) }

// Preconnect dials every server connection of dialect 0 now.
func (p *Pool) Preconnect() {
	for _, s := range p.Servers {
		for _, c := range s.conns {
			c.Connect()
		}
	}
}

// Route returns the server for key, or nil when no server is live.
func (p *Pool) Route(key []byte) *Server {
	rt := p.routing.Load()
	if rt.slots != nil {
		return p.SlotServer(int(hashkit.ClusterSlot(key)))
	}
	switch len(rt.live) {
	case 0:
		return nil
	case 1:
		return rt.live[0]
	}
	if len(p.tag) > 0 { // TagKey is not inlined: most pools have no tag
		key = hashkit.TagKey(key, p.tag)
	}
	return rt.live[rt.continuum.Pick(keyHash(p.hash, key))]
}

// RouteKeys routes the keys of a multi-key command, keys[0], keys[step],
// keys[2*step] and so on, as Route would, under one routing table: it
// sets route[i] to the index in Servers of the server of keys[i*step]. It
// reports false, leaving route undefined, when no server is live.
//
// Keys are hashed in one pass and placed in another: the hashes of
// successive keys overlap in the processor, where one key routed after
// another would wait for each hash and its ring search in turn.
func (p *Pool) RouteKeys(route []uint32, keys [][]byte, step int) bool {
	rt := p.routing.Load()
	if len(rt.live) == 0 {
		return false
	}
	if len(rt.live) > 1 {
		hash := p.hash
		if len(p.tag) > 0 {
			for i := range route {
				route[i] = keyHash(hash, hashkit.TagKey(keys[i*step], p.tag))
			}
		} else {
			for i := range route {
				route[i] = keyHash(hash, keys[i*step])
			}
		}
	}
	rt.continuum.PickEach(route)
	if !rt.allLive { // else a live server's index is its index in Servers
		for i, at := range route {
			route[i] = rt.index[at]
		}
	}
	return true
}

// keyHash is the hash a key routes by: none for an empty key, as in
// twemproxy.
func keyHash(hash hashkit.Func, key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	return hash(key)
}

// ServerOf returns the index in Servers of the server for key, or -1 when
// no server is live (proto.Router).
func (p *Pool) ServerOf(key []byte) int {
	if s := p.Route(key); s != nil {
		return s.index
	}
	return -1
}

// NumServers returns len(p.Servers) (proto.Router).
func (p *Pool) NumServers() int { return len(p.Servers) }

// LiveServers returns the servers in the ring, in the order of Servers.
// The slice is shared: do not modify it.
func (p *Pool) LiveServers() []*Server { return p.routing.Load().live }

// Live reports whether the pool has a server in the ring.
func (p *Pool) Live() bool { return len(p.routing.Load().live) > 0 }

// Any returns a live server for commands that have no key, or nil.
func (p *Pool) Any() *Server {
	rt := p.routing.Load()
	if len(rt.live) == 0 {
		return nil
	}
	return rt.live[0]
}

// Index returns the server's position in Servers.
func (s *Server) Index() int { return s.index }

// Name is the server's name in logs and stats.
func (s *Server) Name() string { return s.Config.RingName }

// Send queues r on the server's connection of dialect d for a client of
// affinity (Conn).
func (s *Server) Send(r *proto.Request, affinity uint32, d uint8) {
	s.Conn(affinity, d).Send(r)
}

// Conn returns the server's connection of dialect d a client of affinity
// sends on. A client always uses the same connection of a server (chosen
// by its affinity number), so its requests to that server run in order
// and it reads its own writes, which twemproxy does not promise with
// server_connections > 1.
func (s *Server) Conn(affinity uint32, d uint8) *backend.Conn {
	conns := s.conns
	if d != 0 {
		conns = s.sets.get(d)
	}
	if len(conns) > 1 {
		return conns[affinity%uint32(len(conns))]
	}
	return conns[0]
}

// maxIdlePins bounds the connections of clients' transactions a server
// keeps open for the next ones.
const maxIdlePins = 16

// Pin returns a connection of dialect d to the server for one client
// alone (a transaction): one given back earlier, or a new one. It is
// dialed once (backend.NewSingle): once broken, it fails whatever is
// sent on it.
func (s *Server) Pin(d uint8) *backend.Conn {
	var broken []*backend.Conn
	defer func() {
		for _, c := range broken { // quick: nothing is in flight on them
			c.Close()
		}
	}()
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	idle := &s.pinIdle[d]
	for n := len(*idle); n > 0; n = len(*idle) {
		c := (*idle)[n-1]
		*idle = (*idle)[:n-1]
		if !c.Broken() {
			s.pinOut[c] = true
			return c
		}
		broken = append(broken, c)
	}
	c := backend.NewSingle(s.sets.opts[d])
	if s.pinOut == nil {
		s.pinOut = map[*backend.Conn]bool{}
	}
	s.pinOut[c] = true
	return c
}

// ClosePin closes a connection from Pin whose client's state on it is
// void (a transaction left open).
func (s *Server) ClosePin(c *backend.Conn) {
	s.pinMu.Lock()
	delete(s.pinOut, c)
	s.pinMu.Unlock()
	c.Close()
}

// Unpin takes back a connection of dialect d from Pin, for another
// client, once its client has ended what it pinned the connection for; a
// broken one, or one too many, is closed. Requests still queued on it go
// first.
func (s *Server) Unpin(c *backend.Conn, d uint8) {
	s.pinMu.Lock()
	delete(s.pinOut, c)
	idle := &s.pinIdle[d]
	keep := !s.pinShut && !c.Broken() && len(*idle) < maxIdlePins
	if keep {
		*idle = append(*idle, c)
	}
	s.pinMu.Unlock()
	if !keep {
		go c.CloseWhenIdle(s.pool.Config.Timeout+backend.DefaultConnectTimeout, nil)
	}
}

// closePins closes the connections kept for transactions.
func (s *Server) closePins() {
	s.pinMu.Lock()
	idle := s.pinIdle
	s.pinIdle, s.pinShut = [proto.NumDialects][]*backend.Conn{}, true
	s.pinMu.Unlock()
	for _, set := range idle {
		for _, c := range set {
			c.Close()
		}
	}
}

// ServerOK resets the failure count (twemproxy: any good response) and logs
// the recovery of a failing server. It is called on every batch of replies:
// when all is well it costs one atomic load.
func (s *Server) ServerOK() {
	// failLog is failing whenever failures is above 0: ServerFailed adds
	// to failures, then tells failLog.
	if s.failLog.Failing() {
		s.failures.Store(0)
		s.failLog.Recover(logging.Warn, s.logName)
	}
}

// ServerFailed counts a failure and ejects the server when the pool says so.
// A server that keeps failing logs its first failure, then a count every
// logging.RecurringPeriod, not a line per failure.
func (s *Server) ServerFailed(err error) {
	s.pool.Kick() // a cluster's master may have failed over
	n := s.failures.Add(1)
	cfg := s.pool.Config
	s.failLog.Fail(logging.Warn, s.logName, err)
	if !cfg.AutoEjectHosts || int(n) < cfg.ServerFailureLimit {
		return
	}
	if !s.ejectedUntil.CompareAndSwap(0, time.Now().Add(cfg.ServerRetryTimeout).UnixNano()) {
		return
	}
	s.failures.Store(0)
	s.Stats.EjectedAt.Store(time.Now().UnixMicro())
	s.pool.Stats.ServerEjects.Add(1)
	logging.Warnf("ejecting server %s of pool %s for %v after %d failures",
		s.Name(), cfg.Name, cfg.ServerRetryTimeout, n)
	s.pool.updateRouting()
}

// Ejected reports whether the current routing leaves the server out.
func (s *Server) Ejected() bool { return s.outOfRing.Load() }

// updateRouting rebuilds the continuum from live servers, first putting
// back those whose retry timeout has passed, and schedules the next return.
func (p *Pool) updateRouting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now().UnixNano()
	if err := p.buildRouting(now); err != nil {
		logging.Errorf("pool %s: %v", p.Config.Name, err)
	}
	// Clear the returned servers' marks only once the ring has them, so
	// Ejected never reports false while routing still avoids the server.
	var next int64
	for _, s := range p.Servers {
		switch until := s.ejectedUntil.Load(); {
		case until == 0:
		case until <= now:
			s.ejectedUntil.Store(0)
			logging.Noticef("server %s of pool %s back in the ring", s.Name(), p.Config.Name)
		case next == 0 || until < next:
			next = until
		}
	}
	if p.rebuild != nil {
		p.rebuild.Stop()
		p.rebuild = nil
	}
	if next != 0 {
		p.rebuild = time.AfterFunc(time.Duration(next-now), p.updateRouting)
	}
}

// buildRouting makes the continuum over the servers that are not ejected
// at time now.
func (p *Pool) buildRouting(now int64) error {
	rt := &routing{}
	var ring []dist.Server
	out := make([]bool, len(p.Servers))
	for i, s := range p.Servers {
		if until := s.ejectedUntil.Load(); until > now {
			out[i] = true
			continue
		}
		rt.live = append(rt.live, s)
		rt.index = append(rt.index, uint32(i))
		ring = append(ring, dist.Server{Name: s.Config.RingName, Weight: s.Config.Weight})
	}
	rt.allLive = len(rt.live) == len(p.Servers)
	if len(ring) > 0 {
		c, err := dist.New(p.Config.Distribution, ring)
		if err != nil {
			return fmt.Errorf("pool %s: %w", p.Config.Name, err)
		}
		rt.continuum = c
	}
	p.routing.Store(rt)
	for i, s := range p.Servers {
		s.Stats.Ejected.Store(out[i])
		s.outOfRing.Store(out[i])
	}
	return nil
}

// Close closes every server connection; their requests fail.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	if p.rebuild != nil {
		p.rebuild.Stop()
	}
	p.mu.Unlock()
	p.stopCluster()
	if p.watcher != nil {
		p.watcher.Close()
	}
	for _, s := range p.Servers {
		for _, c := range s.sets.close() {
			c.Close()
		}
		s.closePins()
	}
}
