// Package testutil starts real backend processes (redis-server, memcached)
// on free loopback ports for tests, and polls conditions with a deadline
// instead of sleeping.
//
// Every process is started in its own temporary directory, is killed when
// the test ends, and can be killed (SIGKILL), paused (SIGSTOP), resumed and
// restarted on the same port to inject faults.
package testutil

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long a backend may take to answer after start.
const StartTimeout = 10 * time.Second

// Process is a backend server process listening on a loopback port.
type Process struct {
	Kind string // "redis" or "memcached"
	Port int
	Addr string // 127.0.0.1:Port
	Dir  string // its working directory

	t      testing.TB
	tls    *tls.Config // when not nil, Addr speaks TLS only, and is dialled with it
	args   []string
	cmd    *exec.Cmd
	exited chan struct{}
}

// FreePort returns a loopback TCP port that was free a moment ago and
// that this process has not handed out before. Ports come from below the
// kernel's ephemeral range, at random: a port the kernel picked for us
// could be handed out again at once as the local port of some outgoing
// connection (tests open thousands), and then the server meant to listen
// on it fails with "address already in use".
func FreePort(t testing.TB) int {
	t.Helper()
	lo := ephemeralLow()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 10000 + rand.IntN(lo-10000)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatalf("free port: none found below %d", lo)
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = make(map[int]bool)
)

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 11000 {
				lo = v
			}
		}
	}
	return lo
}

// StartRedis starts a redis-server with no persistence on a free port.
// Extra arguments are passed as config directives, e.g. "--requirepass", "x".
func StartRedis(t testing.TB, extra ...string) *Process {
	t.Helper()
	return start(t, "redis", FreePort(t), extra)
}

// StartMemcached starts a memcached with 64 MB of memory on a free port.
func StartMemcached(t testing.TB, extra ...string) *Process {
	t.Helper()
	return start(t, "memcached", FreePort(t), extra)
}

func start(t testing.TB, kind string, port int, extra []string) *Process {
	t.Helper()
	p := &Process{Kind: kind, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: t.TempDir(), t: t}
	switch kind {
	case "redis":
		p.args = append(append([]string{"redis-server", "--port", strconv.Itoa(port)}, redisArgs(p.Dir)...), extra...)
	case "memcached":
		p.args = []string{"memcached", "-p", strconv.Itoa(port), "-l", "127.0.0.1", "-U", "0", "-m", "64"}
		if os.Geteuid() == 0 {
			p.args = append(p.args, "-u", "root") // memcached refuses root without it
		}
		p.args = append(p.args, extra...)
	}
	p.launch()
	t.Cleanup(p.Kill)
	return p
}

// redisArgs are the arguments of every test redis-server but its ports:
// loopback only, no persistence, its files in dir, and a replica's full
// sync started at once (Redis waits 5 s by default for more replicas to
// sync with: after a failover the new master, a replica before, would).
func redisArgs(dir string) []string {
	return []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no",
		"--repl-diskless-sync-delay", "0"}
}

