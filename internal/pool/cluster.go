package pool

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/cluster"
	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// A cluster pool (redis_cluster) fronts a Redis Cluster. Its servers are
// the cluster's masters, found through the configured servers (seeds) and
// the masters known before; a key goes to the master of its slot (CRC16 of
// the key or its {hash tag}, mod 16384). The slot map is fetched again
// every clusterRefresh, on a MOVED to a master the pool does not have, and
// when asked (Refresh), and soon after a master's connection fails or a
// request finds its slot without a master. A
// change of slots only is applied in place; a
// change of masters builds the next pool, as a reload would (the masters
// kept keep their connections and counters), and hands it to Replaced.

// clusterRefresh is how often a cluster pool fetches the slot map anyway;
// clusterRefreshGap is the least time between two fetches, however often
// one is asked for (every failed request to a dead master asks).
const (
	clusterRefresh    = 5 * time.Second
	clusterRefreshGap = 50 * time.Millisecond
)

// clusterPool is a cluster pool's own state.
type clusterPool struct {
	readBufferSize int
	proc           *stats.Process
	slots          atomic.Pointer[cluster.Map] // the map in use

	mu       sync.Mutex // serialises refreshes
	replaced bool       // a next pool took over: refreshes are its job

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// Replaced is called with the pool that takes over from a cluster pool
// whose masters changed; the proxy serves it as it would a reloaded one.
// It is set once, before the pool is used.
type Replaced func(next *Pool)

// clusterOptions are the cluster settings of pool cfg. With server_tls
// the map is fetched with TLS and names the masters' TLS ports.
func clusterOptions(cfg *config.Pool) cluster.Options {
	return cluster.Options{Timeout: cfg.Timeout, Password: cfg.RedisAuth, TLS: cfg.ServerTLS.Config}
}

// discoverCluster fetches the slot map from the seeds, and from the
// masters prev knew.
func discoverCluster(cfg *config.Pool, prev *Pool) (*cluster.Map, error) {
	var addrs []string
	if prev != nil && prev.cluster != nil {
		addrs = append(addrs, prev.cluster.slots.Load().Masters()...)
	}
	for _, s := range cfg.Servers {
		addrs = append(addrs, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	}
	m, err := cluster.Discover(context.Background(), addrs, clusterOptions(cfg))
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", cfg.Name, err)
	}
	return m, nil
}

// masterServers returns the servers of a cluster pool: its masters, named
// by their addresses.
func masterServers(cfg *config.Pool, m *cluster.Map) []config.Server {
	var servers []config.Server
	for _, addr := range m.Masters() {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		servers = append(servers, config.Server{Addr: addr, Network: "tcp", Host: host, Port: p, Weight: 1, RingName: addr, Line: cfg.Line})
	}
	return servers
}

// slotTable maps a slot to the index in Servers of its master, -1 for
// none.
type slotTable [hashkit.ClusterSlots]int16

// slotTableOf maps m's slots to the servers of p, named by address.
func (p *Pool) slotTableOf(m *cluster.Map) *slotTable {
	index := make(map[string]int16, len(p.Servers))
	for i, s := range p.Servers {
		index[s.Config.RingName] = int16(i)
	}
	t := &slotTable{}
	for slot := range t {
		t[slot] = -1
		if owner := m.Owner[slot]; owner >= 0 {
			if i, ok := index[m.Shards[owner].Master]; ok {
				t[slot] = i
			}
		}
	}
	return t
}

// buildClusterRouting routes by the slot table of m: every master is
// live (the cluster fails over itself).
func (p *Pool) buildClusterRouting(m *cluster.Map) {
	rt := &routing{slots: p.slotTableOf(m), live: p.Servers}
	for i := range p.Servers {
		rt.index = append(rt.index, uint32(i))
	}
	p.routing.Store(rt)
}

// startCluster starts the refreshes of a new cluster pool built from m.
func (p *Pool) startCluster(m *cluster.Map, readBufferSize int, proc *stats.Process) {
	p.cluster = &clusterPool{readBufferSize: readBufferSize, proc: proc,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	p.cluster.slots.Store(m)
	p.Stats.Cluster.Store(true)
	p.buildClusterRouting(m)
	go p.refreshLoop()
}

// SetReplaced sets what is called when the pool's masters change.
func (p *Pool) SetReplaced(f Replaced) { p.onReplaced.Store(&f) }

// refreshLoop fetches the slot map every clusterRefresh and when kicked,
// until the pool is retired or closed.
func (p *Pool) refreshLoop() {
	cp := p.cluster
	defer close(cp.done)
	tick := time.NewTicker(clusterRefresh)
	defer tick.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-cp.stop:
			return
		case <-tick.C:
		case <-cp.kick:
		}
		select {
		case <-cp.stop:
			return
		case <-gap.C:
		}
		p.Refresh()
		gap.Reset(clusterRefreshGap)
	}
}

