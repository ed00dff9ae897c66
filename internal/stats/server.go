package stats

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nutcracker-go/nutcracker/internal/backoff"
	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// The stats port speaks two protocols on one listener. A connection whose
// first bytes are an HTTP request line is handed to an HTTP server
// (/, /metrics, /stats, /healthz); any other connection (one that sends
// nothing within sniffWait, closes, or sends something else) gets
// twemproxy's document and is closed, as twemproxy does.
const (
	// sniffWait bounds the wait for a connection's first bytes; a
	// twemproxy client, which sends nothing, gets its document this late
	// (at once if it sends a byte that is not HTTP, or shuts its writing
	// side). It is long because browsers open connections before they
	// have a request to send (Chromium's preconnect was seen idle for 260
	// ms before its request): with 50 ms, half the status page's first
	// loads got the document and failed; with 500 ms none did in six.
	sniffWait = 500 * time.Millisecond
	// sniffSize bounds the bytes read while deciding; non-HTTP bytes
	// read are discarded, so a short line does not make close send a RST.
	sniffSize = 512
	// writeTimeout bounds how long a client may take to read a response.
	writeTimeout = 5 * time.Second
	// maxConns bounds the stats connections open at once. A connection
	// accepted past it closes the oldest one that is not being answered
	// (see connTable), so slow or half-open clients cannot keep a health
	// probe out; it stays well below a proxy's descriptor limit.
	maxConns = 512

	// httpReadHeaderTimeout is short: probes, scrapers and browsers send
	// their headers in one packet, and a client slower than this only
	// holds a connection that a newer one may take anyway.
	httpReadHeaderTimeout = 2 * time.Second
	httpIdleTimeout       = 30 * time.Second
	httpMaxHeaderBytes    = 8 << 10
)

// httpMethods are the request-line methods that make a connection HTTP.
var httpMethods = []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "}

// Serve answers the connections accepted on ln until ln is closed, then
// closes the HTTP connections still open and returns nil. It keeps at most
// maxConns connections open: past that, each new one closes the oldest
// that is not being answered (see connTable). An accept that
// fails for want of a resource (EMFILE, ENFILE, ...) or because of one
// connection is tried again after package backoff's pause, with one
// warning per run of failures; any other accept error ends Serve and is
// returned. HTTP requests get:
//
//	/         the status page, which polls /metrics and /healthz
//	/metrics  Prometheus text format (NewRegistry)
//	/stats    the twemproxy document, application/json
//	/healthz  200 "ok\n" when health returns nil, else 503 and its error
//
// Every other connection gets the twemproxy document and is closed. A nil
// health counts as healthy.
//
// view returns the Process to show; it is called once per document and
// per scrape, so it may build one on demand (a master summing its
// workers), and must not return nil. extra collectors are added to
// /metrics (see NewRegistry).
func Serve(ln net.Listener, view func() *Process, health func() error, extra ...prometheus.Collector) error {
	hl := &handoffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{
		Handler:           markAnswering(lazyHandler(func() http.Handler { return newHandler(view, health, extra) })),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, statsConnKey{}, c)
		},
		ConnState: func(c net.Conn, state http.ConnState) {
			if sc, ok := c.(*statsConn); ok && state == http.StateIdle {
				sc.answering.Store(false)
			}
		},
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(hl) // returns http.ErrServerClosed once srv.Close runs
	}()
	defer func() {
		srv.Close()
		<-served
	}()

	table := newConnTable(maxConns)
	var pause backoff.Accept // while accept fails for want of a resource
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !temporary(err) {
				return err
			}
			wait, first := pause.Failed()
			if first {
				logging.Warnf("stats port %s: accept: %v: retrying every %v to %v until it works", ln.Addr(), err, backoff.Min, backoff.Max)
			}
			time.Sleep(wait)
			continue
		}
		pause.OK()
		sc := &statsConn{Conn: conn, table: table}
		if evicted := table.admit(sc); evicted != nil {
			evicted.Close()
		}
		go serveConn(sc, view, hl)
	}
}

// statsConnKey is the request context key of the *statsConn a request
// came on.
type statsConnKey struct{}

// markAnswering marks a request's connection as being answered until
// the server finds it idle again, so that it is the last to be closed
// for a newer one.
func markAnswering(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sc, ok := r.Context().Value(statsConnKey{}).(*statsConn); ok {
			sc.answering.Store(true)
		}
		h.ServeHTTP(w, r)
	})
}

// temporary tells whether an accept error is for want of a resource (or
// about one connection) rather than about the listener.
func temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPERM, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Port is a stats port served by Serve on a goroutine of its own. An
// error that ends Serve is logged at error level and makes /healthz fail
// from then on.
type Port struct {
	done chan struct{}
	err  atomic.Pointer[error]
}

// StartPort serves ln as Serve does, until ln is closed.
func StartPort(ln net.Listener, view func() *Process, health func() error, extra ...prometheus.Collector) *Port {
	p := &Port{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if err := Serve(ln, view, p.health(health), extra...); err != nil {
			p.err.Store(&err)
			logging.Errorf("stats port %s: %v: no longer served", ln.Addr(), err)
		}
	}()
	return p
}

