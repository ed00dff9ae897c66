package testutil

import (
	"strconv"
	"strings"
	"testing"
)

// TLS-only deployments for sentinel tests: masters and replicas that
// listen and replicate with TLS only, watched by sentinels that clients
// ask in plaintext.

// StartRedisTLSOnly starts a redis-server that listens with TLS only
// (--port 0), with the certificate of f (clients' certificates are not
// asked for unless extra says "--tls-auth-clients", "yes"), and
// replicates over TLS. Its Addr is its TLS address: talk to it with
// DialTLS and f.ClientConfig.
func StartRedisTLSOnly(t testing.TB, f TLSFiles, extra ...string) *Process {
	t.Helper()
	p := tlsOnlyRedis(t, f)
	p.args = append(p.args, extra...)
	p.launch()
	t.Cleanup(p.Kill)
	return p
}

// StartReplicaTLSOnly starts a TLS-only redis-server (as
// StartRedisTLSOnly) replicating the TLS-only master, and returns once
// the replica's link to it is up.
func StartReplicaTLSOnly(t testing.TB, f TLSFiles, master *Process, extra ...string) *Process {
	t.Helper()
	host, port, _ := strings.Cut(master.Addr, ":")
	r := StartRedisTLSOnly(t, f, append([]string{"--replicaof", host, port}, extra...)...)
	c := DialTLS(t, r.Addr, f.ClientConfig(t))
	Eventually(t, StartTimeout, func() bool {
		return infoField(c.Do("INFO", "replication"), "master_link_status") == "up"
	}, "replica %s of %s: link not up", r.Addr, master.Addr)
	c.Conn.Close()
	return r
}

// StartSentinelsTLS starts n sentinels, as StartSentinels does, that
// watch TLS-only masters and their replicas over TLS with the
// certificate of f, and are asked in plaintext on their Addr. They talk
// to each other over TLS too (tls-replication applies to every link a
// sentinel makes), on a TLS port of their own that their hellos
// announce: without it they could not reach each other, nor agree on a
// failover.
func StartSentinelsTLS(t testing.TB, f TLSFiles, n int, masters []SentinelMaster, replicas int) []*Process {
	t.Helper()
	var sentinels []*Process
	for range n {
		sentinels = append(sentinels, StartSentinel(t, masters,
			"tls-port "+strconv.Itoa(FreePort(t)), "tls-replication yes", "tls-auth-clients no",
			"tls-cert-file "+f.Cert, "tls-key-file "+f.Key, "tls-ca-cert-file "+f.CA))
	}
	for _, m := range masters {
		WaitSentinels(t, sentinels, m.Name, replicas)
	}
	return sentinels
}
