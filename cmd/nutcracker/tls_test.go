package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestTLSWorkers: with two workers, a pool that speaks TLS to clients and
// to its servers serves a steady load of TLS clients while its
// certificate is rotated by SIGHUP and a broken key file is refused (by
// SIGHUP and by -t): no request fails, the clients accepted after the
// rotation get the new certificate, and /metrics sums the TLS clients of
// both workers. A binary upgrade then closes a TLS client (it cannot be
// handed over) cleanly, and its reconnection is served.
func TestTLSWorkers(t *testing.T) {
	oldCA, newCA := testutil.NewTLSFiles(t, "old CA"), testutil.NewTLSFiles(t, "new CA")
	r, tlsAddr := testutil.StartRedisTLS(t, oldCA)
	preload(t, r)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testutil.CopyFile(t, oldCA.Cert, cert)
	testutil.CopyFile(t, oldCA.Key, key)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	plain := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)) // for startMaster's PING
	conf := fmt.Sprintf("global:\n  reload_timeout: 2000\n"+
		"p:\n  listen: %s\n  redis: true\n  timeout: 2000\n  tls_cert_file: %s\n  tls_key_file: %s\n  server_tls: true\n  server_tls_ca_cert_file: %s\n  servers:\n   - %s:1\n"+
		"plain:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n",
		listen, cert, key, oldCA.CA, tlsAddr, plain, r.Addr)
	m := startMaster(t, conf, plain, "-n", "2")
	testutil.Eventually(t, 5*time.Second, func() bool { return len(m.workers(t)) == 2 }, "two workers")

	both := oldCA.ClientConfig(t)
	pem, _ := os.ReadFile(newCA.CA)
	both.RootCAs.AppendCertsFromPEM(pem)
	conns := make([]net.Conn, 8)
	for i := range conns {
		c, err := tls.Dial("tcp", listen, both)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	l := startLoadOn(conns, false)
	m.waitMetric(t, `nutcracker_pool_tls_client_connections{pool="p"}`, 8)

	l.progress(t, 500)
	testutil.CopyFile(t, newCA.Cert, cert)
	testutil.CopyFile(t, newCA.Key, key)
	m.cmd.Process.Signal(syscall.SIGHUP)
	m.waitMetric(t, `nutcracker_reloads_total{result="ok"}`, 1)
	onlyNew := newCA.ClientConfig(t)
	for range 10 { // over both workers, as the kernel spreads them
		if err := testutil.TLSPing(listen, onlyNew); err != nil {
			t.Fatalf("after the rotation, a client trusting the new CA only: %v", err)
		}
	}

	l.progress(t, 500)
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := nc(t, "-t", "-c", m.conf)
	if code != 1 || !strings.Contains(errOut, `key "tls_key_file"`) || !strings.Contains(errOut, m.conf+":") {
		t.Errorf("-t with a broken key file: exit %d, %q", code, errOut)
	}
	m.cmd.Process.Signal(syscall.SIGHUP)
	m.waitMetric(t, `nutcracker_reloads_total{result="refused"}`, 1)
	if err := testutil.TLSPing(listen, onlyNew); err != nil {
		t.Fatalf("after a refused reload, the rotated certificate: %v", err)
	}
	l.progress(t, 500)
	requests, ok, failed := l.finish()
	for _, f := range failed {
		t.Error(f)
	}
	if ok != len(conns) {
		t.Errorf("%d of %d TLS clients ran to the end (%d requests)", ok, len(conns), requests)
	}
	t.Logf("%d requests from %d TLS clients across a rotation and a refused reload", requests, len(conns))

	testutil.CopyFile(t, newCA.Key, key)
	c, err := tls.Dial("tcp", listen, onlyNew)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, testutil.EncodeCmd("PING"))
	if line, err := br.ReadString('\n'); line != "+PONG\r\n" {
		t.Fatalf("PING before the upgrade: %q, %v", line, err)
	}
	m.cmd.Process.Signal(syscall.SIGUSR2)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("TLS client at the upgrade: %q, %v; want closed cleanly", rest, err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return testutil.TLSPing(listen, onlyNew) == nil }, "TLS reconnection served after the upgrade")
}
