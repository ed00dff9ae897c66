//go:build linux

// Command connload opens many client connections to a Redis server or proxy
// and holds them, for scripts/bench_conns.sh to read the server's memory and
// latency at a given number of clients.
//
//	connload [flags] idle
//	connload [flags] ping
//	connload [flags] busy FRACTION SECONDS
//
// It opens -n connections, spread round-robin over the -sources loopback
// addresses (a source address has about 28,000 ephemeral ports, so four take
// more than 100,000), -dialers at a time so the server's accept backlog does
// not overflow, and prints "open N". Then, by mode:
//
//   - idle: nothing more.
//   - ping: one PING on every connection at once, every reply read, then
//     "all answered N": the moment a server holds the most per-client state
//     for a client that is not in the middle of a request.
//   - busy: FRACTION of the connections each send GETs of random preloaded
//     keys (key:000000000000 .. -keys) back to back, one in flight (-P 1),
//     for SECONDS; "busy B of N for Ds" when they start, and "result ..."
//     with the request count, rate and latency quantiles when they stop.
//
// In every mode the connections then stay open until stdin closes, so the
// script decides how long the server holds them. Every failure (a connect,
// a wrong reply) ends the tool with a message and exit status 1, except
// that a busy phase reports its errors in the result line.
//
// The soft RLIMIT_NOFILE is raised to the hard limit first; when that is
// still too low for -n connections the tool says so and exits.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// spareFDs are the descriptors the tool needs besides its connections.
const spareFDs = 64

type options struct {
	addr        string
	conns       int
	sources     []net.IP
	dialers     int
	dialTimeout time.Duration
	replyWait   time.Duration
	keys        int
	mode        string
	fraction    float64       // busy only
	duration    time.Duration // busy only
}

func main() {
	opts, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "connload:", err)
		os.Exit(2)
	}
	// stdin closing ends the tool, whatever it is doing.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "connload:", err)
		os.Exit(1)
	}
}

func parseArgs(args []string) (options, error) {
	fs := flag.NewFlagSet("connload", flag.ContinueOnError)
	var o options
	var sources string
	fs.StringVar(&o.addr, "addr", "127.0.0.1:6379", "the server's `host:port`")
	fs.IntVar(&o.conns, "n", 1000, "client connections to open")
	fs.StringVar(&sources, "sources", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5", "local `addresses` to connect from, round-robin")
	fs.IntVar(&o.dialers, "dialers", 64, "connects in flight at once")
	fs.DurationVar(&o.dialTimeout, "dial-timeout", 10*time.Second, "how long one connect may take")
	fs.DurationVar(&o.replyWait, "reply-timeout", 30*time.Second, "how long ping waits for all replies")
	fs.IntVar(&o.keys, "keys", 10000, "busy GETs keys key:000000000000 .. key:<keys-1>")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: connload [flags] idle | ping | busy FRACTION SECONDS")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for s := range strings.SplitSeq(sources, ",") {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			return o, fmt.Errorf("-sources: %q is not an IP address", s)
		}
		o.sources = append(o.sources, ip)
	}
	switch {
	case o.conns < 1:
		return o, fmt.Errorf("-n %d: need at least one connection", o.conns)
	case o.dialers < 1:
		return o, fmt.Errorf("-dialers %d: need at least one", o.dialers)
	case o.keys < 1:
		return o, fmt.Errorf("-keys %d: need at least one", o.keys)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return o, errors.New("no mode given")
	}
	o.mode = rest[0]
	switch {
	case (o.mode == "idle" || o.mode == "ping") && len(rest) == 1:
	case o.mode == "busy" && len(rest) == 3:
		var err error
		if o.fraction, err = strconv.ParseFloat(rest[1], 64); err != nil || o.fraction <= 0 || o.fraction > 1 {
			return o, fmt.Errorf("busy FRACTION %q: want a number in (0, 1]", rest[1])
		}
		secs, err := strconv.ParseFloat(rest[2], 64)
		if err != nil || secs <= 0 {
			return o, fmt.Errorf("busy SECONDS %q: want a positive number", rest[2])
		}
		o.duration = time.Duration(secs * float64(time.Second))
	default:
		fs.Usage()
		return o, fmt.Errorf("bad mode %q", strings.Join(rest, " "))
	}
	return o, nil
}