// Kick asks a cluster pool to fetch the slot map soon, without waiting.
func (p *Pool) Kick() {
	if p.cluster != nil {
		select {
		case p.cluster.kick <- struct{}{}:
		default:
		}
	}
}

// Refresh fetches the slot map now and applies it: in place when only
// slots moved, else through a next pool (Replaced). It returns when done.
func (p *Pool) Refresh() {
	if next := p.refresh(); next != nil {
		(*p.onReplaced.Load())(next) // not under cp.mu: the proxy takes its reload lock
	}
}

// refresh fetches and applies the slot map; it returns the next pool when
// the masters changed.
func (p *Pool) refresh() *Pool {
	cp := p.cluster
	if cp == nil {
		return nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.replaced {
		return nil
	}
	m, err := discoverCluster(p.Config, p)
	p.Stats.MapFetches.Add(1)
	if err != nil {
		logging.Warnf("%v", err) // the map in use stays
		return nil
	}
	cur := cp.slots.Load()
	if m.Equal(cur) {
		return nil
	}
	p.Stats.MapEpoch.Add(1)
	if slices.Equal(m.Masters(), cur.Masters()) {
		cp.slots.Store(m)
		p.buildClusterRouting(m)
		return nil
	}
	if p.onReplaced.Load() == nil {
		return nil
	}
	next, err := newWithMap(p.Config, cp.readBufferSize, cp.proc, p, m)
	if err != nil {
		logging.Warnf("pool %s: the cluster's new masters: %v", p.Config.Name, err)
		return nil
	}
	cp.replaced = true
	logging.Noticef("pool %s: the cluster's masters are now %v", p.Config.Name, m.Masters())
	return next
}

// Moved records a MOVED: slot lives on addr now. It returns the pool's
// server at addr, or nil when the pool has no such master (then a refresh
// is asked for).
func (p *Pool) Moved(slot int, addr string) *Server {
	s := p.ServerAt(addr)
	if s == nil || p.cluster == nil {
		p.Kick()
		return s
	}
	for {
		rt := p.routing.Load()
		if rt.slots == nil || rt.slots[slot] == int16(s.index) {
			return s
		}
		next := *rt
		slots := *rt.slots
		slots[slot] = int16(s.index)
		next.slots = &slots
		if p.routing.CompareAndSwap(rt, &next) {
			p.Kick() // the rest of the move shows in the map
			return s
		}
	}
}

// ServerAt returns the server whose address is addr, or nil.
func (p *Pool) ServerAt(addr string) *Server {
	for _, s := range p.Servers {
		if s.Config.RingName == addr {
			return s
		}
	}
	return nil
}

// IsCluster reports whether the pool fronts a Redis Cluster.
func (p *Pool) IsCluster() bool { return p.cluster != nil }

// SlotServer returns the master of slot, or nil when none serves it
// (then the map is fetched again soon: a master failed, and its replica
// may be taking over).
func (p *Pool) SlotServer(slot int) *Server {
	rt := p.routing.Load()
	if i := rt.slots[slot]; i >= 0 {
		return p.Servers[i]
	}
	p.Kick()
	return nil
}

// RouteSlots sets slots[i] to the slot of keys[i*step].
func RouteSlots(slots []uint32, keys [][]byte, step int) {
	for i := range slots {
		slots[i] = uint32(hashkit.ClusterSlot(keys[i*step]))
	}
}

// stopCluster stops the refreshes of a retired or closed pool.
func (p *Pool) stopCluster() {
	if cp := p.cluster; cp != nil {
		select {
		case <-cp.stop:
		default:
			close(cp.stop)
		}
		<-cp.done
	}
}
