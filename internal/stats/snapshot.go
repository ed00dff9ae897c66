package stats

import (
	"slices"
	"time"
)

// A Snapshot is a plain copy of a Process's counters and gauges, for
// summing the stats of several processes: a worker sends its Snapshot to
// its master, which merges them and renders the sum through
// Snapshot.Process. A Snapshot round-trips through encoding/json.
//
// Pools are matched by name, and servers by name within a pool; a name
// that occurs twice matches by occurrence (the second with the second).
type Snapshot struct {
	TotalConnections int64          `json:"total_connections"`
	CurrConnections  int64          `json:"curr_connections"`
	Pools            []PoolSnapshot `json:"pools"`
}

// PoolSnapshot is a pool's part of a Snapshot.
type PoolSnapshot struct {
	Name         string           `json:"name"`
	Values       [6]int64         `json:"values"` // in PoolMetrics order
	SlowRequests int64            `json:"slow_requests"`
	Servers      []ServerSnapshot `json:"servers"`
	// A cluster pool's (see Pool.Cluster).
	Cluster      bool        `json:"cluster,omitempty"`
	Redirections [3]int64    `json:"redirections"`
	MapFetches   int64       `json:"map_fetches,omitempty"`
	MapEpoch     int64       `json:"map_epoch,omitempty"`
	TLS          TLSSnapshot `json:"tls"`
}

// ServerSnapshot is a server's part of a Snapshot.
type ServerSnapshot struct {
	Name       string                         `json:"name"`
	Values     [13]int64                      `json:"values"`      // in ServerMetrics order
	Latency    [len(latencyBounds) + 1]uint64 `json:"latency"`     // per bucket, not cumulative; last is +Inf
	LatencySum int64                          `json:"latency_sum"` // nanoseconds
	// Out of its pool's ring now (see Server.Ejected).
	Ejected bool `json:"ejected,omitempty"`
	// A sentinel group's (see Server.Group).
	Group     bool   `json:"group,omitempty"`
	Failovers int64  `json:"failovers,omitempty"`
	Master    string `json:"master,omitempty"`
}

// serverEjectedAt is the index of server_ejected_at in ServerMetrics: a
// timestamp, which Merge takes the latest of instead of summing.
const serverEjectedAt = 4

// Snapshot copies p's counters and gauges.
func (p *Process) Snapshot() *Snapshot {
	pools := p.poolList()
	s := &Snapshot{
		TotalConnections: p.TotalConnections.Load(),
		CurrConnections:  p.CurrConnections.Load(),
		Pools:            make([]PoolSnapshot, 0, len(pools)),
	}
	for _, pool := range pools {
		servers := pool.serverList()
		ps := PoolSnapshot{
			Name:         pool.Name,
			Values:       pool.values(),
			SlowRequests: pool.SlowRequests.Load(),
			Servers:      make([]ServerSnapshot, 0, len(servers)),
			Cluster:      pool.Cluster.Load(),
			MapFetches:   pool.MapFetches.Load(),
			MapEpoch:     pool.MapEpoch.Load(),
			TLS:          pool.TLS.snapshot(),
		}
		for i := range ps.Redirections {
			ps.Redirections[i] = pool.Redirections[i].Load()
		}
		for _, srv := range servers {
			counts, _, sum := srv.latencySnapshot()
			ps.Servers = append(ps.Servers, ServerSnapshot{
				Name:       srv.Name,
				Values:     srv.values(),
				Latency:    counts,
				LatencySum: int64(sum),
				Ejected:    srv.Ejected.Load(),
				Group:      srv.Group,
				Failovers:  srv.Failovers.Load(),
				Master:     srv.Master(),
			})
		}
		s.Pools = append(s.Pools, ps)
	}
	return s
}

// Process returns a new Process showing exactly s, for AppendJSON and
// the Prometheus collector to render.
func (s *Snapshot) Process(source, version string, start time.Time) *Process {
	p := &Process{Source: source, Version: version, Start: start, Pools: make([]*Pool, 0, len(s.Pools))}
	p.TotalConnections.Store(s.TotalConnections)
	p.CurrConnections.Store(s.CurrConnections)
	for _, ps := range s.Pools {
		pool := &Pool{Name: ps.Name, Servers: make([]*Server, 0, len(ps.Servers))}
		for i, f := range pool.fields() {
			f.Store(ps.Values[i])
		}
		pool.SlowRequests.Store(ps.SlowRequests)
		pool.Cluster.Store(ps.Cluster)
		pool.MapFetches.Store(ps.MapFetches)
		pool.MapEpoch.Store(ps.MapEpoch)
		pool.TLS.store(ps.TLS)
		for i, v := range ps.Redirections {
			pool.Redirections[i].Store(v)
		}
		for _, ss := range ps.Servers {
			srv := &Server{Name: ss.Name, Group: ss.Group}
			for i, f := range srv.fields() {
				f.Store(ss.Values[i])
			}
			srv.Ejected.Store(ss.Ejected)
			srv.Failovers.Store(ss.Failovers)
			srv.SetMaster(ss.Master)
			for i, c := range ss.Latency {
				srv.latency.counts[i].Store(int64(c))
			}
			srv.latency.sumNanos.Store(ss.LatencySum)
			pool.Servers = append(pool.Servers, srv)
		}
		p.Pools = append(p.Pools, pool)
	}
	return p
}

