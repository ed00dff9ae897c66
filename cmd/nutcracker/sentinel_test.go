package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestSentinelWorkers: with two workers, each follows the sentinels: when
// a group fails over, the writes of clients on every worker work again
// within 500 ms of the +switch-master of the sentinel they follow (one
// that did not lead the failover hears of it up to 0.8 s after the
// leader), also when the sentinel they followed was killed first; the stats document counts each failover
// once (server_failover), /metrics names the new master, /healthz is
// fine after it.
func TestSentinelWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	master := testutil.StartRedis(t)
	replica := testutil.StartReplica(t, master)
	watched := []testutil.SentinelMaster{{Name: "g1", Addr: master.Addr, Quorum: 2}}
	sentinels := testutil.StartSentinels(t, 3, watched, 1)
	listen := "127.0.0.1:" + statsPort(t)
	conf := fmt.Sprintf("p:\n  listen: %s\n  timeout: 400\n  sentinel_heartbeat: 200\n  groups: [g1]\n  sentinels: [%s]\n",
		listen, testutil.Addrs(sentinels))
	m := startMaster(t, conf, listen, "-n", "2")
	m.waitServing(t)
	var pids []int
	for _, pid := range m.workers(t) {
		pids = append(pids, pid)
	}
	conns, _ := spread(t, listen, pids, 2)

	// Every connection writes its own key.
	writers := startWriters(t, conns, func(i, _ int) string { return fmt.Sprintf("k%d", i) }, func(int, int) bool { return false })

	// failOver kills g1's master and returns how long after the
	// +switch-master of followed, the sentinel the workers follow, every
	// client on both workers wrote again.
	failOver := func(old, followed *testutil.Process) time.Duration {
		t.Helper()
		sub := testutil.Dial(t, followed.Addr)
		if got := sub.Do("SUBSCRIBE", "+switch-master"); !strings.HasPrefix(got, "*3\r\n") {
			t.Fatalf("SUBSCRIBE: %q", got)
		}
		announced := make(chan time.Time, 1)
		sub.Conn.SetReadDeadline(time.Time{}) // Do's is too short for a failover
		go func() {
			if _, err := testutil.ReadReply(sub.R); err == nil {
				announced <- time.Now()
			}
		}()
		writers.reset()
		old.Kill()
		var at time.Time
		select {
		case at = <-announced:
		case <-time.After(30 * time.Second):
			t.Fatal("no +switch-master")
		}
		return writers.worstRecovery(t, at)
	}
	check := func(n int, worst time.Duration) {
		t.Helper()
		t.Logf("failover %d: every client on both workers wrote again within %v of +switch-master", n, worst)
		if worst > 500*time.Millisecond {
			t.Errorf("failover %d: writes again only %v after the switch, want at most 500ms", n, worst)
		}
	}
	check(1, failOver(master, sentinels[0])) // the first listed is followed first
	if doc := m.document(t); !strings.Contains(doc, `"server_failover":1}`) {
		t.Errorf("stats document: want server_failover 1 (each worker saw the one failover):\n%s", doc)
	}
	if v := m.metric(t, fmt.Sprintf(`nutcracker_sentinel_master{addr="%s",group="g1",pool="p"}`, replica.Addr)); v != 1 {
		t.Errorf("nutcracker_sentinel_master of the new master: %v", v)
	}
	resp, err := http.Get("http://" + m.stats + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz %d after the failover", resp.StatusCode)
	}

	// The old master back as the new one's replica, once no sentinel can
	// undo the failover (see WaitSettled: one that still took the old one
	// for the master would make the new one sync its empty dataset, one
	// that could fail the new one over on its own would promote the old
	// one); then the sentinel every worker follows dies, and the group
	// fails over again.
	testutil.WaitSettled(t, sentinels, "g1", replica)
	master.Restart()
	host, port, _ := strings.Cut(replica.Addr, ":")
	if got := testutil.Dial(t, master.Addr).Do("REPLICAOF", host, port); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("REPLICAOF: %q", got)
	}
	for _, s := range sentinels {
		c := testutil.Dial(t, s.Addr)
		testutil.Eventually(t, 30*time.Second, func() bool {
			f := testutil.SentinelFields(c.Do("SENTINEL", "REPLICAS", "g1"))
			return f["ip"]+":"+f["port"] == master.Addr && !strings.Contains(f["flags"], "down")
		}, "sentinel %s does not see the replica %s up", s.Addr, master.Addr)
	}
	sentinels[0].Kill()
	check(2, failOver(replica, sentinels[1])) // the next one, once the first is dead
	if doc := m.document(t); !strings.Contains(doc, `"server_failover":2}`) {
		t.Errorf("stats document: want server_failover 2:\n%s", doc)
	}
}
