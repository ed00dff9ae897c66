//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestConnCarriesBytesBothWays(t *testing.T) {
	a, b := pair(t)
	ra, rb := New(a), New(b)
	// More than a socket buffer holds, so Write must wait for the reader.
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	done := make(chan error, 1)
	go func() {
		n, err := ra.Write(msg)
		if err == nil && n != len(msg) {
			err = io.ErrShortWrite
		}
		done <- err
	}()
	got := make([]byte, 0, len(msg))
	buf := make([]byte, 64<<10)
	for len(got) < len(msg) {
		n, err := rb.Read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-done; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("bytes differ")
	}
}

func TestConnReadEOF(t *testing.T) {
	a, b := pair(t)
	a.Close()
	if n, err := New(b).Read(make([]byte, 16)); n != 0 || err != io.EOF {
		t.Fatalf("read of a closed peer: %d, %v; want 0, EOF", n, err)
	}
}

func TestConnReadDeadline(t *testing.T) {
	_, b := pair(t)
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := New(b).Read(make([]byte, 16))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v; want a timeout", err)
	}
}

func TestConnReadAfterClose(t *testing.T) {
	_, b := pair(t)
	rb := New(b)
	errs := make(chan error, 1)
	go func() {
		_, err := rb.Read(make([]byte, 16))
		errs <- err
	}()
	time.Sleep(10 * time.Millisecond) // usually in the poller by now; either way Read must fail
	b.Close()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed conn: %v; want net.ErrClosed", err)
	}
}

func TestWriteToPeerGone(t *testing.T) {
	a, b := pair(t)
	b.(*net.TCPConn).SetLinger(0)
	b.Close() // reset: writes fail
	ra := New(a)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = ra.Write([]byte("x"))
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
}

// readAll reads n bytes from c.
func readAll(t *testing.T, c io.Reader, n int) []byte {
	t.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, 64<<10)
	for len(got) < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", len(got), n, err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func TestWriteBuffers(t *testing.T) {
	a, b := pair(t)
	ra := New(a)
	// Over IOV_MAX segments, some empty, several megabytes in all: many
	// partial writevs, some ending inside a segment.
	var bufs net.Buffers
	var want []byte
	for i := range 3000 {
		seg := bytes.Repeat([]byte{byte(i)}, (i*37)%2000)
		bufs = append(bufs, seg)
		want = append(want, seg...)
	}
	kept := append(net.Buffers(nil), bufs...)
	done := make(chan error, 1)
	go func() {
		n, err := ra.WriteBuffers(bufs)
		if err == nil && n != int64(len(want)) {
			err = io.ErrShortWrite
		}
		done <- err
	}()
	got := readAll(t, b, len(want))
	if err := <-done; err != nil {
		t.Fatalf("WriteBuffers: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes differ")
	}
	for i := range bufs {
		if len(bufs[i]) != len(kept[i]) {
			t.Fatalf("WriteBuffers changed the caller's buffer %d", i)
		}
	}
}

func TestConnWithoutDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ra, rb := New(a), New(b)
	go func() {
		ra.Write([]byte("one "))
		ra.WriteBuffers(net.Buffers{[]byte("two "), []byte("three")})
	}()
	if got := readAll(t, rb, len("one two three")); string(got) != "one two three" {
		t.Fatalf("read %q", got)
	}
}
