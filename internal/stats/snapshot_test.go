package stats

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fill gives every counter and gauge of p a distinct value and every
// server some latency observations.
func fill(p *Process) {
	n := int64(1)
	next := func() int64 { n++; return n }
	p.TotalConnections.Store(next())
	p.CurrConnections.Store(next())
	for _, pool := range p.Pools {
		for _, f := range pool.fields() {
			f.Store(next())
		}
		pool.SlowRequests.Store(next())
		for _, s := range pool.Servers {
			for _, f := range s.fields() {
				f.Store(next())
			}
			for _, d := range []time.Duration{time.Duration(next()) * time.Microsecond, time.Duration(next()) * time.Millisecond} {
				observe(s, d)
			}
			s.Ejected.Store(next()%3 == 0)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	dup := &Process{Pools: []*Pool{{Name: "p", Servers: []*Server{{Name: "s"}, {Name: "s"}}}, {Name: "empty"}}}
	for _, tc := range []struct {
		name string
		p    *Process
	}{
		{"twemproxy", testProcess()},
		{"no pools", &Process{Source: "h", Version: "v", Start: time.Unix(1e9, 0)}},
		{"duplicate names, no servers", dup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fill(tc.p)
			snap := tc.p.Snapshot()
			q := snap.Process(tc.p.Source, tc.p.Version, tc.p.Start)
			now := time.Now()
			if got, want := q.AppendJSON(nil, now), tc.p.AppendJSON(nil, now); !bytes.Equal(got, want) {
				t.Errorf("document differs:\ngot  %s\nwant %s", got, want)
			}
			// Snapshot again: what the document leaves out (latency,
			// slow requests) carried over too.
			if again := q.Snapshot(); !reflect.DeepEqual(again, snap) {
				t.Errorf("Process().Snapshot() = %+v, want %+v", again, snap)
			}
			b, err := json.Marshal(snap)
			if err != nil {
				t.Fatal(err)
			}
			var decoded Snapshot
			if err := json.Unmarshal(b, &decoded); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&decoded, snap) {
				t.Errorf("JSON round trip = %+v, want %+v\n%s", decoded, snap, b)
			}
		})
	}
}

// srv is a server whose values, latency buckets and latency sum are all v
// but for server_ejected_at.
func srv(name string, v, ejectedAt int64) ServerSnapshot {
	s := ServerSnapshot{Name: name, LatencySum: v}
	for i := range s.Values {
		s.Values[i] = v
	}
	s.Values[serverEjectedAt] = ejectedAt
	for i := range s.Latency {
		s.Latency[i] = uint64(v)
	}
	return s
}

// ejected is s out of the ring.
func ejected(s ServerSnapshot) ServerSnapshot {
	s.Ejected = true
	return s
}

// pool is a pool whose values and slow requests are all v.
func pool(name string, v int64, servers ...ServerSnapshot) PoolSnapshot {
	p := PoolSnapshot{Name: name, SlowRequests: v, Servers: servers}
	for i := range p.Values {
		p.Values[i] = v
	}
	return p
}

func TestMerge(t *testing.T) {
	if name := ServerMetrics[serverEjectedAt].Name; name != "server_ejected_at" {
		t.Fatalf("serverEjectedAt is %s", name)
	}
	for _, tc := range []struct {
		name            string
		s, o            func() *Snapshot
		merge, existing *Snapshot
	}{
		{
			name: "different pools and servers",
			s: func() *Snapshot {
				return &Snapshot{10, 1, []PoolSnapshot{pool("a", 1, srv("x", 1, 100), srv("y", 2, 0))}}
			},
			o: func() *Snapshot {
				return &Snapshot{20, 2, []PoolSnapshot{
					pool("b", 5, srv("w", 5, 0)),
					pool("a", 3, srv("z", 7, 0), srv("y", 4, 300), srv("x", 1, 50)),
				}}
			},
			merge: &Snapshot{30, 3, []PoolSnapshot{
				pool("a", 4, srv("x", 2, 100), srv("y", 6, 300), srv("z", 7, 0)),
				pool("b", 5, srv("w", 5, 0)),
			}},
			existing: &Snapshot{30, 3, []PoolSnapshot{pool("a", 4, srv("x", 2, 100), srv("y", 6, 300))}},
		},
		{
			name: "duplicate names match by occurrence",
			s: func() *Snapshot {
				return &Snapshot{0, 0, []PoolSnapshot{pool("a", 1, srv("d", 1, 0), srv("d", 2, 0))}}
			},
			o: func() *Snapshot {
				return &Snapshot{0, 0, []PoolSnapshot{pool("a", 1, srv("d", 10, 0), srv("d", 20, 0), srv("d", 30, 0))}}
			},
			merge:    &Snapshot{0, 0, []PoolSnapshot{pool("a", 2, srv("d", 11, 0), srv("d", 22, 0), srv("d", 30, 0))}},
			existing: &Snapshot{0, 0, []PoolSnapshot{pool("a", 2, srv("d", 11, 0), srv("d", 22, 0))}},
		},
		{
			name: "ejected where either is",
			s: func() *Snapshot {
				return &Snapshot{0, 0, []PoolSnapshot{pool("a", 1, ejected(srv("x", 1, 5)), srv("y", 1, 0), srv("z", 1, 0))}}
			},
			o: func() *Snapshot {
				return &Snapshot{0, 0, []PoolSnapshot{pool("a", 1, srv("x", 1, 0), ejected(srv("y", 1, 7)), srv("z", 1, 0))}}
			},
			merge:    &Snapshot{0, 0, []PoolSnapshot{pool("a", 2, ejected(srv("x", 2, 5)), ejected(srv("y", 2, 7)), srv("z", 2, 0))}},
			existing: &Snapshot{0, 0, []PoolSnapshot{pool("a", 2, ejected(srv("x", 2, 5)), ejected(srv("y", 2, 7)), srv("z", 2, 0))}},
		},
		{
			name:     "into an empty snapshot",
			s:        func() *Snapshot { return &Snapshot{} },
			o:        func() *Snapshot { return &Snapshot{4, 3, []PoolSnapshot{pool("a", 1, srv("x", 1, 9))}} },
			merge:    &Snapshot{4, 3, []PoolSnapshot{pool("a", 1, srv("x", 1, 9))}},
			existing: &Snapshot{4, 3, nil},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []struct {
				name string
				add  func(s, o *Snapshot)
				want *Snapshot
			}{
				{"Merge", (*Snapshot).Merge, tc.merge},
				{"AddExisting", (*Snapshot).AddExisting, tc.existing},
			} {
				got, o := tc.s(), tc.o()
				m.add(got, o)
				if !reflect.DeepEqual(got, m.want) {
					t.Errorf("%s = %+v\nwant %+v", m.name, got, m.want)
				}
				// The result shares nothing with o.
				for i := range got.Pools {
					for j := range got.Pools[i].Servers {
						got.Pools[i].Servers[j].Values[0]++
					}
				}
				if !reflect.DeepEqual(o, tc.o()) {
					t.Errorf("%s changed its argument: %+v", m.name, o)
				}
			}
		})
	}
}