// health is the port's /healthz: the error that ended Serve, else
// health's verdict.
func (p *Port) health(health func() error) func() error {
	return func() error {
		if err := p.Err(); err != nil {
			return fmt.Errorf("stats port: %w", err)
		}
		if health != nil {
			return health()
		}
		return nil
	}
}

// Err returns the error that ended Serve: nil while it serves, and after
// ln was closed.
func (p *Port) Err() error {
	if err := p.err.Load(); err != nil {
		return *err
	}
	return nil
}

// Wait waits until Serve returned, once ln is closed.
func (p *Port) Wait() { <-p.done }

// serveConn waits for conn's first bytes and either hands it to the HTTP
// server or writes the twemproxy document and closes it.
func serveConn(conn *statsConn, view func() *Process, hl *handoffListener) {
	var buf [sniffSize]byte
	n := 0
	conn.SetReadDeadline(time.Now().Add(sniffWait))
	for n < len(buf) {
		m, err := conn.Read(buf[n:])
		n += m
		if v := sniffHTTP(buf[:n]); v != maybeHTTP {
			if v == isHTTP {
				conn.pending = append([]byte(nil), buf[:n]...)
				conn.SetReadDeadline(time.Now().Add(httpReadHeaderTimeout))
				hl.handoff(conn)
				return
			}
			break
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) { // closed for a newer connection
				return
			}
			break
		}
	}
	defer conn.Close()
	conn.answering.Store(true)
	conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	conn.Write(view().AppendJSON(nil, time.Now()))
}

type sniffResult int

const (
	maybeHTTP sniffResult = iota // a prefix of a request line: read on
	isHTTP
	notHTTP
)

// sniffHTTP tells whether b starts like an HTTP request line: a method,
// a space, then the start of a target ("/path", "*" or an absolute URL).
func sniffHTTP(b []byte) sniffResult {
	for _, m := range httpMethods {
		switch {
		case len(b) <= len(m):
			if m[:len(b)] == string(b) {
				return maybeHTTP
			}
		case string(b[:len(m)]) == m:
			if c := b[len(m)]; c > ' ' && c < 0x7f {
				return isHTTP
			}
			return notHTTP
		}
	}
	return notHTTP
}

// statsConn is an accepted stats connection: Read returns the bytes read
// while sniffing before reading on, and Close takes it out of its table.
type statsConn struct {
	net.Conn
	pending []byte
	table   *connTable
	elem    *list.Element // in table; guarded by table.mu
	// answering is set while a reply is being made or written: the
	// connection is closed for a newer one only when every one is.
	answering atomic.Bool
	once      sync.Once
}

func (c *statsConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

func (c *statsConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.table.remove(c) })
	return err
}

// connTable holds the open stats connections, oldest first. Past its
// limit, a new connection takes the place of the oldest one that is not
// being answered (one still sniffing, waiting for its headers or idle
// between requests), or of the oldest of all when every one is: the
// newest connections are the ones served, so a probe gets in however many
// clients stall, and a stalled client loses its connection only to a
// newer one.
type connTable struct {
	mu    sync.Mutex
	conns list.List // of *statsConn
	limit int
}

func newConnTable(limit int) *connTable {
	return &connTable{limit: limit}
}

// admit adds c, and returns the connection c displaces, which the caller
// closes, or nil.
func (t *connTable) admit(c *statsConn) (evicted *statsConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns.Len() >= t.limit {
		victim := t.conns.Front()
		for e := victim; e != nil; e = e.Next() {
			if !e.Value.(*statsConn).answering.Load() {
				victim = e
				break
			}
		}
		evicted = t.conns.Remove(victim).(*statsConn)
		evicted.elem = nil
	}
	c.elem = t.conns.PushBack(c)
	return evicted
}

// remove takes c out, if admit has not already.
func (t *connTable) remove(c *statsConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.elem != nil {
		t.conns.Remove(c.elem)
		c.elem = nil
	}
}

// handoffListener is the listener the HTTP server accepts from: its
// connections are those serveConn found to be HTTP.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// handoff passes conn to the HTTP server, or closes it if the server is gone.
func (l *handoffListener) handoff(conn net.Conn) {
	select {
	case l.conns <- conn:
	case <-l.done:
		conn.Close()
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// lazyHandler serves with the handler build returns, built on the first
// request: a proxy whose stats port only twemproxy clients read (or nobody)
// never builds the routes, the registry and the collectors at all.
func lazyHandler(build func() http.Handler) http.Handler {
	handler := sync.OnceValue(build)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler().ServeHTTP(w, r)
	})
}

// newHandler routes the stats port's HTTP requests.
func newHandler(view func() *Process, health func() error, extra []prometheus.Collector) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveStatusPage)
	mux.Handle("GET /metrics", promhttp.HandlerFor(NewRegistry(view, extra...), promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, // serve what was gathered, e.g. despite a duplicate server name
	}))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(view().AppendJSON(nil, time.Now()))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if health != nil {
			if err := health(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(err.Error() + "\n"))
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}
