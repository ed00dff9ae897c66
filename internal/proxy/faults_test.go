package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestBackendClosesMidReply uses a listener that answers half a bulk
// reply and closes: no real server can be made to do that on cue. The
// client gets a connection error for that request, and the pool's other
// server keeps serving.
func TestBackendClosesMidReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n') // the request's first line
				c.Write([]byte("$10\r\nabc"))
			}()
		}
	}()
	r := testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := runProxy(t, poolYAML(listen, "", ln.Addr().String()+":1", r.Addr+":1"), DefaultMbufSize)
	half := 0
	if p.poolList()[0].pool().Servers[1].Config.Addr == ln.Addr().String() {
		half = 1
	}
	c := testutil.Dial(t, listen)
	kHalf, kGood := keyOn(t, p, half, "h"), keyOn(t, p, 1-half, "g")
	c.Cmd("GET", kHalf)
	c.Cmd("SET", kGood, "1")
	if got := c.Reply(); got != "-ERR Connection reset by peer\r\n" {
		t.Fatalf("reply cut by the server: %q", got)
	}
	if got := c.Reply(); got != "+OK\r\n" {
		t.Fatalf("request to the healthy server: %q", got)
	}
}

// TestClientGoneWithRequestsInFlight closes a client while its requests
// wait on a paused server: nothing leaks and other clients are served.
func TestClientGoneWithRequestsInFlight(t *testing.T) {
	tp := startProxy(t, 1, "")
	st := tp.Proxy.poolList()[0].pool().Stats
	c := testutil.Dial(t, tp.addr)
	tp.backends[0].Pause()
	for i := 0; i < 100; i++ {
		c.Cmd("SET", fmt.Sprint("gone", i), "v")
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return st.Servers[0].OutQueue.Load() == 100 },
		"requests never reached the server")
	c.Conn.Close()
	tp.backends[0].Resume()
	testutil.Eventually(t, 5*time.Second, func() bool {
		return st.ClientConnections.Load() == 0 && st.Servers[0].OutQueue.Load() == 0
	}, "client or its requests still held")
	if got := testutil.Dial(t, tp.addr).Do("GET", "gone99"); got != "$1\r\nv\r\n" {
		t.Fatalf("GET after the client left: %q", got)
	}
}

// TestClientStallsMidRequest: a client that sends half a request and
// stops holds nobody else up, and is answered once it sends the rest.
func TestClientStallsMidRequest(t *testing.T) {
	tp := startProxy(t, 2, "")
	slow := testutil.Dial(t, tp.addr)
	full := testutil.EncodeCmd("SET", "half", "done")
	slow.Send(full[:len(full)/2])
	other := testutil.Dial(t, tp.addr)
	for i := 0; i < 10; i++ {
		expect(t, other, "+OK\r\n", "SET", fmt.Sprint("other", i), "1")
	}
	slow.Send(full[len(full)/2:])
	if got := slow.Reply(); got != "+OK\r\n" {
		t.Fatalf("completed request: %q", got)
	}
	expect(t, other, "$4\r\ndone\r\n", "GET", "half")
}

// TestManyIdleClients holds 10,000 idle client connections open and
// checks what each costs the proxy: parked, no goroutine stack and no
// buffer. The clients live in a child process
// (this test binary, see holdConnections) so that neither process needs
// more than 10,000 descriptors.
func TestManyIdleClients(t *testing.T) {
	n := 10000
	if raceEnabled { // each connection costs many times more under the race detector
		n = 5000
	}
	tp := startProxy(t, 1, "")
	perConn := idleClientCost(t, tp.Proxy, tp.addr, n, "")
	t.Logf("%d idle clients: %.1f KB each (heap and goroutine stacks)", n, float64(perConn)/1024)
	if perConn > maxIdleClientCost && !raceEnabled {
		t.Errorf("an idle client costs %d bytes, want at most %d", perConn, maxIdleClientCost)
	}
	// The proxy still serves.
	if got := testutil.Dial(t, tp.addr).Do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING with %d idle clients: %q", n, got)
	}
}

