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
}

func newConnReader(conn net.Conn, pool *sync.Pool, size int) *connReader {
	r := &connReader{conn: conn, pool: pool, size: size}
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
	var n int
	var rerr error
	err := r.raw.Read(func(fd uintptr) bool {
		if buf == nil {
			r.bufp = r.pool.Get().(*[]byte)
			buf = (*r.bufp)[:0]
		}
		for {
			n, rerr = syscall.Read(int(fd), buf[len(buf):cap(buf)])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			if len(buf) == 0 { // wait without a buffer
				r.release()
				buf = nil
			}
			return false
		}
		return true
	})
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

// release gives the pooled buffer back: when the connection ends, or when
// the caller has moved its bytes to a larger buffer of its own.
func (r *connReader) release() {
	if r.bufp != nil {
		r.pool.Put(r.bufp)
		r.bufp = nil
	}
}
