package resp

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// startClusterNode starts a redis-server in cluster mode that serves
// every slot alone and announces 127.0.0.1, the node whose replies a
// cluster pool's proxy imitates.
func startClusterNode(t *testing.T) *testutil.Process {
	t.Helper()
	node := testutil.StartClusterNode(t, "--cluster-announce-ip", "127.0.0.1")
	cl := testutil.Dial(t, node.Addr)
	if got := cl.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); got != "+OK\r\n" {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %q", got)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(cl.Do("CLUSTER", "INFO"), "cluster_state:ok")
	}, "cluster node %s not ok", node.Addr)
	return node
}

// clusterDecode decodes args on a new client of s speaking dialect and
// returns the client's reply.
func clusterDecode(t *testing.T, s *proto.Settings, dialect uint8, args ...string) string {
	t.Helper()
	c, frame := parsedClient(t, s, args...)
	c.Resume(proto.Session{Authed: true, Dialect: dialect})
	var m proto.Msg
	if act := c.Decode(frame, &m, s); act != proto.Answer {
		t.Fatalf("%q: action %d, want Answer", args, act)
	}
	return string(m.Local)
}

// TestClusterRepliesMatchRedis: a cluster pool answers CLUSTER SLOTS,
// SHARDS, NODES, INFO, MYID, KEYSLOT, LINKS and READONLY, READWRITE,
// ASKING with the bytes of a Redis 7.0 node that serves every slot alone
// at the pool's address, in RESP2 and RESP3, but for its node id and
// cluster bus port (the proxy has none); and their wrong arities and
// unknown subcommands with the node's errors.
func TestClusterRepliesMatchRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	node := startClusterNode(t)
	s := &proto.Settings{Cluster: true, Listen: node.Addr}
	redisID := strings.TrimSpace(strings.SplitN(testutil.Dial(t, node.Addr).Do("CLUSTER", "MYID"), "\r\n", 3)[1])
	ours := nodeID(s.Listen)
	busPort := regexp.MustCompile(`@\d+ `)
	for _, dialect := range []uint8{0, dialectRESP3} {
		redis := testutil.Dial(t, node.Addr)
		if dialect == dialectRESP3 {
			redis.Do("HELLO", "3")
		}
		for _, args := range [][]string{
			{"CLUSTER", "SLOTS"}, {"cluster", "shards"}, {"CLUSTER", "NODES"}, {"CLUSTER", "INFO"},
			{"CLUSTER", "MYID"}, {"CLUSTER", "LINKS"}, {"CLUSTER", "KEYSLOT", "{user1}:a"},
			{"READONLY"}, {"READWRITE"}, {"ASKING"},
			{"CLUSTER", "KEYSLOT"}, {"CLUSTER", "SLOTS", "x"}, {"CLUSTER", "NoSuch"}, {"CLUSTER", "HELP", "x"},
			{"READONLY", "x"}, {"CLUSTER"}, {"CLUSTER", strings.Repeat("x", 200)}, {"CLUSTER", "a\r\nb"},
		} {
			want := strings.ReplaceAll(redis.Do(args...), redisID, ours)
			if head, text, ok := strings.Cut(want, "\r\n"); ok && busPort.MatchString(text) { // NODES
				text = busPort.ReplaceAllString(strings.TrimSuffix(text, "\r\n"), "@0 ")
				want = fmt.Sprintf("%c%d\r\n%s\r\n", head[0], len(text), text)
			}
			if got := clusterDecode(t, s, dialect, args...); got != want {
				t.Errorf("dialect %d %q:\n got %q\nwant %q", dialect, args, got, want)
			}
		}
	}
}