func TestWithoutGauges(t *testing.T) {
	gauges := map[string]bool{
		"client_connections": true, "server_connections": true, "server_ejected_at": true,
		"in_queue": true, "in_queue_bytes": true, "out_queue": true, "out_queue_bytes": true,
	}
	s := &Snapshot{1, 1, []PoolSnapshot{pool("a", 1, ejected(srv("x", 1, 1)), srv("y", 1, 1))}}
	got := s.WithoutGauges()
	want := func(name string) int64 {
		if gauges[name] {
			return 0
		}
		return 1
	}
	if got.TotalConnections != 1 || got.CurrConnections != 0 {
		t.Errorf("total_connections %d, curr_connections %d; want 1, 0", got.TotalConnections, got.CurrConnections)
	}
	for _, p := range got.Pools {
		for i, v := range p.Values {
			if name := PoolMetrics[i].Name; v != want(name) {
				t.Errorf("pool %s: %s = %d, want %d", p.Name, name, v, want(name))
			}
		}
		if p.SlowRequests != 1 {
			t.Errorf("pool %s: slow requests %d, want 1", p.Name, p.SlowRequests)
		}
		for _, sv := range p.Servers {
			for i, v := range sv.Values {
				if name := ServerMetrics[i].Name; v != want(name) {
					t.Errorf("server %s: %s = %d, want %d", sv.Name, name, v, want(name))
				}
			}
			if sv.Ejected {
				t.Errorf("server %s: still ejected", sv.Name)
			}
			if sv.Latency != srv("", 1, 0).Latency || sv.LatencySum != 1 {
				t.Errorf("server %s: latency %v sum %d, want kept", sv.Name, sv.Latency, sv.LatencySum)
			}
		}
	}
	if orig := (&Snapshot{1, 1, []PoolSnapshot{pool("a", 1, ejected(srv("x", 1, 1)), srv("y", 1, 1))}}); !reflect.DeepEqual(s, orig) {
		t.Errorf("WithoutGauges changed its receiver: %+v", s)
	}
}

// TestServeView checks that Serve asks its view once per document and per
// scrape, and shows the extra collectors on /metrics.
func TestServeView(t *testing.T) {
	var calls atomic.Int64
	view := func() *Process {
		p := testProcess()
		p.TotalConnections.Store(calls.Add(1))
		return p
	}
	workers := prometheus.NewGauge(prometheus.GaugeOpts{Name: "nutcracker_master_workers", Help: "workers running"})
	workers.Set(4)
	addr := startView(t, view, nil, workers)

	doc, _ := rawExchange(t, addr)
	checkDocument(t, doc)
	if !strings.Contains(doc, `"total_connections":1, `) {
		t.Errorf("first document: %s", doc)
	}
	_, body := get(t, http.DefaultClient, "http://"+addr+"/stats")
	if !strings.Contains(body, `"total_connections":2, `) {
		t.Errorf("second document: %s", body)
	}
	_, body = get(t, http.DefaultClient, "http://"+addr+"/metrics")
	for _, line := range []string{"nutcracker_master_workers 4\n", "nutcracker_connections_total 3\n"} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q:\n%s", line, body)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("view called %d times for 3 requests", n)
	}
}