// TestManyIdleTLSClients: idle TLS clients, each having sent a request,
// are parked too, and cost a parked client plus Go's TLS state.
func TestManyIdleTLSClients(t *testing.T) {
	n := 2000
	if raceEnabled {
		n = 500
	}
	f := testutil.NewTLSFiles(t, "test CA")
	r := testutil.StartRedis(t)
	yaml, addr := tlsPool(t, f, "", r.Addr+":1")
	p := runProxy(t, yaml, DefaultMbufSize)
	perConn := idleClientCost(t, p, addr, n, f.CA)
	t.Logf("%d idle TLS clients: %.1f KB each (heap and goroutine stacks)", n, float64(perConn)/1024)
	if perConn > maxIdleTLSClientCost && !raceEnabled {
		t.Errorf("an idle TLS client costs %d bytes, want at most %d", perConn, maxIdleTLSClientCost)
	}
}

// maxIdleTLSClientCost bounds the memory of a parked TLS client, which
// parks whole: its socket's structures and client struct (about 1.3 KB),
// and Go's TLS state: the tls.Conn (about 1 KB), its two AES-GCM states
// (1.8 KB), and the buffers its handshake grew (3.5 KB), which crypto/tls
// keeps; 10 KB were measured, heap overhead included.
const maxIdleTLSClientCost = 14 << 10

// idleClientCost opens n clients to addr from a child process (with TLS,
// trusting ca, when ca is not ""), waits until p parked them all, and
// returns the memory each costs p.
func idleClientCost(t *testing.T, p *Proxy, addr string, n int, ca string) uint64 {
	raiseFDLimit(t, uint64(n)+1000)
	before := memInUse()
	holdParked(t, p, addr, n, ca)
	return (memInUse() - before) / uint64(n)
}

// heldClients are the connections of a holdConnections child process.
type heldClients struct {
	stdin  io.Writer
	stdout *bufio.Reader
}

// holdParked opens n clients to addr from a child process (with TLS,
// trusting ca, when ca is not ""), held until the test ends, and waits
// until p parked them all.
func holdParked(t *testing.T, p *Proxy, addr string, n int, ca string) *heldClients {
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fmt.Sprintf("NUTCRACKER_HOLD=%s,%d,%s", addr, n, ca))
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); child.Wait() })
	st := p.poolList()[0].pool().Stats
	accepted := func() bool { return st.ClientConnections.Load() == int64(n) }
	testutil.Eventually(t, 2*time.Minute, accepted, "not all %d clients accepted", n)
	waitParked(t, p, n)
	return &heldClients{stdin: stdin, stdout: bufio.NewReader(stdout)}
}

// pingAll has every held client send a PING at once and waits until each
// has its reply.
func (h *heldClients) pingAll(t *testing.T) {
	if _, err := h.stdin.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if line, err := h.stdout.ReadString('\n'); line != "answered\n" {
		t.Fatalf("the held clients' PINGs: %q %v", line, err)
	}
}

// TestWakeFloodMemory: parked clients that all send at once are woken a
// batch at a time, each batch served before the next is woken (the parker
// yields), so the flood costs the proxy little more memory than its
// clients cost parked. Woken all at once, each would hold a client struct
// and a goroutine stack at the same time.
func TestWakeFloodMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector multiplies what each client costs")
	}
	const n = 5000
	// As pinned to one core: a woken client runs only when the parker
	// lets it.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	tp := startProxy(t, 1, "")
	raiseFDLimit(t, n+1000)
	held := holdParked(t, tp.Proxy, tp.addr, n, "")
	runtime.GC()
	debug.FreeOSMemory() // what the flood needs must come from the system
	resetPeakRSS(t)
	before := procStatusKB(t, "VmRSS")
	held.pingAll(t)
	grew := procStatusKB(t, "VmHWM") - before
	t.Logf("%d parked clients sending at once: peak RSS %d KB above the %d KB before, %.2f KB per client", n, grew, before, float64(grew)/n)
	if grew > maxWakeFloodCost*n/1024 {
		t.Errorf("the flood of %d clients raised the peak RSS by %d KB, want at most %.1f KB per client", n, grew, maxWakeFloodCost/1024.0)
	}
}

// maxWakeFloodCost bounds the peak memory per client of a flood of
// parked clients sending at once: 0.95-0.98 KB were measured (the
// protocol state each keeps, and the garbage of waking and parking until
// a collection), and 2.3-2.7 KB with every client woken before any was
// served.
const maxWakeFloodCost = 1536

