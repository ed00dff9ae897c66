package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// tlsPool returns a redis pool listening with TLS (f's certificate) on a
// free port, its servers at servers; extra lines are added to the pool.
func tlsPool(t *testing.T, f testutil.TLSFiles, extra string, servers ...string) (yaml, addr string) {
	addr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return poolYAML(addr, "timeout: 2000\ntls_cert_file: "+f.Cert+"\ntls_key_file: "+f.Key+"\n"+extra, servers...), addr
}

// tlsFailures returns pool p's failed client handshakes by reason name.
func tlsFailures(p *Proxy) map[string]int64 {
	got := map[string]int64{}
	for i, reason := range stats.TLSFailureReasons {
		if n := p.poolNamed("p").pool().Stats.TLS.ClientFailures[i].Load(); n > 0 {
			got[reason] = n
		}
	}
	return got
}

// TestClientTLS: a pool whose listener and servers speak TLS serves
// redis-cli --tls, and a Go client's pipeline of a thousand requests and
// a value of a megabyte, in order; /metrics-only counters count its TLS
// clients.
func TestClientTLS(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	r, tlsAddr := testutil.StartRedisTLS(t, f)
	yaml, addr := tlsPool(t, f, "server_tls: true\nserver_tls_ca_cert_file: "+f.CA, tlsAddr+":1")
	p := runProxy(t, yaml, DefaultMbufSize)
	_, port, _ := net.SplitHostPort(addr)
	cli := func(args ...string) string {
		out, err := exec.Command("redis-cli", append([]string{"--tls", "--cacert", f.CA, "-h", "127.0.0.1", "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %q: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := cli("SET", "k", "v"); got != "OK" {
		t.Fatalf("redis-cli SET: %q", got)
	}
	if got := cli("GET", "k"); got != "v" {
		t.Fatalf("redis-cli GET: %q", got)
	}
	expect(t, testutil.Dial(t, r.Addr), "$1\r\nv\r\n", "GET", "k")

	c := testutil.DialTLS(t, addr, f.ClientConfig(t))
	var b strings.Builder
	for i := range 500 {
		b.WriteString(testutil.EncodeCmd("SET", fmt.Sprint("k", i), fmt.Sprint("v", i)))
		b.WriteString(testutil.EncodeCmd("GET", fmt.Sprint("k", i)))
	}
	c.Send(b.String())
	for i := range 500 {
		want := fmt.Sprintf("v%d", i)
		if got := c.Reply(); got != "+OK\r\n" {
			t.Fatalf("SET %d: %q", i, got)
		}
		if got := c.Reply(); got != fmt.Sprintf("$%d\r\n%s\r\n", len(want), want) {
			t.Fatalf("GET %d: %q", i, got)
		}
	}
	big := strings.Repeat("x", 1<<20)
	expect(t, c, "+OK\r\n", "SET", "big", big)
	expect(t, c, fmt.Sprintf("$%d\r\n%s\r\n", len(big), big), "GET", "big")

	if n := poolStats(p).TLS.Clients.Load(); n != 1 {
		t.Errorf("TLS clients gauge: %d, want 1", n)
	}
	c.Conn.Close()
	testutil.Eventually(t, 5*time.Second, func() bool { return poolStats(p).TLS.Clients.Load() == 0 }, "TLS clients gauge back to 0")
}

// TestClientTLSMemcached: a memcached pool listens with TLS and speaks it
// to memcached -Z.
func TestClientTLSMemcached(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	_, tlsAddr := testutil.StartMemcachedTLS(t, f)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	runProxy(t, fmt.Sprintf("p:\n  listen: %s\n  timeout: 2000\n  tls_cert_file: %s\n  tls_key_file: %s\n  server_tls: true\n  server_tls_ca_cert_file: %s\n  servers:\n   - %s:1\n",
		addr, f.Cert, f.Key, f.CA, tlsAddr), DefaultMbufSize)
	c := testutil.DialTLS(t, addr, f.ClientConfig(t))
	c.Send("set k 0 0 1\r\nv\r\nget k\r\n")
	for _, want := range []string{"STORED\r\n", "VALUE k 0 1\r\n", "v\r\n", "END\r\n"} {
		if got := c.Line(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestClientTLSMutual: with a CA, client certificates are required (the
// default and yes), verified when given (optional) or not asked for (no);
// a refused client is counted and told by an alert, and the others go on.
func TestClientTLSMutual(t *testing.T) {
	f, other := testutil.NewTLSFiles(t, "test CA"), testutil.NewTLSFiles(t, "another CA")
	r := testutil.StartRedis(t)
	good := f.ClientConfig(t)
	none := good.Clone()
	none.Certificates = nil
	wrong := good.Clone() // sends another CA's certificate even if not asked for that CA's
	otherCert := other.ClientConfig(t).Certificates[0]
	wrong.Certificates = nil
	wrong.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &otherCert, nil }
	for _, tc := range []struct {
		auth                 string
		none, wrong, refused bool // refused: want the client without a certificate, and with the wrong one, refused
	}{
		{"", true, true, true},
		{"tls_auth_clients: yes", true, true, true},
		{"tls_auth_clients: optional", false, true, true},
		{"tls_auth_clients: no", false, false, false},
	} {
		t.Run(strings.TrimPrefix(tc.auth, "tls_auth_clients: "), func(t *testing.T) {
			yaml, addr := tlsPool(t, f, "tls_ca_cert_file: "+f.CA+"\n"+tc.auth, r.Addr+":1")
			p := runProxy(t, yaml, DefaultMbufSize)
			ok := testutil.DialTLS(t, addr, good)
			expect(t, ok, "+PONG\r\n", "PING")
			refusals := 0
			for _, cl := range []struct {
				name    string
				cfg     *tls.Config
				refused bool
			}{{"no certificate", none, tc.none}, {"another CA's", wrong, tc.wrong}} {
				err := testutil.TLSPing(addr, cl.cfg)
				switch {
				case cl.refused && (err == nil || !strings.Contains(err.Error(), "certificate")):
					t.Errorf("%s: %v, want refused for its certificate", cl.name, err)
				case !cl.refused && err != nil:
					t.Errorf("%s: %v, want served", cl.name, err)
				}
				if cl.refused {
					refusals++
				}
			}
			testutil.Eventually(t, 5*time.Second, func() bool { return tlsFailures(p)["certificate"] == int64(refusals) },
				"want %d refusals counted as certificate", refusals)
			expect(t, ok, "+PONG\r\n", "PING") // unaffected
		})
	}
}

// TestClientTLSBadInput: a plaintext client on a TLS port is told so in
// its protocol and closed; one that stalls its handshake is closed after
// the pool's timeout, one that sends garbage at once; each is counted by
// reason, and a TLS client is served throughout.
func TestClientTLSBadInput(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	r := testutil.StartRedis(t)
	m := testutil.StartMemcached(t)
	yaml, addr := tlsPool(t, f, "", r.Addr+":1")
	yaml = strings.Replace(yaml, "timeout: 2000", "timeout: 300", 1)
	mcAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	yaml += fmt.Sprintf("m:\n  listen: %s\n  tls_cert_file: %s\n  tls_key_file: %s\n  servers:\n   - %s:1\n", mcAddr, f.Cert, f.Key, m.Addr)
	p := runProxy(t, yaml, DefaultMbufSize)
	good := testutil.DialTLS(t, addr, f.ClientConfig(t))
	expect(t, good, "+PONG\r\n", "PING")

	plain := testutil.Dial(t, addr)
	if got := plain.Do("PING"); got != "-ERR this port speaks TLS: connect with TLS\r\n" {
		t.Errorf("plaintext PING: %q", got)
	}
	if !plain.Closed(5 * time.Second) {
		t.Error("plaintext client: not closed")
	}
	mc := testutil.Dial(t, mcAddr)
	mc.Send("get k\r\n")
	if got := mc.Line(); got != "SERVER_ERROR this port speaks TLS: connect with TLS\r\n" {
		t.Errorf("plaintext memcached get: %q", got)
	}

	start := time.Now()
	stalled := testutil.Dial(t, addr)
	stalled.Send("\x16\x03\x01\x00") // the start of a record header, then nothing
	if !stalled.Closed(5 * time.Second) {
		t.Fatal("stalled handshake: not closed")
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("stalled handshake closed after %v, before the pool's timeout", d)
	}
	garbage := testutil.Dial(t, addr)
	garbage.Send("\x16\x03\x01\x00\x05hello") // a handshake record that is not one
	if !closedAfterAlert(garbage) {
		t.Error("garbage handshake: not closed")
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		got := tlsFailures(p)
		return got["not_tls"] == 1 && got["timeout"] == 1 && got["other"] == 1
	}, "failures by reason: %v", tlsFailures(p))
	expect(t, good, "+PONG\r\n", "PING")
}

// closedAfterAlert reports whether the proxy closes c within seconds,
// after what it sent (a TLS alert).
func closedAfterAlert(c *testutil.Client) bool {
	c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c.R)
	return err == nil || !os.IsTimeout(err)
}

// TestClientTLSFirstRequestWithHandshake: a client whose first request
// comes in the same packet as the end of its handshake is answered: the
// handshake read the request, which the socket will not announce again,
// so the client must not be parked waiting for it.
func TestClientTLSFirstRequestWithHandshake(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	r := testutil.StartRedis(t)
	yaml, addr := tlsPool(t, f, "", r.Addr+":1")
	runProxy(t, yaml, DefaultMbufSize)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	hc := &holdingConn{Conn: raw}
	cfg := f.ClientConfig(t)
	cfg.ServerName = "127.0.0.1"
	c := tls.Client(hc, cfg)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil { // the client's last flight is held
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(testutil.EncodeCmd("PING"))); err != nil {
		t.Fatal(err)
	}
	if err := hc.release(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING sent with the handshake's end: %q, %v", line, err)
	}
}

// holdingConn passes its first write (a ClientHello) and holds the others
// until release writes them at once.
type holdingConn struct {
	net.Conn
	writes int
	held   []byte
}

func (h *holdingConn) Write(b []byte) (int, error) {
	if h.writes++; h.writes == 1 {
		return h.Conn.Write(b)
	}
	h.held = append(h.held, b...)
	return len(b), nil
}

func (h *holdingConn) release() error {
	_, err := h.Conn.Write(h.held)
	return err
}

// TestClientTLSPark: an idle TLS client is parked, and served again when
// it sends.
func TestClientTLSPark(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	r := testutil.StartRedis(t)
	yaml, addr := tlsPool(t, f, "", r.Addr+":1")
	p := runProxy(t, yaml, DefaultMbufSize)
	c := testutil.DialTLS(t, addr, f.ClientConfig(t))
	expect(t, c, "+OK\r\n", "SET", "k", "v")
	waitParked(t, p, 1)
	expect(t, c, "$1\r\nv\r\n", "GET", "k")
	c.Send(testutil.EncodeCmd("GET", "k")[:7]) // half a request, then idle
	time.Sleep(2 * parkSweep)                  // (what is checked is that the sweeps do not break it)
	c.Send(testutil.EncodeCmd("GET", "k")[7:])
	if got := c.Reply(); got != "$1\r\nv\r\n" {
		t.Fatalf("GET sent in two parts across sweeps: %q", got)
	}
}

// TestClientTLSRotation: new certificate files, reloaded while clients
// connect, send and disconnect in a loop and others stay connected:
// no request fails, the connections accepted after the reload get the new
// certificate, and those made before go on.
func TestClientTLSRotation(t *testing.T) {
	oldCA, newCA := testutil.NewTLSFiles(t, "old CA"), testutil.NewTLSFiles(t, "new CA")
	r := testutil.StartRedis(t)
	dir := t.TempDir()
	f := testutil.TLSFiles{CA: oldCA.CA, Cert: dir + "/cert.pem", Key: dir + "/key.pem"}
	testutil.CopyFile(t, oldCA.Cert, f.Cert)
	testutil.CopyFile(t, oldCA.Key, f.Key)
	yaml, addr := tlsPool(t, f, "", r.Addr+":1")
	p := runProxy(t, yaml, DefaultMbufSize)

	both := oldCA.ClientConfig(t)
	both.RootCAs.AppendCertsFromPEM(readFile(t, newCA.CA))
	var stop atomic.Bool
	var served, failed atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	var wg sync.WaitGroup
	for range 3 { // reconnecting clients
		wg.Go(func() {
			for !stop.Load() {
				if err := testutil.TLSPing(addr, both); err != nil {
					fail(err)
					return
				}
				served.Add(1)
			}
		})
	}
	for i := range 2 { // connected throughout
		wg.Go(func() {
			c, err := tls.Dial("tcp", addr, both)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for n := 0; !stop.Load(); n++ {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				key := fmt.Sprintf("k%d", i)
				c.Write([]byte(testutil.EncodeCmd("SET", key, fmt.Sprint(n)) + testutil.EncodeCmd("GET", key)))
				want := fmt.Sprintf("+OK\r\n$%d\r\n%d\r\n", len(fmt.Sprint(n)), n)
				got := make([]byte, len(want))
				if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
					fail(fmt.Errorf("connected client: %q, %v", got, err))
					return
				}
				served.Add(1)
			}
		})
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return served.Load() > 200 }, "load running")
	testutil.CopyFile(t, newCA.Cert, f.Cert)
	testutil.CopyFile(t, newCA.Key, f.Key)
	reload(t, p, yaml)
	before := served.Load()
	testutil.Eventually(t, 10*time.Second, func() bool { return served.Load() > before+200 }, "load going on after the reload")
	onlyNew := newCA.ClientConfig(t)
	if err := testutil.TLSPing(addr, onlyNew); err != nil {
		t.Errorf("a client trusting the new CA only: %v", err)
	}
	if err := testutil.TLSPing(addr, oldCA.ClientConfig(t)); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("a client trusting the old CA only: %v, want the new certificate refused", err)
	}
	stop.Store(true)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed across the reload, first: %v", n, firstErr.Load())
	}
	t.Logf("%d requests served across the reload, none failed", served.Load())
}

