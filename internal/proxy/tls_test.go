package proxy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestServerTLS: a pool with server_tls speaks TLS to its servers, in
// RESP2 and RESP3; a server whose certificate another CA signed, or
// that has another name, or that speaks no TLS, fails its requests with
// an error that says why, at once.
func TestServerTLS(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	r, tlsAddr := testutil.StartRedisTLS(t, f)
	pool := func(extra string) string {
		addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		runProxy(t, poolYAML(addr, "timeout: 1000\nserver_tls: true\n"+extra, tlsAddr+":1"), DefaultMbufSize)
		return addr
	}
	c := testutil.Dial(t, pool("server_tls_ca_cert_file: "+f.CA))
	expect(t, c, "+OK\r\n", "SET", "k", "v")
	expect(t, testutil.Dial(t, r.Addr), "$1\r\nv\r\n", "GET", "k")
	if got := c.Do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3: %q", got)
	}
	expect(t, c, "*2\r\n$1\r\nv\r\n_\r\n", "MGET", "k", "nope")

	other := testutil.NewTLSFiles(t, "another CA")
	for _, tc := range []struct {
		name, extra, addr, want, reason string
	}{
		{"another CA", "server_tls_ca_cert_file: " + other.CA, tlsAddr, "certificate signed by unknown authority", "certificate"},
		{"another name", "server_tls_ca_cert_file: " + f.CA + "\nserver_tls_server_name: cache.example", tlsAddr, "not cache.example", "certificate"},
		{"no TLS", "server_tls_ca_cert_file: " + f.CA, r.Addr, "TLS handshake with " + r.Addr, "timeout"}, // redis waits for the rest of a line
	} {
		addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		p := runProxy(t, poolYAML(addr, "timeout: 1000\nserver_tls: true\n"+tc.extra, tc.addr+":1"), DefaultMbufSize)
		got := testutil.Dial(t, addr).Do("GET", "k")
		if !strings.HasPrefix(got, "-ERR TLS handshake with ") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: GET got %q, want an error saying %q", tc.name, got, tc.want)
		}
		failures := &poolStats(p).TLS.ServerFailures
		if n := failures[slices.Index(stats.TLSFailureReasons[:], tc.reason)].Load(); n == 0 {
			t.Errorf("%s: no server handshake failure counted as %s", tc.name, tc.reason)
		}
	}
	expect(t, c, "$1\r\nv\r\n", "GET", "k") // the good pool is unaffected
}

// TestServerTLSRotation: the CA file is read again on reload: a pool
// whose servers' CA it did not have serves once the file has it and the
// configuration is reloaded.
func TestServerTLSRotation(t *testing.T) {
	f, other := testutil.NewTLSFiles(t, "test CA"), testutil.NewTLSFiles(t, "another CA")
	_, tlsAddr := testutil.StartRedisTLS(t, f)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	testutil.CopyFile(t, other.CA, ca)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml := poolYAML(addr, "timeout: 1000\nserver_tls: true\nserver_tls_ca_cert_file: "+ca, tlsAddr+":1")
	p := runProxy(t, yaml, DefaultMbufSize)
	c := testutil.Dial(t, addr)
	if got := c.Do("SET", "k", "v"); !strings.Contains(got, "certificate signed by unknown authority") {
		t.Fatalf("with another CA: %q", got)
	}
	testutil.CopyFile(t, f.CA, ca)
	reload(t, p, yaml)
	expect(t, c, "+OK\r\n", "SET", "k", "v")
}

// TestServerTLSMemcached: a memcached pool speaks TLS to memcached -Z,
// with many clients' requests pipelined on one server connection,
// values large and small: every one is answered.
func TestServerTLSMemcached(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	_, tlsAddr := testutil.StartMemcachedTLS(t, f)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	runProxy(t, fmt.Sprintf("p:\n  listen: %s\n  timeout: 2000\n  server_tls: true\n  server_tls_ca_cert_file: %s\n  servers:\n   - %s:1\n", addr, f.CA, tlsAddr), DefaultMbufSize)
	big := strings.Repeat("x", 20<<10)
	var wg sync.WaitGroup
	for cl := range 4 {
		wg.Go(func() {
			c := testutil.Dial(t, addr)
			var b strings.Builder
			for i := range 5 {
				v := "v"
				if i == 2 {
					v = big
				}
				fmt.Fprintf(&b, "set k%d.%d 0 0 %d\r\n%s\r\n", cl, i, len(v), v)
			}
			c.Send(b.String())
			for i := range 5 {
				if line := c.Line(); line != "STORED\r\n" {
					t.Errorf("client %d set %d: %q", cl, i, line)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestServerTLSAuthSelect: AUTH and SELECT go on each TLS server
// connection after its handshake.
func TestServerTLSAuthSelect(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	r, tlsAddr := testutil.StartRedisTLS(t, f, "--requirepass", "sesame")
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	runProxy(t, poolYAML(addr, "timeout: 1000\nredis_auth: sesame\nredis_db: 2\nserver_tls: true\nserver_tls_ca_cert_file: "+f.CA, tlsAddr+":1"), DefaultMbufSize)
	c := testutil.Dial(t, addr)
	expect(t, c, "+OK\r\n", "AUTH", "sesame")
	expect(t, c, "+OK\r\n", "SET", "k", "in db 2")
	direct := testutil.Dial(t, r.Addr)
	expect(t, direct, "+OK\r\n", "AUTH", "sesame")
	expect(t, direct, "+OK\r\n", "SELECT", "2")
	expect(t, direct, "$7\r\nin db 2\r\n", "GET", "k")
}
