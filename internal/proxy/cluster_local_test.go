package proxy

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// What a cluster pool's clients ask the proxy about the cluster: the
// proxy answers as a cluster of one node, itself, at the address the
// client reached, serving every slot. These tests run a cluster pool over
// a cluster of one node: the answers are the proxy's own.

// startOneNodeCluster starts a redis-server in cluster mode that serves
// every slot alone and announces 127.0.0.1: what a cluster pool's proxy
// shows its clients, at another address.
func startOneNodeCluster(t *testing.T) *testutil.Process {
	t.Helper()
	node := testutil.StartClusterNode(t, "--cluster-announce-ip", "127.0.0.1")
	cl := testutil.Dial(t, node.Addr)
	expect(t, cl, "+OK\r\n", "CLUSTER", "ADDSLOTSRANGE", "0", "16383")
	testutil.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(cl.Do("CLUSTER", "INFO"), "cluster_state:ok")
	}, "cluster node %s not ok", node.Addr)
	return node
}

// clusterPoolOver runs a proxy whose cluster pool fronts the one-node
// cluster node, listening on listen.
func clusterPoolOver(t *testing.T, listen string, node *testutil.Process) {
	t.Helper()
	runProxy(t, poolYAML(listen, "redis_cluster: true", node.Addr+":1"), DefaultMbufSize)
}

// clusterShape is a reply with what differs between two nodes that are
// alike (their ids, ports and bus ports) taken out, and the bulk lengths
// that change with them.
func clusterShape(reply, id, port string) string {
	reply = strings.ReplaceAll(reply, id, "<id>")
	reply = strings.ReplaceAll(reply, ":"+port+"\r\n", ":<port>\r\n") // SLOTS, SHARDS
	reply = strings.ReplaceAll(reply, ":"+port+"@", ":<port>@")       // NODES
	reply = busPort.ReplaceAllString(reply, "@<bus> ")
	if head, text, ok := strings.Cut(reply, "\r\n"); ok && (head[0] == '$' || head[0] == '=') {
		reply = head[:1] + "<len>\r\n" + text
	}
	return reply
}

// busPort is the cluster bus port in CLUSTER NODES: the proxy has none.
var busPort = regexp.MustCompile(`@[0-9]+ `)

// replyID is the node id a CLUSTER MYID reply names.
func replyID(t *testing.T, c *testutil.Client) string {
	t.Helper()
	reply := c.Do("CLUSTER", "MYID")
	if !strings.HasPrefix(reply, "$40\r\n") {
		t.Fatalf("CLUSTER MYID: %q", reply)
	}
	return reply[5:45]
}