func run(ctx context.Context, o options, out io.Writer) error {
	if err := raiseFileLimit(o.conns + spareFDs); err != nil {
		return err
	}
	conns, err := dialAll(ctx, o)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "open %d\n", len(conns))
	switch o.mode {
	case "ping":
		if err := pingAll(conns, o.replyWait); err != nil {
			return err
		}
		fmt.Fprintf(out, "all answered %d\n", len(conns))
	case "busy":
		busy := max(int(o.fraction*float64(len(conns))+0.5), 1)
		fmt.Fprintf(out, "busy %d of %d for %gs\n", busy, len(conns), o.duration.Seconds())
		res := runBusy(ctx, conns[:busy], o.keys, o.duration)
		fmt.Fprintln(out, res)
	}
	<-ctx.Done()
	return nil
}

// raiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit and fails
// when that is below need.
func raiseFileLimit(need int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("%d connections need %d file descriptors, and the hard limit (ulimit -Hn) is %d", need-spareFDs, need, lim.Max)
	}
	return nil
}

// dialAll opens o.conns connections, o.dialers at a time, connection i from
// o.sources[i % len]. On the first failure it stops and returns the
// connections opened so far with the error.
func dialAll(ctx context.Context, o options) ([]net.Conn, error) {
	conns := make([]net.Conn, o.conns)
	dialers := make([]net.Dialer, len(o.sources))
	for i, ip := range o.sources {
		dialers[i] = net.Dialer{
			Timeout:   o.dialTimeout,
			LocalAddr: &net.TCPAddr{IP: ip},
			Control:   bindNoPort,
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for range min(o.dialers, o.conns) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.conns || ctx.Err() != nil {
					return
				}
				d := &dialers[i%len(dialers)]
				c, err := d.DialContext(ctx, "tcp", o.addr)
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("connection %d of %d, from %s: %w", i+1, o.conns, d.LocalAddr.(*net.TCPAddr).IP, err)
						cancel()
					})
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	opened := conns[:0]
	for _, c := range conns {
		if c != nil {
			opened = append(opened, c)
		}
	}
	if firstErr == nil && len(opened) < o.conns {
		firstErr = fmt.Errorf("stopped after %d of %d connections: %w", len(opened), o.conns, context.Cause(ctx))
	}
	return opened, firstErr
}

// bindNoPort defers the choice of a connection's local port from bind to
// connect, where the kernel may reuse a port toward another destination: with
// a source address given, bind alone would hold a port per connection out of
// the source's ~28,000.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	return errors.Join(err, serr)
}

// pingWorkers share the connections in ping mode: each writes a PING on all
// of its connections, then reads their replies, so every PING is on its way
// before any reply is awaited.
const pingWorkers = 8