// Merge adds o into s: every value is summed, gauges too, except
// server_ejected_at, which takes the later time, and Ejected, true when
// either is. Pools and servers of o that s lacks are appended, in o's
// order.
func (s *Snapshot) Merge(o *Snapshot) { s.add(o, true) }

// AddExisting adds o into s as Merge does, but only into the pools and
// servers s has: those only o has are ignored.
func (s *Snapshot) AddExisting(o *Snapshot) { s.add(o, false) }

func (s *Snapshot) add(o *Snapshot, appendMissing bool) {
	s.TotalConnections += o.TotalConnections
	s.CurrConnections += o.CurrConnections
	m := newMatcher(s.Pools, func(p PoolSnapshot) string { return p.Name })
	for _, op := range o.Pools {
		if i := m.next(op.Name); i >= 0 {
			s.Pools[i].add(&op, appendMissing)
		} else if appendMissing {
			op.Servers = slices.Clone(op.Servers)
			s.Pools = append(s.Pools, op)
		}
	}
}

func (p *PoolSnapshot) add(o *PoolSnapshot, appendMissing bool) {
	for i, v := range o.Values {
		p.Values[i] += v
	}
	p.SlowRequests += o.SlowRequests
	// Each process fetches and follows the slot map itself.
	p.Cluster = p.Cluster || o.Cluster
	for i, v := range o.Redirections {
		p.Redirections[i] += v
	}
	p.MapFetches += o.MapFetches
	p.MapEpoch = max(p.MapEpoch, o.MapEpoch)
	p.TLS.add(o.TLS)
	m := newMatcher(p.Servers, func(s ServerSnapshot) string { return s.Name })
	for _, so := range o.Servers {
		if i := m.next(so.Name); i >= 0 {
			p.Servers[i].add(&so)
		} else if appendMissing {
			p.Servers = append(p.Servers, so)
		}
	}
}

func (s *ServerSnapshot) add(o *ServerSnapshot) {
	for i, v := range o.Values {
		if i == serverEjectedAt {
			s.Values[i] = max(s.Values[i], v)
		} else {
			s.Values[i] += v
		}
	}
	for i, c := range o.Latency {
		s.Latency[i] += c
	}
	s.LatencySum += o.LatencySum
	// Each process ejects a server on the failures it sees itself.
	s.Ejected = s.Ejected || o.Ejected
	// Each process follows the sentinels itself and sees the same
	// failovers: the count is theirs, not their sum; they agree on the
	// master but for the moment of a failover, when the first one's word
	// is taken.
	s.Group = s.Group || o.Group
	s.Failovers = max(s.Failovers, o.Failovers)
	if s.Master == "" {
		s.Master = o.Master
	}
}

// A matcher finds elements by name: each name's occurrences, in order,
// are matched once each.
type matcher map[string][]int

func newMatcher[T any](xs []T, nameOf func(T) string) matcher {
	m := make(matcher, len(xs))
	for i, x := range xs {
		m[nameOf(x)] = append(m[nameOf(x)], i)
	}
	return m
}

// next returns the index of name's next unmatched occurrence, or -1.
func (m matcher) next(name string) int {
	idx := m[name]
	if len(idx) == 0 {
		return -1
	}
	m[name] = idx[1:]
	return idx[0]
}

// WithoutGauges returns a copy of s with every gauge zeroed (those
// Prometheus exports as gauges, and curr_connections): what remains of a
// process that has exited, so that adding it keeps counters from going
// backwards without counting its connections as open.
func (s *Snapshot) WithoutGauges() *Snapshot {
	c := &Snapshot{TotalConnections: s.TotalConnections, Pools: make([]PoolSnapshot, len(s.Pools))}
	for i, ps := range s.Pools {
		for j, f := range poolSpecs {
			if f.typ == gauge {
				ps.Values[j] = 0
			}
		}
		ps.Servers = slices.Clone(ps.Servers)
		for k := range ps.Servers {
			for j, f := range serverSpecs {
				if f.typ == gauge {
					ps.Servers[k].Values[j] = 0
				}
			}
			ps.Servers[k].Master = "" // where an exited process saw it
			ps.Servers[k].Ejected = false
		}
		c.Pools[i] = ps
	}
	return c
}
