package proxy

import (
	"io"
	"math/bits"
	"net"
	"sync"
	"syscall"

	"github.com/nutcracker-go/nutcracker/internal/rawio"
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
	bufp *[]byte // the pooled buffer in use, if any: of pool, or of bigBufs when grown
	// fill is the most bytes the buffer in use has held; hint is what the
	// last one held, when more than size: a client sending large requests
	// (a 10,000-key MGET) then gets a buffer their size at once, rather
	// than one grown from size by copies and short reads each time.
	fill, hint int

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
	if r.raw == nil { // a TLS client's: the buffer is held while it reads
		if buf == nil {
			r.take()
			buf, r.buf = r.buf, nil
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
		r.take()
	}
	r.n, r.err = rawio.Read(fd, r.buf[len(r.buf):cap(r.buf)])
	if r.err == syscall.EAGAIN {
		if len(r.buf) == 0 { // wait without a buffer
			if r.fill > 0 { // not a wake-up that found nothing
				r.hint = 0
				if r.fill > r.size {
					r.hint = min(r.fill, maxBigBuf)
				}
				r.fill = 0
			}
			r.release()
			r.buf = nil
		}
		return false
	}
	r.fill = max(r.fill, len(r.buf)+r.n)
	return true
}

// take gets a buffer for bytes that arrived: of the size hint says, or a
// pooled one of the proxy's size.
func (r *connReader) take() {
	if r.hint > r.size {
		r.bufp = getBig(r.hint)
	} else {
		r.bufp = r.pool.Get().(*[]byte)
	}
	r.buf = (*r.bufp)[:0]
}

// release gives the pooled buffer back: when the connection ends, when it
// waits idle, or when grow has moved its bytes to a larger one.
func (r *connReader) release() {
	if r.bufp == nil {
		return
	}
	if c := cap(*r.bufp); c != r.size {
		putBig(r.bufp)
	} else {
		r.pool.Put(r.bufp)
	}
	r.bufp = nil
}

// grow returns a buffer of twice buf's capacity holding buf's bytes, for a
// request larger than the buffer (a 10,000-key MGET). Buffers up to
// maxBigBuf come from size-class pools and go back when the client is
// idle again, so that large requests do not leave garbage each time.
func (r *connReader) grow(buf []byte) []byte {
	bp := getBig(2 * cap(buf))
	grown := append((*bp)[:0], buf...)
	r.release()
	if cap(grown) <= maxBigBuf {
		r.bufp = bp
	}
	return grown
}

// maxBigBuf is the largest grown read buffer recycled.
const maxBigBuf = 16 << 20

// bigBufs holds grown read buffers by size class: class k has buffers of
// capacity 1<<k.
var bigBufs [25]sync.Pool // *[]byte

func getBig(size int) *[]byte {
	k := bits.Len(uint(size - 1))
	if k < len(bigBufs) {
		if bp, ok := bigBufs[k].Get().(*[]byte); ok {
			return bp
		}
	}
	b := make([]byte, 0, 1<<k)
	return &b
}

func putBig(bp *[]byte) {
	if k := bits.Len(uint(cap(*bp) - 1)); k < len(bigBufs) && cap(*bp) == 1<<k {
		bigBufs[k].Put(bp)
	}
}