// resetPeakRSS sets the process's peak RSS (VmHWM) to its RSS now.
func resetPeakRSS(t *testing.T) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// procStatusKB reads a "kB" field of /proc/self/status.
func procStatusKB(t *testing.T, field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// holdConnections runs in the child process of idleClientCost and
// TestWakeFloodMemory: it opens the connections NUTCRACKER_HOLD asks for
// ("addr,count,ca": with a CA file, TLS connections that PING once) and
// holds them until its standard input closes. Each byte read from its
// standard input meanwhile sends a PING on every connection at once; it
// writes "answered" once every one has its reply.
func holdConnections(spec string) {
	parts := strings.SplitN(spec, ",", 3)
	addr, ca := parts[0], parts[2]
	n, _ := strconv.Atoi(parts[1])
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	var cfg *tls.Config
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hold: %v\n", err)
			os.Exit(1)
		}
		host, _, _ := net.SplitHostPort(addr)
		cfg = &tls.Config{RootCAs: x509.NewCertPool(), ServerName: host}
		cfg.RootCAs.AppendCertsFromPEM(pem)
	}
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil && cfg != nil {
			tc := tls.Client(c, cfg.Clone())
			c = tc
			_, err = tc.Write([]byte("PING\r\n"))
			if err == nil {
				_, err = io.ReadFull(tc, make([]byte, 7))
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "hold: connection %d: %v\n", i, err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	ping, pong := []byte("PING\r\n"), make([]byte, len("+PONG\r\n"))
	for b := make([]byte, 1); ; {
		if _, err := os.Stdin.Read(b); err != nil {
			os.Exit(0)
		}
		for _, c := range conns {
			c.Write(ping)
		}
		for i, c := range conns {
			if _, err := io.ReadFull(c, pong); err != nil || string(pong) != "+PONG\r\n" {
				fmt.Fprintf(os.Stderr, "hold: connection %d: %q %v\n", i, pong, err)
				os.Exit(1)
			}
		}
		fmt.Println("answered")
	}
}

// raiseFDLimit lifts the soft open-files limit to at least n (up to the
// hard limit), restoring it when the test ends.
func raiseFDLimit(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	old := lim
	if lim.Cur >= n {
		return
	}
	lim.Cur = min(n, lim.Max)
	if lim.Cur < n {
		t.Fatalf("open files hard limit %d is below the %d this test needs", lim.Max, n)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// maxIdleClientCost bounds the memory of one parked plaintext client, a
// parkedConn (96 bytes) and its entry in the parker's map: 0.1 KB were
// measured, where a goroutine stack alone is 2 KB.
const maxIdleClientCost = 256

// memInUse is the heap and goroutine stack memory in use after a GC.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC() // the pools' victim caches too
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// TestAcceptBacksOffWhenOutOfDescriptors runs the proxy out of file
// descriptors: accept fails with EMFILE, which is logged once, not once
// per retry, and the waiting client is served as soon as descriptors are
// free again.
func TestAcceptBacksOffWhenOutOfDescriptors(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "nc.log")
	if err := logging.Init(logging.Warn, logFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logging.Init(logging.Warn, "") })
	tp := startProxy(t, 1, "preconnect: true")
	srv := tp.Proxy.poolList()[0].pool().Servers[0]
	testutil.Eventually(t, 5*time.Second, func() bool { return srv.Stats.Connections.Load() == 1 },
		"server connection never made")

	// The log is read through a descriptor opened now.
	lf, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	readLog := func() string {
		b, _ := io.ReadAll(io.NewSectionReader(lf, 0, 1<<20))
		return string(b)
	}

	// Hold every descriptor the limit allows, then free one for the client.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	old := lim
	lim.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	restored := false
	restore := func() {
		if !restored {
			restored = true
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
			for _, f := range held {
				f.Close()
			}
		}
	}
	defer restore()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break // EMFILE: every descriptor is taken
		}
		held = append(held, f)
	}
	if len(held) == 0 {
		restore()
		t.Fatal("no descriptor to hold")
	}
	held[len(held)-1].Close()
	held = held[:len(held)-1]
	conn, err := net.Dial("tcp", tp.addr) // takes the last descriptor
	if err != nil {
		restore()
		t.Fatal(err)
	}
	defer conn.Close()
	testutil.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(readLog(), "accept:")
	}, "accept error never logged")
	time.Sleep(300 * time.Millisecond) // several retries while out of descriptors
	restore()

	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 7)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "+PONG\r\n" {
		t.Fatalf("after descriptors were freed: %q, %v", buf, err)
	}
	if log := readLog(); strings.Count(log, "accept:") != 1 {
		t.Fatalf("want one accept error line:\n%s", log)
	}
}
