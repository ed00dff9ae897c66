package stats

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// groupProcess is a process with a sentinel pool of two groups and a
// plain pool.
func groupProcess() *Process {
	a, b := &Server{Name: "shard-a", Group: true}, &Server{Name: "shard-b", Group: true}
	a.Failovers.Store(2)
	a.SetMaster("127.0.0.1:6380")
	return &Process{Source: "h", Version: "v", Start: time.Unix(0, 0), Pools: []*Pool{
		{Name: "sentinel", Servers: []*Server{a, b}},
		{Name: "plain", Servers: []*Server{{Name: "s1"}}},
	}}
}

// TestFailoverMetric: a sentinel group's server has server_failover after
// twemproxy's 13 metrics in the document, as twemproxy-163 has it; other
// servers do not; snapshots carry it, and the master, across processes.
func TestFailoverMetric(t *testing.T) {
	p := groupProcess()
	doc := string(p.AppendJSON(nil, time.Unix(10, 0)))
	for _, want := range []string{
		`"shard-a": {"server_eof":0, `, `"out_queue_bytes":0, "server_failover":2},"shard-b": {`,
		`"out_queue_bytes":0, "server_failover":0}},"plain": {`, `"s1": {"server_eof":0, `,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
	if strings.Count(doc, "server_failover") != 2 {
		t.Errorf("server_failover outside the groups:\n%s", doc)
	}

	if down := p.GroupsDown(); len(down) != 1 || down[0] != "sentinel/shard-b" {
		t.Errorf("GroupsDown = %q, want the group without a master", down)
	}

	// Two workers: they saw the same failovers and the same master.
	snap := p.Snapshot()
	raw, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	back.Merge(p.Snapshot())
	sum := back.Process("h", "v", time.Unix(0, 0))
	a := sum.Pools[0].Servers[0]
	if !a.Group || a.Failovers.Load() != 2 || a.Master() != "127.0.0.1:6380" || sum.Pools[1].Servers[0].Group {
		t.Errorf("merged: group %v, failovers %d, master %q", a.Group, a.Failovers.Load(), a.Master())
	}
	if gone := p.Snapshot().WithoutGauges(); gone.Pools[0].Servers[0].Failovers != 2 || gone.Pools[0].Servers[0].Master != "" {
		t.Errorf("an exited process keeps its failovers (a counter) and forgets its master: %+v", gone.Pools[0].Servers[0])
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{func() *Process { return p }})
	want := `
# HELP nutcracker_sentinel_master 1, labelled with a sentinel group's current master (addr is empty while none is known)
# TYPE nutcracker_sentinel_master gauge
nutcracker_sentinel_master{addr="127.0.0.1:6380",group="shard-a",pool="sentinel"} 1
nutcracker_sentinel_master{addr="",group="shard-b",pool="sentinel"} 1
# HELP nutcracker_server_failover_total # times a sentinel group's master moved (twemproxy-163's server_failover)
# TYPE nutcracker_server_failover_total counter
nutcracker_server_failover_total{pool="sentinel",server="shard-a"} 2
nutcracker_server_failover_total{pool="sentinel",server="shard-b"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nutcracker_sentinel_master", "nutcracker_server_failover_total"); err != nil {
		t.Error(err)
	}
}