// pingAll sends one PING on every connection and checks every reply is
// +PONG, all within wait.
func pingAll(conns []net.Conn, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	ping := []byte("*1\r\n$4\r\nPING\r\n")
	errs := make([]error, pingWorkers)
	var wg sync.WaitGroup
	for w := range pingWorkers {
		wg.Go(func() {
			for i := w; i < len(conns); i += pingWorkers {
				conns[i].SetDeadline(deadline)
				if _, err := conns[i].Write(ping); err != nil {
					errs[w] = fmt.Errorf("PING on connection %d: %w", i+1, err)
					return
				}
			}
			// One small reader at a time: the replies wait in the sockets.
			r := bufio.NewReaderSize(nil, 64)
			for i := w; i < len(conns); i += pingWorkers {
				r.Reset(conns[i])
				kind, line, err := readReply(r)
				if err == nil && (kind != '+' || string(line) != "PONG") {
					err = fmt.Errorf("got %c%s", kind, line)
				}
				if err != nil {
					errs[w] = fmt.Errorf("reply to PING on connection %d: %w", i+1, err)
					return
				}
				conns[i].SetDeadline(time.Time{})
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// busyResult is what the busy phase measured.
type busyResult struct {
	conns    int
	requests uint64
	elapsed  time.Duration
	errors   int
	firstErr error
	lat      *histogram
}

// String is the tool's "result" line: key=value pairs, latencies in µs.
func (r busyResult) String() string {
	us := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) }
	rps := 0.0
	if r.elapsed > 0 {
		rps = float64(r.requests) / r.elapsed.Seconds()
	}
	s := fmt.Sprintf("result busy=%d requests=%d seconds=%.2f rps=%.0f p50_us=%s p99_us=%s max_us=%s errors=%d",
		r.conns, r.requests, r.elapsed.Seconds(), rps, us(r.lat.Quantile(0.50)), us(r.lat.Quantile(0.99)), us(r.lat.Max()), r.errors)
	if r.firstErr != nil {
		s += " first_error=" + strconv.Quote(r.firstErr.Error())
	}
	return s
}

// runBusy has every one of conns send GETs back to back until d has passed
// (or ctx ends); a connection whose request fails stops and counts an error.
func runBusy(ctx context.Context, conns []net.Conn, keys int, d time.Duration) busyResult {
	res := busyResult{conns: len(conns), lat: new(histogram)}
	var (
		requests atomic.Uint64
		mu       sync.Mutex
		wg       sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(d)
	for _, c := range conns {
		wg.Go(func() {
			n, err := getLoop(ctx, c, keys, stop, res.lat)
			requests.Add(n)
			if err != nil {
				mu.Lock()
				res.errors++
				if res.firstErr == nil {
					res.firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = requests.Load()
	return res
}

// getLoop sends one GET at a time on c until stop, recording each one's
// latency; it returns the number answered.
func getLoop(ctx context.Context, c net.Conn, keys int, stop time.Time, lat *histogram) (uint64, error) {
	const prefix = "*2\r\n$3\r\nGET\r\n$16\r\nkey:"
	req := []byte(prefix + "000000000000\r\n")
	digits := req[len(prefix) : len(prefix)+12]
	r := bufio.NewReaderSize(c, 256)
	// A server that stops answering must not hold the phase past its end.
	c.SetDeadline(stop.Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	var n uint64
	for ctx.Err() == nil {
		t0 := time.Now()
		if t0.After(stop) {
			break
		}
		setDigits(digits, rand.IntN(keys))
		if _, err := c.Write(req); err != nil {
			return n, err
		}
		kind, line, err := readReply(r)
		if err == nil && kind != '$' {
			err = fmt.Errorf("GET: got %c%s", kind, line)
		}
		if err != nil {
			return n, err
		}
		lat.Record(time.Since(t0))
		n++
	}
	return n, nil
}

// setDigits writes v into digits in decimal, zero-padded to their length.
func setDigits(digits []byte, v int) {
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = byte('0' + v%10)
		v /= 10
	}
}

// maxBulk bounds the bulk replies readReply accepts: the tool's own values
// are a few bytes.
const maxBulk = 1 << 20

// readReply reads one RESP reply that is not an aggregate: its type byte and
// its first line without the CRLF (valid until r's next read); a bulk
// string's payload is read and dropped.
func readReply(r *bufio.Reader) (kind byte, line []byte, err error) {
	line, err = r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return 0, nil, fmt.Errorf("reply line over %d bytes: %.80q", len(line), line)
	}
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, nil, fmt.Errorf("malformed reply %q", line)
	}
	kind, line = line[0], line[1:len(line)-2]
	switch kind {
	case '+', '-', ':':
		return kind, line, nil
	case '$':
		n, err := strconv.Atoi(string(line))
		if err != nil || n < -1 || n > maxBulk {
			return 0, nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n >= 0 {
			if _, err := r.Discard(n + 2); err != nil {
				return 0, nil, err
			}
		}
		return kind, nil, nil
	}
	return 0, nil, fmt.Errorf("unexpected reply type %q", kind)
}
