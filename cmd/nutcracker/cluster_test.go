package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/cluster"
	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestClusterWorkers: with two workers, each fronts the cluster itself:
// 10,000 keys written through each are on the masters of their slots; a
// reshard under writes through both fails none; when a master is killed,
// every client writes its slots again within a second of CLUSTER SHARDS
// showing the promotion, and keys of the other masters never fail.
func TestClusterWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	cl := testutil.StartCluster(t, 3, 1)
	listen := "127.0.0.1:" + statsPort(t)
	conf := fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  redis_cluster: true\n  timeout: 1000\n  servers:\n   - %s:1\n", listen, cl.Masters[0].Addr)
	m := startMaster(t, conf, listen, "-n", "2")
	m.waitServing(t)
	var pids []int
	for _, pid := range m.workers(t) {
		pids = append(pids, pid)
	}
	conns, owners := spread(t, listen, pids, 2)

	// 10,000 keys through each worker, each on the master of its slot.
	const keys = 10000
	var b strings.Builder
	for i := range keys {
		b.WriteString(testutil.EncodeCmd("SET", fmt.Sprintf("key:%d", i), fmt.Sprint(i)))
	}
	done := map[int]bool{}
	for i, conn := range conns { // one connection of each worker writes them all
		if done[owners[i]] {
			continue
		}
		done[owners[i]] = true
		r := bufio.NewReader(conn)
		if _, err := conn.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			if reply, err := testutil.ReadReply(r); err != nil || reply != "+OK\r\n" {
				t.Fatalf("SET key:%d: %q %v", i, reply, err)
			}
		}
	}
	for i := 0; i < keys; i += 101 {
		key := fmt.Sprintf("key:%d", i)
		node := cl.MasterOf(int(hashkit.ClusterSlot([]byte(key))))
		if got := testutil.Dial(t, node.Addr).Do("GET", key); got != fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(i)), i) {
			t.Fatalf("%s on %s: %q", key, node.Addr, got)
		}
	}

	// A reshard of 2000 slots under writes through both workers: none
	// fails.
	during := startWriters(t, conns, func(i, n int) string { return fmt.Sprintf("r%d:%d", i, n%500) }, func(int, int) bool { return true })
	cl.Reshard(t, cl.Masters[0], cl.Masters[2], 2000)
	during.close()
	if errs := during.failures(); len(errs) > 0 {
		t.Errorf("writes failed during the reshard: %q", errs)
	}

	victim, heir := cl.Masters[1], cl.Replicas[1]
	keyOf := func(want bool, prefix string) string {
		for i := 0; ; i++ {
			key := fmt.Sprintf("%s%d", prefix, i)
			if (cl.MasterOf(int(hashkit.ClusterSlot([]byte(key)))) == victim) == want {
				return key
			}
		}
	}

	// Each connection writes a key of the victim and a key of another
	// master in turn; the other master's must never fail.
	pairs := make([][2]string, len(conns))
	for i := range conns {
		pairs[i] = [2]string{keyOf(true, fmt.Sprintf("v%d:", i)), keyOf(false, fmt.Sprintf("o%d:", i))}
	}
	writers := startWriters(t, conns, func(i, n int) string { return pairs[i][n%2] }, func(_, n int) bool { return n%2 == 1 })

	victim.Kill()
	slot := int(hashkit.ClusterSlot([]byte(keyOf(true, "probe:"))))
	var promoted time.Time
	testutil.Eventually(t, 30*time.Second, func() bool {
		mp, err := cluster.Fetch(context.Background(), heir.Addr, cluster.Options{})
		if err == nil && mp.Master(slot) == heir.Addr {
			promoted = time.Now()
			return true
		}
		return false
	}, "the replica %s was never promoted", heir.Addr)
	worst := writers.worstRecovery(t, promoted)
	t.Logf("every client on both workers wrote the failed master's slots again within %v of the promotion showing", worst)
	if worst > time.Second {
		t.Errorf("writes again only %v after the promotion, want at most 1s", worst)
	}
	if errs := writers.failures(); len(errs) > 0 {
		t.Errorf("writes to the other masters failed: %q", errs)
	}
}
