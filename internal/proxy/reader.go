package proxy

import (
	"io"
	"math/bits"
	"net"
	"sync"
	"syscall"

	"github.com/nutcracker-go/nutcracker/internal/rawio"
)

// connReader reads a client connection and hands what it read to its
// consumer, the client's parser.
//
// Two things make it cheaper than a loop of reads:
//
//   - The consumer runs inside the raw read call (syscall.RawConn.Read),
//     so that after a read that emptied the socket (it returned less than
//     the buffer had room for) the reader waits in the poller straight
//     away. A loop of reads would read once more and find nothing (EAGAIN)
//     every time: one system call per request of a client that waits for
//     its reply, as most do. Waiting first loses nothing: the poller's
//     readiness is reset only when a raw read call starts, and any byte
//     that arrives after the read that emptied the socket makes the socket
//     ready again.
//   - The buffer comes from a pool only once bytes are there to read, so
//     that an idle client holds no read buffer: before waiting with no
//     unparsed byte, the buffer is let go.
//
// A consumer that runs inside the raw read holds the socket's read lock,
// and a Close of the socket from another goroutine waits for it to return;
// so the goroutines that must stop a reader shut its socket down instead
// (client.breakSocket) and leave the Close to the client's end.
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

	// buf holds the bytes read; those from start on are not consumed yet.
	// It is nil while the reader waits idle.
	buf   []byte
	start int
	// consume parses buf from start on, moving start past what it used;
	// it reports true to stop reading.
	consume func() (stop bool)

	// State of the raw read in progress; readFn is readOnce bound once, so
	// that a read allocates nothing.
	readFn func(fd uintptr) bool
	// readReadyFn is readReady bound once; ended: its readOnce ended
	// (consume stopped, the read failed or found the end).
	readReadyFn func(fd uintptr) bool
	ended       bool
	err         error // the failed read's
	stopped     bool  // consume asked to stop
}

func newConnReader(conn net.Conn, pool *sync.Pool, size int, consume func() bool) *connReader {
	r := &connReader{conn: conn, pool: pool, size: size, consume: consume}
	r.readFn, r.readReadyFn = r.readOnce, r.readReady
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			r.raw = raw
		}
	}
	return r
}

// run reads and consumes until consume asks to stop (nil) or a read fails:
// io.EOF when the client closed its end, the poller's error (a deadline,
// a close) or the system call's.
func (r *connReader) run() error {
	if r.raw == nil {
		return r.runConn()
	}
	r.stopped, r.err = false, nil
	err := r.raw.Read(r.readFn)
	switch {
	case err != nil:
		return err
	case r.stopped:
		return nil
	case r.err != nil:
		return &net.OpError{Op: "read", Net: "tcp", Err: r.err}
	}
	return io.EOF
}

// runReady reads and consumes what the socket holds now, as run does, but
// returns where run would wait: stopped when consume asked to stop, else
// nil when the socket is empty. A connection without a descriptor (a TLS
// client's) is not read here.
func (r *connReader) runReady() (stopped bool, err error) {
	if r.raw == nil {
		return false, nil
	}
	r.stopped, r.err, r.ended = false, nil, false
	if err := r.raw.Read(r.readReadyFn); err != nil {
		return false, err
	}
	switch {
	case !r.ended:
		return false, nil
	case r.stopped:
		return true, nil
	case r.err != nil:
		return false, &net.OpError{Op: "read", Net: "tcp", Err: r.err}
	}
	return false, io.EOF
}

func (r *connReader) readReady(fd uintptr) bool {
	r.ended = r.readOnce(fd)
	return true // never waits
}

// runConn is run for a connection without a descriptor of its own (a TLS
// client's): its buffer is held while it reads.
func (r *connReader) runConn() error {
	for {
		r.makeRoom()
		n, err := r.conn.Read(r.buf[len(r.buf):cap(r.buf)])
		if n > 0 && r.consumed(n) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readOnce is the raw read, and the consumer runs in it: it reports false
// (wait until readable) when the socket is empty, true when the consumer
// stops or the read failed or found the end.
func (r *connReader) readOnce(fd uintptr) bool {
	for {
		r.makeRoom()
		room := cap(r.buf) - len(r.buf)
		n, err := rawio.Read(fd, r.buf[len(r.buf):cap(r.buf)])
		if err == syscall.EAGAIN {
			r.idle()
			return false
		}
		if err != nil || n == 0 {
			r.err = err
			return true
		}
		if r.consumed(n) {
			r.stopped = true
			return true
		}
		if n < room { // the socket is empty: wait for more
			r.idle()
			return false
		}
	}
}

// consumed adds the n bytes just read to buf and consumes them; it reports
// whether the consumer stops.
func (r *connReader) consumed(n int) bool {
	r.buf = r.buf[:len(r.buf)+n]
	r.fill = max(r.fill, len(r.buf))
	stop := r.consume()
	if r.start == len(r.buf) { // everything parsed
		r.buf, r.start = r.buf[:0], 0
	}
	return stop
}

// makeRoom makes sure buf has room for a read: a buffer taken for bytes
// that arrived, or a full one compacted or grown.
func (r *connReader) makeRoom() {
	switch {
	case r.buf == nil:
		r.take()
	case len(r.buf) < cap(r.buf):
	case r.start > 0:
		n := copy(r.buf, r.buf[r.start:])
		r.buf, r.start = r.buf[:n], 0
	default:
		r.grow()
	}
}

// idle is called before waiting: a buffer holding no unparsed byte is let
// go.
func (r *connReader) idle() {
	if len(r.buf) > 0 {
		return
	}
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

// unconsumed returns the bytes read and not consumed.
func (r *connReader) unconsumed() []byte { return r.buf[r.start:] }

// prime makes b, bytes read before the reader started (a handed-over
// client's), the first to consume.
func (r *connReader) prime(b []byte) { r.buf, r.start = b, 0 }

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

// grow moves buf, full of one request's bytes, to a buffer of twice its
// capacity, for a request larger than the buffer (a 10,000-key MGET).
// Buffers up to maxBigBuf come from size-class pools and go back when the
// client is idle again, so that large requests do not leave garbage each
// time.
func (r *connReader) grow() {
	bp := getBig(2 * cap(r.buf))
	grown := append((*bp)[:0], r.buf...)
	r.release()
	if cap(grown) <= maxBigBuf {
		r.bufp = bp
	}
	r.buf = grown
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