// TestClusterLocalReplies: a cluster pool's proxy answers what cluster
// clients ask in the shapes of a Redis 7.0 node's that serves every slot
// alone, in RESP2 and RESP3, naming itself at its own address with a
// node id that stays the same across connections.
func TestClusterLocalReplies(t *testing.T) {
	node := startOneNodeCluster(t)
	tp := &testProxy{addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	clusterPoolOver(t, tp.addr, node)
	_, proxyPort, _ := net.SplitHostPort(tp.addr)
	_, nodePort, _ := net.SplitHostPort(node.Addr)
	for _, hello := range []string{"", "3"} {
		p, r := testutil.Dial(t, tp.addr), testutil.Dial(t, node.Addr)
		if hello != "" {
			p.Do("HELLO", hello)
			r.Do("HELLO", hello)
		}
		proxyID, nodeID := replyID(t, p), replyID(t, r)
		for _, args := range [][]string{
			{"CLUSTER", "SLOTS"}, {"CLUSTER", "SHARDS"}, {"CLUSTER", "NODES"}, {"CLUSTER", "INFO"},
			{"CLUSTER", "KEYSLOT", "{user1}:a"}, {"CLUSTER", "LINKS"}, {"READONLY"}, {"READWRITE"}, {"ASKING"},
		} {
			got := clusterShape(p.Do(args...), proxyID, proxyPort)
			want := clusterShape(r.Do(args...), nodeID, nodePort)
			if got != want {
				t.Errorf("HELLO %q %q: proxy's shape\n%q\nnode's\n%q", hello, args, got, want)
			}
		}
		if !strings.Contains(p.Do("CLUSTER", "SLOTS"), "$9\r\n127.0.0.1\r\n:"+proxyPort+"\r\n") {
			t.Errorf("CLUSTER SLOTS does not name the proxy at %s", tp.addr)
		}
		if got := replyID(t, testutil.Dial(t, tp.addr)); got != proxyID {
			t.Errorf("node id %s on one connection, %s on another", proxyID, got)
		}
	}
	expect(t, testutil.Dial(t, tp.addr), "-ERR CLUSTER COUNTKEYSINSLOT is not served by the proxy: it is about one node of the cluster, ask that node\r\n",
		"CLUSTER", "COUNTKEYSINSLOT", "1")
}

// TestClusterLocalWildcardListen: a cluster pool listening on 0.0.0.0
// names the address the client connected to, which the client can reach.
func TestClusterLocalWildcardListen(t *testing.T) {
	port := testutil.FreePort(t)
	clusterPoolOver(t, fmt.Sprintf("0.0.0.0:%d", port), startOneNodeCluster(t))
	c := testutil.Dial(t, fmt.Sprintf("127.0.0.1:%d", port))
	want := fmt.Sprintf("*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n", port)
	if got := c.Do("CLUSTER", "SLOTS"); !strings.HasPrefix(got, want) {
		t.Errorf("CLUSTER SLOTS: %q, want it to begin %q", got, want)
	}
}

// TestClusterLocalNotClusterPool: a pool that is not a cluster pool does
// not serve the cluster commands, as before cluster pools.
func TestClusterLocalNotClusterPool(t *testing.T) {
	tp := startProxy(t, 1, "")
	c := testutil.Dial(t, tp.addr)
	expect(t, c, "-ERR 'cluster' is a Redis command this proxy does not serve\r\n", "CLUSTER", "SLOTS")
	expect(t, c, "-ERR 'readonly' is a Redis command this proxy does not serve\r\n", "READONLY")
}

// TestClusterLocalClients: redis-cli -c and go-redis's ClusterClient,
// pointed at a cluster pool, set and get through it; ClusterClient
// learns the slots from the proxy, so MGET of keys with one hash tag goes
// to it too.
func TestClusterLocalClients(t *testing.T) {
	node := startOneNodeCluster(t)
	tp := &testProxy{addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), backends: []*testutil.Process{node}}
	clusterPoolOver(t, tp.addr, node)
	cli := redisCLI(t, tp.addr)
	if got := cli("-c", "SET", "{cli}:a", "1"); got != "OK" {
		t.Fatalf("redis-cli -c SET: %q", got)
	}
	if got := cli("-c", "GET", "{cli}:a"); got != "1" {
		t.Fatalf("redis-cli -c GET: %q", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, protocol := range []int{2, 3} {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{tp.addr}, Protocol: protocol})
		t.Cleanup(func() { cc.Close() })
		tag := fmt.Sprintf("{user%d}", protocol)
		if err := cc.Set(ctx, tag+":a", "x", 0).Err(); err != nil {
			t.Fatalf("RESP%d SET: %v", protocol, err)
		}
		if err := cc.Set(ctx, tag+":b", "y", 0).Err(); err != nil {
			t.Fatalf("RESP%d SET: %v", protocol, err)
		}
		if got, err := cc.Get(ctx, tag+":a").Result(); err != nil || got != "x" {
			t.Errorf("RESP%d GET: %q, %v", protocol, got, err)
		}
		got, err := cc.MGet(ctx, tag+":a", tag+":b", tag+":none").Result()
		if err != nil || fmt.Sprint(got) != "[x y <nil>]" {
			t.Errorf("RESP%d MGET: %v, %v", protocol, got, err)
		}
		slots, err := cc.ClusterSlots(ctx).Result()
		if err != nil || len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 ||
			len(slots[0].Nodes) != 1 || slots[0].Nodes[0].Addr != tp.addr {
			t.Errorf("RESP%d ClusterClient's view of the slots: %+v, %v", protocol, slots, err)
		}
	}
	// What the clients wrote is on the pool's server.
	node1 := testutil.Dial(t, tp.backends[0].Addr)
	expect(t, node1, "$1\r\nx\r\n", "GET", "{user3}:a")
	expect(t, node1, "$1\r\n1\r\n", "GET", "{cli}:a")
}
