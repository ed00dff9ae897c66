package proxy

import (
	"io"
	"net"
	"sync"
	"syscall"
)

// connReader reads a client connection into a buffer taken from a pool
// only once bytes are there to read, so that an idle client holds no read
// buffer: when a read finds nothing and the caller's buffer holds no
// unparsed byte, the buffer is let go before waiting in the poller.
type connReader struct {
	conn net.Conn
	raw  syscall.RawConn // nil: plain reads into a buffer held throughout
	pool *sync.Pool      // of *[]byte with the proxy's mbuf size
	size int
	bufp *[]byte // the pooled buffer in use, if any

	// State of the raw read in progress; readFn is readOnce bound once, so
	// that a read allocates nothing.
	readFn func(fd uintptr) bool
	buf    []byte
	n      int
	err    error
}

func newConnReader(conn net.Conn, pool *sync.Pool, size int) *connReader {
	r := &connReader{conn: conn, pool: pool, size: size}
	r.readFn = r.readOnce
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			r.raw = raw
		}
	}
	return r
}

// read appends the bytes available to buf, waiting for some. An empty buf
// is dropped (and a pooled one returned) before waiting, and a pooled
// buffer taken once bytes arrive; so the buffer returned may be another.
// It returns io.EOF when the client closed its end.
func (r *connReader) read(buf []byte) ([]byte, error) {
	if r.raw == nil {
		if buf == nil {
			buf = make([]byte, 0, r.size)
		}
		n, err := r.conn.Read(buf[len(buf):cap(buf)])
		return buf[:len(buf)+n], err
	}
	r.buf = buf
	err := r.raw.Read(r.readFn)
	buf, n, rerr := r.buf, r.n, r.err
	r.buf = nil
	switch {
	case err != nil:
		return buf, err
	case rerr != nil:
		return buf, &net.OpError{Op: "read", Net: "tcp", Err: rerr}
	case n == 0:
		return buf, io.EOF
	}
	return buf[:len(buf)+n], nil
}

// readOnce is the raw read: it reports false (wait until readable) when
// nothing is there, letting go of an empty buffer first.
func (r *connReader) readOnce(fd uintptr) bool {
	if r.buf == nil {
		r.bufp = r.pool.Get().(*[]byte)
		r.buf = (*r.bufp)[:0]
	}
	for {
		r.n, r.err = syscall.Read(int(fd), r.buf[len(r.buf):cap(r.buf)])
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		if len(r.buf) == 0 { // wait without a buffer
			r.release()
			r.buf = nil
		}
		return false
	}
	return true
}

// release gives the pooled buffer back: when the connection ends, or when
// the caller has moved its bytes to a larger buffer of its own.
func (r *connReader) release() {
	if r.bufp != nil {
		r.pool.Put(r.bufp)
		r.bufp = nil
	}
}
