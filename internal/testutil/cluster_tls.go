package testutil

import (
	"slices"
	"testing"
)

// StartTLSCluster is StartCluster with nodes that speak only TLS
// (StartTLSClusterNode, certificates of f), joined with redis-cli --tls.
// The Cluster's helpers (Wait, NodesView, Reshard...) reach them with TLS,
// and so does each node's Dial.
func StartTLSCluster(t testing.TB, f TLSFiles, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	cli := []string{"--tls", "--cacert", f.CA, "--cert", f.Cert, "--key", f.Key}
	return startCluster(t, masters, replicasPerMaster, cli, func() *Process { return StartTLSClusterNode(t, f) })
}

// StartTLSClusterNode starts one empty cluster node, as StartClusterNode,
// that listens only with TLS (port 0, its Port and Addr are its TLS port)
// with the certificate of f, and speaks TLS to the other nodes on the
// cluster bus and to its master (tls-cluster, tls-replication): so it
// announces its TLS port to the cluster and to TLS clients. Clients'
// certificates are not asked for. Extra arguments are passed as
// StartRedis's ("--port", N adds a plaintext port).
func StartTLSClusterNode(t testing.TB, f TLSFiles, extra ...string) *Process {
	t.Helper()
	p := tlsOnlyRedis(t, f)
	p.args = slices.Concat(p.args, []string{"--tls-cluster", "yes"}, clusterNodeArgs(t), extra)
	p.launch()
	t.Cleanup(p.Kill)
	return p
}