// TestClientTLSHandOver: at a handover a plaintext client goes to the new
// process and a TLS client is closed at a request boundary, after the
// reply to the request it was waiting for.
func TestClientTLSHandOver(t *testing.T) {
	f := testutil.NewTLSFiles(t, "test CA")
	r := testutil.StartRedis(t)
	tlsYAML := func(listen string) string {
		return poolYAML(listen, "timeout: 5000\ntls_cert_file: "+f.Cert+"\ntls_key_file: "+f.Key, r.Addr+":1")
	}
	hp := newHandOverPair(t, tlsYAML)
	c := testutil.DialTLS(t, hp.addrA, f.ClientConfig(t))
	expect(t, c, "+OK\r\n", "SET", "k", "v")
	r.Pause()
	c.Cmd("GET", "k") // waits on the paused server
	testutil.Eventually(t, 5*time.Second, func() bool { return owed(hp.a) == 1 }, "GET owed")
	done := hp.handOver(10 * time.Second)
	testutil.Eventually(t, 5*time.Second, func() bool { return clientsMarked(hp.a) }, "client asked to leave")
	r.Resume()
	if got := c.Reply(); got != "$1\r\nv\r\n" {
		t.Fatalf("GET owed at the handover: %q", got)
	}
	if !c.Closed(5 * time.Second) {
		t.Fatal("TLS client not closed after its reply")
	}
	waitClosed(t, done, "HandOver")
	if len(hp.offs) != 0 {
		t.Fatalf("TLS client handed over: %+v", hp.offs)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
