package stats

import (
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
// (/metrics, /stats, /healthz); any other connection (one that sends
// nothing within sniffWait, closes, or sends something else) gets
// twemproxy's document and is closed, as twemproxy does.
const (
	// sniffWait bounds the wait for a connection's first bytes; a
	// twemproxy client, which sends nothing, gets its document this late.
	sniffWait = 50 * time.Millisecond
	// sniffSize bounds the bytes read while deciding; non-HTTP bytes
	// read are discarded, so a short line does not make close send a RST.
	sniffSize = 512
	// writeTimeout bounds how long a client may take to read a response.
	writeTimeout = 5 * time.Second
	// maxConns bounds the stats connections open at once; more are closed
	// as soon as they are accepted.
	maxConns = 128

	httpReadHeaderTimeout = 5 * time.Second
	httpIdleTimeout       = 30 * time.Second
	httpMaxHeaderBytes    = 8 << 10
)

// httpMethods are the request-line methods that make a connection HTTP.
var httpMethods = []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "}

// Serve answers the connections accepted on ln until ln is closed, then
// closes the HTTP connections still open and returns nil. An accept that
// fails for want of a resource (EMFILE, ENFILE, ...) or because of one
// connection is tried again after package backoff's pause, with one
// warning per run of failures; any other accept error ends Serve and is
// returned. HTTP requests get:
//
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
		Handler:           newHandler(view, health, extra),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
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

	slots := make(chan struct{}, maxConns)
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
		select {
		case slots <- struct{}{}:
		default:
			conn.Close()
			continue
		}
		go serveConn(&statsConn{Conn: conn, release: func() { <-slots }}, view, hl)
	}
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
			break
		}
	}
	defer conn.Close()
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
// while sniffing before reading on, and Close frees its slot.
type statsConn struct {
	net.Conn
	pending []byte
	release func()
	once    sync.Once
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
	c.once.Do(c.release)
	return err
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

// newHandler routes the stats port's HTTP requests.
func newHandler(view func() *Process, health func() error, extra []prometheus.Collector) http.Handler {
	mux := http.NewServeMux()
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
