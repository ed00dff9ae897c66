//go:build linux

package worker

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/control"
	"github.com/nutcracker-go/nutcracker/internal/sockets"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// master is the master's side of a worker run in this process: the
// listening sockets it keeps and its end of the control channel.
type master struct {
	ctl  *control.Conn
	fds  map[string]int // by sockets.Key
	code chan int       // the worker's exit code
}

// listenSocket opens a listening socket for a redis pool on a free port,
// kept by the master until the test ends.
func (m *master) listenSocket(t *testing.T) config.Listen {
	t.Helper()
	l := config.Listen{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	fd, err := sockets.ListenFD(l, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	m.fds[sockets.Key(l)] = fd
	return l
}

// dupFile is a copy of fd as a worker inherits it.
func dupFile(t *testing.T, fd int, name string) *os.File {
	t.Helper()
	dup, err := unix.FcntlInt(uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(dup), name)
}

// startWorker runs a worker on the master's sockets; it has not been
// sent its configuration yet.
func startWorker(t *testing.T, m *master) {
	t.Helper()
	ctl, workerEnd, err := control.Pair()
	if err != nil {
		t.Fatal(err)
	}
	wctl, err := control.New(workerEnd)
	if err != nil {
		t.Fatal(err)
	}
	lns := make(map[string]*os.File)
	for key, fd := range m.fds {
		lns[key] = dupFile(t, fd, key)
	}
	m.ctl = ctl
	go func() { m.code <- run(wctl, lns, Options{}) }()
	t.Cleanup(func() {
		ctl.Close() // the worker, if still running, sees its master gone
		select {
		case <-m.code:
		case <-time.After(10 * time.Second):
			t.Error("worker still running after its channel closed")
		}
		wctl.Close()
	})
}

func newMaster() *master { return &master{fds: make(map[string]int), code: make(chan int, 1)} }

func (m *master) send(t *testing.T, msg *control.Message, fd int) {
	t.Helper()
	if err := m.ctl.Send(msg, fd); err != nil {
		t.Fatal(err)
	}
}

// expect reads the worker's next message, which must be of type typ.
func (m *master) expect(t *testing.T, typ string) *control.Message {
	t.Helper()
	m.ctl.SetReadDeadline(time.Now().Add(10 * time.Second))
	msg, err := m.ctl.Recv()
	if err != nil {
		t.Fatalf("waiting for %s: %v", typ, err)
	}
	if msg.Type != typ {
		t.Fatalf("got %+v, want a %s message", msg, typ)
	}
	return msg
}

// exitCode waits for the worker to end.
func (m *master) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case code := <-m.code:
		m.code <- code // for the cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("worker still running")
		return -1
	}
}

func redisPool(name string, l config.Listen, server string) string {
	return fmt.Sprintf("%s:\n  listen: %s\n  redis: true\n  servers:\n   - %s:1\n", name, l.Addr, server)
}

// document is a stats reply as the twemproxy document.
func document(msg *control.Message) string {
	return string(msg.Stats.Process("h", "v", time.Now()).AppendJSON(nil, time.Now()))
}

// TestServeAndStop: the worker serves on the socket it was given, answers
// a stats query, and on stop closes its client once its reply is written,
// sends its final counters and ends with 0; the master's socket still
// takes connections.
func TestServeAndStop(t *testing.T) {
	r := testutil.StartRedis(t)
	m := newMaster()
	l := m.listenSocket(t)
	startWorker(t, m)
	m.send(t, &control.Message{Type: control.MsgStart, File: "nc.yml", Config: []byte(redisPool("p", l, r.Addr))}, -1)
	m.expect(t, control.MsgReady)

	c := testutil.Dial(t, l.Addr)
	if got := c.Do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	m.send(t, &control.Message{Type: control.MsgStats}, -1)
	if doc := document(m.expect(t, control.MsgStats)); !strings.Contains(doc, `"client_connections":1`) {
		t.Errorf("stats: %s", doc)
	}

	r.Pause()
	c.Cmd("GET", "k") // in flight when the stop comes
	m.send(t, &control.Message{Type: control.MsgStop, Delta: 5000}, -1)
	r.Resume()
	if got := c.Reply(); got != "$1\r\nv\r\n" {
		t.Errorf("reply owed at stop: %q", got)
	}
	if !c.Closed(5 * time.Second) {
		t.Error("client not closed after its reply")
	}
	final := m.expect(t, control.MsgStats)
	if !final.Final || !strings.Contains(document(final), `"requests":2`) {
		t.Errorf("final counters: %+v: %s", final, document(final))
	}
	if code := m.exitCode(t); code != 0 {
		t.Errorf("exit code %d after stop", code)
	}
	// The worker closed its copy; the master's socket still queues
	// connections for the next worker.
	conn, err := net.DialTimeout("tcp", l.Addr, time.Second)
	if err != nil {
		t.Fatalf("the master's socket does not take connections: %v", err)
	}
	conn.Close()
}

