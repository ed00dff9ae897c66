package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// TestReaderSizesBuffersByLastRequest: after a request larger than the
// pooled size, the next one is read into a buffer that size at once;
// after a small one, the pooled size again.
func TestReaderSizesBuffersByLastRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	const size = 4 << 10
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, size); return &b }}
	// The consumer takes a "request" of want bytes once all are there,
	// noting the capacity of the buffer its first bytes were read into.
	want, first := 0, 0
	var r *connReader
	r = newConnReader(server, pool, size, func() bool {
		if first == 0 {
			first = cap(r.buf)
		}
		if len(r.buf) < want {
			return false
		}
		r.start = len(r.buf)
		return true
	})
	defer r.release()
	// receive waits idle (the reader lets its buffer go), then reads n
	// bytes as a request and returns the capacity of the buffer the first
	// read used.
	receive := func(n int) int {
		t.Helper()
		server.SetReadDeadline(time.Now().Add(time.Millisecond))
		if err := r.run(); !errors.Is(err, os.ErrDeadlineExceeded) || r.buf != nil {
			t.Fatalf("idle read: %v, holding %d bytes; want a timeout and no buffer", err, cap(r.buf))
		}
		server.SetReadDeadline(time.Time{})
		want, first = n, 0
		go client.Write(make([]byte, n))
		if err := r.run(); err != nil {
			t.Fatal(err)
		}
		return first
	}
	if got := receive(100); got != size {
		t.Fatalf("first small request read into %d bytes, want the pooled %d", got, size)
	}
	receive(100 << 10)
	if got := receive(100); got < 100<<10 {
		t.Fatalf("request after a 100 KB one read into %d bytes, want 100 KB or more", got)
	}
	if got := receive(100); got != size {
		t.Fatalf("request after a small one read into %d bytes, want the pooled %d", got, size)
	}
}
