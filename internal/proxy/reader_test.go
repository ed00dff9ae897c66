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
	r := newConnReader(server, pool, size)
	defer r.release()
	var buf []byte
	// receive waits idle (the reader lets its buffer go), then reads n
	// bytes the way readLoop does (growing a full buffer) and returns the
	// capacity of the buffer the first read used.
	receive := func(n int) int {
		t.Helper()
		server.SetReadDeadline(time.Now().Add(time.Millisecond))
		var err error
		if buf, err = r.read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || buf != nil {
			t.Fatalf("idle read: %v, holding %d bytes; want a timeout and no buffer", err, cap(buf))
		}
		server.SetReadDeadline(time.Time{})
		go client.Write(make([]byte, n))
		first := 0
		for len(buf) < n {
			if len(buf) == cap(buf) && buf != nil {
				buf = r.grow(buf)
			}
			if buf, err = r.read(buf); err != nil {
				t.Fatal(err)
			}
			if first == 0 {
				first = cap(buf)
			}
		}
		buf = buf[:0] // parsed
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
