//go:build linux

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
	"unsafe"
)

// Conn reads and writes a connection with raw calls, waiting in the
// runtime's poller, so that its deadlines and Close work as they do for
// the net.Conn it wraps (a connection without a descriptor is used as it
// is). A Conn is used by one reader and one writer at a time.
type Conn struct {
	conn net.Conn
	raw  syscall.RawConn // nil: conn's own methods

	// The read and write in progress; the functions are bound once, so
	// that a call allocates nothing.
	readFn, writeFn, writevFn func(fd uintptr) bool
	rbuf, wbuf                []byte
	rn, wn                    int
	rerr, werr                error
	vbufs                     net.Buffers // what WriteBuffers has still to write, from voff in the first
	voff                      int
	iov                       []syscall.Iovec // scratch for writev
}

// New returns a Conn for conn.
func New(conn net.Conn) *Conn {
	c := &Conn{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	c.readFn, c.writeFn, c.writevFn = c.readOnce, c.writeOnce, c.writevOnce
	return c
}

// Read reads into b, waiting until bytes come; io.EOF at end of file.
func (c *Conn) Read(b []byte) (int, error) {
	if c.raw == nil {
		return c.conn.Read(b)
	}
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
	if c.raw == nil {
		return c.conn.Write(b)
	}
	c.wbuf, c.wn, c.werr = b, 0, nil
	err := c.raw.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wbuf = nil
	return n, writeError(err, werr)
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

// WriteBuffers writes all of bufs with vectored writes, waiting while the
// socket is full; it returns the bytes written.
func (c *Conn) WriteBuffers(bufs net.Buffers) (int64, error) {
	if c.raw == nil {
		return bufs.WriteTo(c.conn)
	}
	var total int64
	for _, b := range bufs {
		total += int64(len(b))
	}
	c.vbufs, c.voff, c.werr = bufs, 0, nil
	err := c.raw.Write(c.writevFn)
	left := -int64(c.voff)
	for _, b := range c.vbufs {
		left += int64(len(b))
	}
	c.vbufs = nil
	return total - left, writeError(err, c.werr)
}

// maxIovecs is the most buffers one writev takes (Linux's IOV_MAX).
const maxIovecs = 1024

func (c *Conn) writevOnce(fd uintptr) bool {
	defer clear(c.iov) // holds no buffer between calls
	for len(c.vbufs) > 0 {
		c.iov = c.iov[:0]
		for i, b := range c.vbufs {
			if i == 0 {
				b = b[c.voff:]
			}
			if len(b) > 0 && len(c.iov) < maxIovecs {
				v := syscall.Iovec{Base: unsafe.SliceData(b)}
				v.SetLen(len(b))
				c.iov = append(c.iov, v)
			}
		}
		if len(c.iov) == 0 {
			c.vbufs = nil
			break
		}
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.iov))), uintptr(len(c.iov)))
		switch errno {
		case 0:
			c.consume(int(n))
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.werr = errno
		return true
	}
	return true
}

// consume drops the first n bytes of what WriteBuffers has to write,
// without changing the caller's slices.
func (c *Conn) consume(n int) {
	for len(c.vbufs) > 0 {
		rest := len(c.vbufs[0]) - c.voff
		if n < rest {
			c.voff += n
			return
		}
		n -= rest
		c.vbufs, c.voff = c.vbufs[1:], 0
	}
}

// writeError is the error of a write: the poller's (deadline, close) or
// the system call's.
func writeError(pollErr, callErr error) error {
	switch {
	case pollErr != nil:
		return pollErr
	case callErr != nil:
		return &net.OpError{Op: "write", Net: "tcp", Err: callErr}
	}
	return nil
}
