// Package rawio reads and writes non-blocking sockets with raw system
// calls, which the Go scheduler does not see.
//
// A read or write through the os or net package tells the scheduler its
// thread enters a system call. When the thread is descheduled inside one,
// as happens on a core shared with the backends (the redis-server a write
// wakes preempts the proxy as the call returns), the runtime's monitor
// thread finds the processor "in a system call" and hands it to another
// thread: thread switches per request, and a monitor that keeps waking
// every 20 µs. A call on a non-blocking socket returns at once (EAGAIN
// when it would wait), so the scheduler need not know of it; waiting is
// left to the runtime's poller through syscall.RawConn.
package rawio

import (
	"io"
	"net"
	"syscall"
)

// Conn reads and writes a connection with Read and Write, waiting in the
// runtime's poller, so that its deadlines and Close work as they do for
// the net.Conn it wraps. A Conn is used by one reader and one writer at a
// time.
type Conn struct {
	raw syscall.RawConn

	// The read and write in progress; the functions are bound once, so
	// that a call allocates nothing.
	readFn, writeFn func(fd uintptr) bool
	rbuf, wbuf      []byte
	rn, wn          int
	rerr, werr      error
}

// New returns a Conn for conn, or nil when conn has no descriptor.
func New(conn net.Conn) *Conn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	c := &Conn{raw: raw}
	c.readFn, c.writeFn = c.readOnce, c.writeOnce
	return c
}

// Read reads into b, waiting until bytes come; io.EOF at end of file.
func (c *Conn) Read(b []byte) (int, error) {
	c.rbuf = b
	err := c.raw.Read(c.readFn)
	n, rerr := c.rn, c.rerr
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: rerr}
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) readOnce(fd uintptr) bool {
	c.rn, c.rerr = Read(fd, c.rbuf)
	return c.rerr != syscall.EAGAIN
}

// Write writes all of b, waiting while the socket is full.
func (c *Conn) Write(b []byte) (int, error) {
	c.wbuf, c.wn, c.werr = b, 0, nil
	err := c.raw.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wbuf = nil
	switch {
	case err != nil:
		return n, err
	case werr != nil:
		return n, &net.OpError{Op: "write", Net: "tcp", Err: werr}
	}
	return n, nil
}

func (c *Conn) writeOnce(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		n, err := Write(fd, c.wbuf[c.wn:])
		if err == syscall.EAGAIN {
			return false
		}
		if err != nil {
			c.werr = err
			return true
		}
		c.wn += n
	}
	return true
}
