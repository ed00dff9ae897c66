package proxy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/hashkit"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestClusterTLS: a cluster pool with server_tls fronts a cluster whose
// nodes speak only TLS (tls-cluster yes): its servers are the masters at
// their TLS ports, keys of every master are written and read back, and a
// key whose slot moves is followed through ASK during the move and MOVED
// after it, both naming the new master's TLS port.
func TestClusterTLS(t *testing.T) {
	f := testutil.NewTLSFiles(t, "cluster CA")
	cl := testutil.StartTLSCluster(t, f, 3, 0)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  redis_cluster: true\n  timeout: 1000\n"+
		"  server_tls: true\n  server_tls_ca_cert_file: %s\n  servers:\n   - %s:1\n", addr, f.CA, cl.Masters[0].Addr), DefaultMbufSize)
	pl := p.poolList()[0].pool()
	var servers, masters []string
	for _, s := range pl.Servers {
		servers = append(servers, s.Config.Addr)
	}
	for _, m := range cl.Masters {
		masters = append(masters, m.Addr)
	}
	slices.Sort(servers)
	slices.Sort(masters)
	if !slices.Equal(servers, masters) {
		t.Fatalf("the pool's servers are %v, want the masters' TLS addresses %v", servers, masters)
	}

	c := testutil.Dial(t, addr)
	const keys = 300
	setKeys(t, c, keys)
	total := 0
	for _, m := range cl.Masters {
		r := m.Dial(t).Do("DBSIZE")
		var n int
		if _, err := fmt.Sscanf(r, ":%d\r\n", &n); err != nil || n == 0 {
			t.Errorf("DBSIZE on the master %s: %q, want some of the keys", m.Addr, r)
		}
		total += n
	}
	if total != keys {
		t.Errorf("the masters hold %d keys, want %d", total, keys)
	}
	for i := range keys {
		want := fmt.Sprintf("$%d\r\n%d\r\n", len(fmt.Sprint(i)), i)
		if got := c.Do("GET", fmt.Sprintf("key:%d", i)); got != want {
			t.Fatalf("GET key:%d: %q, want %q", i, got, want)
		}
	}

	// Move the slot of key:0 to another master as redis-cli --cluster
	// reshard does: importing and migrating, the key, then the owner.
	const key, value = "key:0", "$1\r\n0\r\n"
	slot := fmt.Sprint(hashkit.ClusterSlot([]byte(key)))
	src := cl.MasterOf(int(hashkit.ClusterSlot([]byte(key))))
	dst := cl.Masters[0]
	if dst == src {
		dst = cl.Masters[1]
	}
	srcID, dstID := cl.ID(t, src), cl.ID(t, dst)
	s, d := src.Dial(t), dst.Dial(t)
	expect(t, d, "+OK\r\n", "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
	expect(t, s, "+OK\r\n", "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
	host, port, _ := strings.Cut(dst.Addr, ":")
	expect(t, s, "+OK\r\n", "MIGRATE", host, port, key, "0", "5000")
	if r := s.Do("GET", key); r != "-ASK "+slot+" "+dst.Addr+"\r\n" {
		t.Fatalf("GET %s from the migrating node: %q, want an ASK naming %s", key, r, dst.Addr)
	}
	st := pl.Stats
	expect(t, c, value, "GET", key)
	if n := st.Redirections[1].Load(); n == 0 {
		t.Error("no ASK followed during the move")
	}
	for _, n := range []*testutil.Client{d, s} {
		expect(t, n, "+OK\r\n", "CLUSTER", "SETSLOT", slot, "NODE", dstID)
	}
	if r := s.Do("GET", key); r != "-MOVED "+slot+" "+dst.Addr+"\r\n" {
		t.Fatalf("GET %s from its old master: %q, want a MOVED naming %s", key, r, dst.Addr)
	}
	expect(t, c, value, "GET", key)
	if n := st.Redirections[0].Load(); n == 0 {
		t.Error("no MOVED followed after the move")
	}
	expect(t, c, "+OK\r\n", "SET", key, "moved")
	expect(t, d, "$5\r\nmoved\r\n", "GET", key)
}