// TestClusterAddress: a pool listening on a wildcard address (or a host
// name) shows clients the address their connection reached; one on a
// unix socket refuses the questions a cluster client asks to find its
// nodes, which need a host and port.
func TestClusterAddress(t *testing.T) {
	slots := func(host string, port int) string {
		return string(appendSlots(nil, host, port, nodeID("0.0.0.0:7000"), 0))
	}
	s := &proto.Settings{Cluster: true, Listen: "0.0.0.0:7000"}
	c, frame := parsedClient(t, s, "CLUSTER", "SLOTS")
	peersAsked := 0
	s.Peers = func(yield func(proto.Peer) bool) {
		peersAsked++
		if yield(proto.Peer{Client: Protocol{}.NewClient(s), LocalAddr: "10.9.9.9:7000"}) {
			yield(proto.Peer{Client: c, LocalAddr: "[::ffff:10.1.2.3]:7000"})
		}
	}
	for range 2 {
		var m proto.Msg
		c.Decode(frame, &m, s)
		if want := slots("10.1.2.3", 7000); string(m.Local) != want {
			t.Errorf("listening on 0.0.0.0: %q, want %q", m.Local, want)
		}
	}
	if peersAsked != 1 {
		t.Errorf("the peers were listed %d times, want once", peersAsked)
	}

	for listen, want := range map[string]string{
		"[::1]:7000":         slots("::1", 7000),
		"localhost:7000":     slots("localhost", 7000), // no peer listed: the name as written
		"192.168.1.20:22121": slots("192.168.1.20", 22121),
		"":                   "-ERR the pool listens on a unix socket: a cluster client needs a host and port\r\n",
	} {
		s := &proto.Settings{Cluster: true, Listen: listen}
		if strings.HasPrefix(want, "*") {
			want = strings.ReplaceAll(want, nodeID("0.0.0.0:7000"), nodeID(listen))
		}
		if got := clusterDecode(t, s, 0, "CLUSTER", "SLOTS"); got != want {
			t.Errorf("listen %q: %q, want %q", listen, got, want)
		}
	}
	if got := clusterDecode(t, &proto.Settings{Cluster: true, Listen: "[::1]:7000"}, 0, "CLUSTER", "NODES"); !strings.Contains(got, " ::1:7000@0 ") {
		t.Errorf("CLUSTER NODES on [::1]:7000: %q, want the address unbracketed as Redis writes it", got)
	}
}

// TestClusterRefusals: the subcommands about one real node of the cluster
// or that administer it are refused naming why; a pool that is not a
// cluster pool does not serve the cluster commands at all, as before.
func TestClusterRefusals(t *testing.T) {
	s := &proto.Settings{Cluster: true, Listen: "127.0.0.1:7000"}
	for _, args := range [][]string{
		{"CLUSTER", "COUNTKEYSINSLOT", "1"}, {"CLUSTER", "getkeysinslot", "1", "10"},
		{"CLUSTER", "MEET", "127.0.0.1", "7001"}, {"CLUSTER", "FAILOVER"}, {"CLUSTER", "SETSLOT", "1", "STABLE"},
	} {
		want := "-ERR CLUSTER " + strings.ToUpper(args[1]) + " is not served by the proxy: it is about one node of the cluster, ask that node\r\n"
		if got := clusterDecode(t, s, 0, args...); got != want {
			t.Errorf("%q: %q, want %q", args, got, want)
		}
	}
	if got := clusterDecode(t, s, 0, "CLUSTER", "HELP"); !strings.HasPrefix(got, "*18\r\n+CLUSTER <subcommand>") {
		t.Errorf("CLUSTER HELP: %q", got)
	}
	plain := &proto.Settings{}
	for _, args := range [][]string{{"CLUSTER", "SLOTS"}, {"CLUSTER"}, {"READONLY"}, {"asking"}} {
		want := "-ERR '" + strings.ToLower(args[0]) + "' is a Redis command this proxy does not serve\r\n"
		if got := clusterDecode(t, plain, 0, args...); got != want {
			t.Errorf("not a cluster pool: %q: %q, want %q", args, got, want)
		}
	}
}

// FuzzClusterCommand: whatever a client asks CLUSTER in a cluster pool,
// it gets one reply.
func FuzzClusterCommand(f *testing.F) {
	f.Add("SLOTS", "", uint8(0))
	f.Add("keyslot", "{a}b", uint8(1))
	f.Add("NODES", "x", uint8(0x81))
	f.Add("x\r\ny", "", uint8(0))
	f.Fuzz(func(t *testing.T, sub, arg string, shape uint8) {
		args := []string{"CLUSTER", sub}
		if shape&1 != 0 {
			args = append(args, arg)
		}
		var dialect uint8
		if shape&0x80 != 0 {
			dialect = dialectRESP3
		}
		out := clusterDecode(t, &proto.Settings{Cluster: true, Listen: "0.0.0.0:7000"}, dialect, args...)
		if n, err := ReplyLen([]byte(out)); n != len(out) || err != nil {
			t.Fatalf("%q: reply %q is not one reply (%d, %v)", args, out, n, err)
		}
	})
}
