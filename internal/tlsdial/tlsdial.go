// Package tlsdial makes a connection the proxy dialled to a server (a
// backend, a sentinel, a cluster node) a TLS client connection, the same
// way for each: the configuration's ServerName is verified, else the
// dialled host, and the handshake ends with a context.
package tlsdial

import (
	"context"
	"crypto/tls"
	"net"
)

// Client does the TLS handshake on raw, dialled to host, until ctx ends;
// on failure the caller closes raw.
func Client(ctx context.Context, raw net.Conn, host string, cfg *tls.Config) (*tls.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// Host is the host of addr, a "host:port"; addr itself if it has no port.
func Host(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
