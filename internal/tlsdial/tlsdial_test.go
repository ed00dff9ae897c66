package tlsdial_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
	"github.com/nutcracker-go/nutcracker/internal/tlsdial"
)

// TestClient handshakes with a real TLS-only redis-server: its
// certificate names 127.0.0.1 and localhost, so the dialled host passes
// and a ServerName of another name fails; a server that never answers is
// given up when the context ends.
func TestClient(t *testing.T) {
	f := testutil.NewTLSFiles(t, "tlsdial CA")
	r := testutil.StartRedisTLSOnly(t, f)
	handshake := func(ctx context.Context, addr, serverName string) error {
		t.Helper()
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		cfg := f.ClientConfig(t)
		cfg.ServerName = serverName
		tc, err := tlsdial.Client(ctx, raw, tlsdial.Host(addr), cfg)
		if err != nil {
			return err
		}
		if _, err := tc.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 7)
		if n, err := tc.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
			t.Fatalf("PING over TLS: %q, %v", buf[:n], err)
		}
		return nil
	}
	if err := handshake(context.Background(), r.Addr, ""); err != nil {
		t.Fatalf("the dialled host, 127.0.0.1: %v", err)
	}
	if err := handshake(context.Background(), r.Addr, "localhost"); err != nil {
		t.Fatalf("ServerName localhost: %v", err)
	}
	var bad x509.HostnameError
	if err := handshake(context.Background(), r.Addr, "other.example"); !errors.As(err, &bad) {
		t.Fatalf("ServerName other.example: %v, want a host name error", err)
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := handshake(ctx, silent.Addr().String(), ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a server that never answers: %v, want the context's deadline", err)
	}
}

func TestHost(t *testing.T) {
	for addr, want := range map[string]string{"127.0.0.1:6379": "127.0.0.1", "[::1]:6379": "::1", "redis.example:6380": "redis.example", "noport": "noport"} {
		if got := tlsdial.Host(addr); got != want {
			t.Errorf("Host(%q) = %q, want %q", addr, got, want)
		}
	}
}
