package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// serverTLS is a client TLS configuration as the proxy's server_tls
// builds it: f's CA trusted, and name, when not "", verified instead of
// the host dialled.
func serverTLS(t testing.TB, f testutil.TLSFiles, name string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: name}
}

// TestFetchTLS: the map of a cluster whose nodes speak only TLS, fetched
// with TLS by CLUSTER SHARDS (their "tls-port") and by CLUSTER SLOTS, names
// every master and replica at its TLS port, as CLUSTER NODES does.
func TestFetchTLS(t *testing.T) {
	t.Parallel()
	f := testutil.NewTLSFiles(t, "cluster CA")
	c := testutil.StartTLSCluster(t, f, 3, 1)
	opts := Options{TLS: serverTLS(t, f, "")}
	want := []string{c.Masters[0].Addr, c.Masters[1].Addr, c.Masters[2].Addr}
	slices.Sort(want)
	for _, node := range c.Nodes {
		shards := mustFetch(t, node.Addr, opts)
		checkAgainstNodes(t, c, node, shards)
		slotsOpts := opts
		slotsOpts.slotsOnly = true
		slots := mustFetch(t, node.Addr, slotsOpts)
		checkAgainstNodes(t, c, node, slots)
		if !shards.Equal(slots) {
			t.Errorf("%s: CLUSTER SHARDS and CLUSTER SLOTS give different maps", node.Addr)
		}
		if got := shards.Masters(); !slices.Equal(got, want) {
			t.Errorf("%s: masters %v, want the TLS ports %v", node.Addr, got, want)
		}
		var replicas []string
		for _, s := range shards.Shards {
			replicas = append(replicas, s.Replicas...)
		}
		if len(replicas) != len(c.Replicas) {
			t.Errorf("%s: replicas %v, want %d", node.Addr, replicas, len(c.Replicas))
		}
	}
}

// TestFetchTLSErrors: a TLS node asked in plaintext, a plaintext node
// asked with TLS, a certificate of an unknown CA or of another name, and
// a node that never finishes its handshake: each an error naming the
// node, within the timeout. A name given (server_tls_server_name) is the
// one verified.
func TestFetchTLSErrors(t *testing.T) {
	f := testutil.NewTLSFiles(t, "cluster CA")
	node := testutil.StartTLSClusterNode(t, f)
	if r := node.Dial(t).Do("CLUSTER", "ADDSLOTSRANGE", "0", "99"); r != "+OK\r\n" {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %q", r)
	}
	if m := mustFetch(t, node.Addr, Options{TLS: serverTLS(t, f, "localhost")}); m.Master(0) != node.Addr {
		t.Errorf("verifying the name localhost: shards %+v", m.Shards)
	}
	plain := testutil.StartClusterNode(t)
	stalled, stalledAddr := testutil.StartRedisTLS(t, f)
	stalled.Pause()
	defer stalled.Resume()
	other := testutil.NewTLSFiles(t, "another CA")

	const timeout = 300 * time.Millisecond
	tests := []struct {
		name, addr string
		tls        *tls.Config
		want       string
	}{
		{"plaintext to a TLS node", node.Addr, nil, ""}, // the node drops it: EOF or reset
		{"TLS to a plaintext node", plain.Addr, serverTLS(t, f, ""), "TLS handshake: "},
		{"unknown CA", node.Addr, serverTLS(t, other, ""), "TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"wrong name", node.Addr, serverTLS(t, f, "redis.example"), "TLS handshake: tls: failed to verify certificate: x509: certificate is valid for localhost, not redis.example"},
		{"stalled handshake", stalledAddr, serverTLS(t, f, ""), "TLS handshake: not done within 300ms"},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := fetch(t, tt.addr, Options{Timeout: timeout, TLS: tt.tls})
		if err == nil || !strings.Contains(err.Error(), "cluster node "+tt.addr+": ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Fetch: %v, want an error naming %s and saying %q", tt.name, err, tt.addr, tt.want)
		}
		if took := time.Since(start); took > 3*timeout {
			t.Errorf("%s: Fetch took %v with a timeout of %v", tt.name, took, timeout)
		}
	}
}

// TestFetchTLSAndPlaintext: a node of a cluster with tls-cluster yes that
// also listens in plaintext announces both ports; a map fetched with TLS
// names its TLS port, one fetched in plaintext its plaintext port, by
// CLUSTER SHARDS and by CLUSTER SLOTS alike.
func TestFetchTLSAndPlaintext(t *testing.T) {
	f := testutil.NewTLSFiles(t, "cluster CA")
	plainPort := testutil.FreePort(t)
	node := testutil.StartTLSClusterNode(t, f, "--port", strconv.Itoa(plainPort))
	plainAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(plainPort))
	if r := node.Dial(t).Do("CLUSTER", "ADDSLOTSRANGE", "0", "99"); r != "+OK\r\n" {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %q", r)
	}
	for _, tt := range []struct {
		addr string
		tls  *tls.Config
	}{
		{node.Addr, serverTLS(t, f, "")},
		{plainAddr, nil},
	} {
		for _, slotsOnly := range []bool{false, true} {
			m := mustFetch(t, tt.addr, Options{TLS: tt.tls, slotsOnly: slotsOnly})
			if got := m.Master(0); got != tt.addr {
				t.Errorf("asked at %s (TLS %v, slotsOnly %v): slot 0 on %q, want %s", tt.addr, tt.tls != nil, slotsOnly, got, tt.addr)
			}
		}
	}
}