func (p *Process) launch() {
	p.t.Helper()
	bin, err := exec.LookPath(p.args[0])
	if err != nil {
		p.t.Fatalf("%s not installed (apt-get install -y redis-server memcached): %v", p.args[0], err)
	}
	cmd := exec.Command(bin, p.args[1:]...)
	cmd.Dir = p.Dir
	// Appended to: a restarted process's log keeps its earlier runs.
	log, err := os.OpenFile(p.Dir+"/server.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("create log: %v", err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.args[0], err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(p.exited) }()
	deadline := time.Now().Add(StartTimeout)
	for !p.ready() {
		select {
		case <-p.exited:
			out, _ := os.ReadFile(p.Dir + "/server.log")
			p.t.Fatalf("%s on port %d exited at start: %s", p.Kind, p.Port, out)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s on port %d not ready after %v", p.Kind, p.Port, StartTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ready reports whether the server answers a trivial command.
func (p *Process) ready() bool {
	d := &net.Dialer{Timeout: time.Second}
	var c net.Conn
	var err error
	if p.tls != nil {
		c, err = tls.DialWithDialer(d, "tcp", p.Addr, p.tls)
	} else {
		c, err = d.Dial("tcp", p.Addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	probe, want := "PING\r\n", "+PONG"
	if p.Kind == "memcached" {
		probe, want = "version\r\n", "VERSION"
	}
	if _, err := c.Write([]byte(probe)); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, want) || strings.HasPrefix(line, "-NOAUTH"))
}

// Kill sends SIGKILL and waits for the process to exit. Safe to call twice.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// Pause stops the process with SIGSTOP: it keeps its sockets but answers nothing.
func (p *Process) Pause() { p.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (p *Process) Resume() { p.signal(syscall.SIGCONT) }

func (p *Process) signal(sig syscall.Signal) {
	p.t.Helper()
	if p.cmd == nil {
		p.t.Fatalf("%s on port %d is not running", p.Kind, p.Port)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to %s: %v", sig, p.Kind, err)
	}
}

// Restart starts the process again on the same port after a Kill.
func (p *Process) Restart() {
	p.t.Helper()
	p.Kill()
	p.launch()
}

// Eventually polls cond every 5 ms until it returns true, failing the test
// with msg if it has not within timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %s", timeout, fmt.Sprintf(msg, args...))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Lazy formats as what its function returns when formatted: a failure
// message's state as it is at the failure, not when Eventually was called.
type Lazy func() string

func (l Lazy) String() string { return l() }

// Client is a raw RESP or memcached text connection for tests: it writes
// bytes as given and reads replies frame by frame, so tests see exactly
// what a client on the wire would.
type Client struct {
	t    testing.TB
	Conn net.Conn
	R    *bufio.Reader
}

// Dial connects to addr ("host:port" or a unix socket path starting with "/").
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{t: t, Conn: c, R: bufio.NewReaderSize(c, 64<<10)}
}

// Dial connects to p, with TLS when it speaks only TLS.
func (p *Process) Dial(t testing.TB) *Client {
	t.Helper()
	if p.tls != nil {
		return DialTLS(t, p.Addr, p.tls)
	}
	return Dial(t, p.Addr)
}

// Send writes raw bytes.
func (c *Client) Send(raw string) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Conn.Write([]byte(raw)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Cmd encodes args as a RESP multibulk request and writes it.
func (c *Client) Cmd(args ...string) {
	c.t.Helper()
	c.Send(EncodeCmd(args...))
}

// Do sends one RESP command and returns its raw reply.
func (c *Client) Do(args ...string) string {
	c.t.Helper()
	c.Cmd(args...)
	return c.Reply()
}

// Reply reads one complete RESP reply and returns its raw bytes.
func (c *Client) Reply() string {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := ReadReply(c.R)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return s
}

// Line reads one CRLF-terminated line (memcached replies), CRLF included.
func (c *Client) Line() string {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := c.R.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line: %v", err)
	}
	return s
}

// Closed reports whether the server closed the connection (EOF within d with nothing read).
func (c *Client) Closed(d time.Duration) bool {
	c.Conn.SetReadDeadline(time.Now().Add(d))
	_, err := c.R.ReadByte()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// EncodeCmd returns args as a RESP multibulk request.
func EncodeCmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// ReadReply reads one complete reply, RESP2 or RESP3, and returns its raw
// bytes; an attribute ("|") comes with the reply it precedes.
func ReadReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("bad reply line %q", line)
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return line, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil {
			return "", fmt.Errorf("bad blob length %q", line)
		}
		if n < 0 {
			return line, nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return "", err
		}
		return line + string(body), nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil {
			return "", fmt.Errorf("bad aggregate length %q", line)
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		out := line
		for i := 0; i < n; i++ {
			el, err := ReadReply(r)
			if err != nil {
				return "", err
			}
			out += el
		}
		if line[0] == '|' { // an attribute: the reply follows
			rest, err := ReadReply(r)
			return out + rest, err
		}
		return out, nil
	}
	return "", fmt.Errorf("bad reply type %q", line)
}

// StatsShape blanks every number and the source and version strings of a
// twemproxy stats document, so two documents compare by keys, order and
// punctuation only.
func StatsShape(doc string) string {
	doc = statsStrings.ReplaceAllString(doc, `"$1":""`)
	return statsNumbers.ReplaceAllString(doc, ":0")
}

var (
	statsStrings = regexp.MustCompile(`"(source|version)":"[^"]*"`)
	statsNumbers = regexp.MustCompile(`:\d+`)
)