// TestReloadAddsListener: a listener sent with a reload serves the pool
// the reload adds; a reload the worker refuses is answered with its error.
func TestReloadAddsListener(t *testing.T) {
	r := testutil.StartRedis(t)
	m := newMaster()
	l := m.listenSocket(t)
	startWorker(t, m)
	base := redisPool("p", l, r.Addr)
	m.send(t, &control.Message{Type: control.MsgStart, File: "nc.yml", Config: []byte(base)}, -1)
	m.expect(t, control.MsgReady)

	l2 := m.listenSocket(t)
	m.send(t, &control.Message{Type: control.MsgListener, Key: sockets.Key(l2)}, m.fds[sockets.Key(l2)])
	m.send(t, &control.Message{Type: control.MsgReload, File: "nc.yml", Config: []byte(base + redisPool("q", l2, r.Addr))}, -1)
	if ack := m.expect(t, control.MsgReloaded); ack.Error != "" {
		t.Fatalf("reload: %s", ack.Error)
	}
	if got := testutil.Dial(t, l2.Addr).Do("PING"); got != "+PONG\r\n" {
		t.Errorf("added pool: PING %q", got)
	}

	m.send(t, &control.Message{Type: control.MsgReload, File: "nc.yml", Config: []byte("p:\n  redis: maybe\n")}, -1)
	if ack := m.expect(t, control.MsgReloaded); !strings.Contains(ack.Error, "redis") {
		t.Errorf("invalid reload: error %q", ack.Error)
	}
	if got := testutil.Dial(t, l.Addr).Do("PING"); got != "+PONG\r\n" {
		t.Errorf("after a refused reload: PING %q", got)
	}
}

// TestHandover: on handover the worker gives its client to the master at
// a request boundary, with its descriptor, then sends its final counters.
func TestHandover(t *testing.T) {
	r := testutil.StartRedis(t)
	m := newMaster()
	l := m.listenSocket(t)
	startWorker(t, m)
	m.send(t, &control.Message{Type: control.MsgStart, File: "nc.yml", Config: []byte(redisPool("p", l, r.Addr))}, -1)
	m.expect(t, control.MsgReady)
	c := testutil.Dial(t, l.Addr)
	if got := c.Do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}

	m.send(t, &control.Message{Type: control.MsgHandover, Delta: 5000}, -1)
	h := m.expect(t, control.MsgClient)
	if h.Pool != "p" || h.FD < 0 {
		t.Fatalf("handed over: %+v", h)
	}
	f := os.NewFile(uintptr(h.FD), "client")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("+from the master\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := c.Line(); got != "+from the master\r\n" {
		t.Errorf("the descriptor handed over is not the client's: it read %q", got)
	}
	if final := m.expect(t, control.MsgStats); !final.Final {
		t.Errorf("last message: %+v", final)
	}
	if code := m.exitCode(t); code != 0 {
		t.Errorf("exit code %d after handover", code)
	}
}

// TestEnds: a worker whose first message is not start, or whose master
// goes away, ends with 1.
func TestEnds(t *testing.T) {
	m := newMaster()
	startWorker(t, m)
	m.send(t, &control.Message{Type: control.MsgStats}, -1)
	if code := m.exitCode(t); code != 1 {
		t.Errorf("stats before start: exit code %d", code)
	}

	m = newMaster()
	l := m.listenSocket(t)
	startWorker(t, m)
	m.send(t, &control.Message{Type: control.MsgStart, File: "nc.yml", Config: []byte(redisPool("p", l, "127.0.0.1:1"))}, -1)
	m.expect(t, control.MsgReady)
	m.ctl.Close()
	if code := m.exitCode(t); code != 1 {
		t.Errorf("master gone: exit code %d", code)
	}
}
