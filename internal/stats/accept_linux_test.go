package stats

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// failCounter is a listener that records when its accepts fail.
type failCounter struct {
	net.Listener
	mu    sync.Mutex
	fails []time.Time
	last  error
}

func (l *failCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.mu.Lock()
		l.fails, l.last = append(l.fails, time.Now()), err
		l.mu.Unlock()
	}
	return c, err
}

func (l *failCounter) failures() ([]time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.fails), l.last
}

// exhaustFDs lowers the soft open-files limit to the lowest descriptor
// free, so that no new descriptor can be made in this process; restore
// puts the limit back, and runs at the end of the test anyway. No other
// test of this package runs at the same time (none is parallel).
func exhaustFDs(t *testing.T) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	free, err := syscall.Dup(0) // the lowest free descriptor
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(free)
	low := old
	low.Cur = uint64(free)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// TestAcceptBackoff: while the process has no descriptor left, accept
// fails with EMFILE: Serve keeps going, trying again after 5, 10, 20 ...
// ms, logs the run of failures once, and serves the connection that
// waited once descriptors are back.
func TestAcceptBackoff(t *testing.T) {
	logFile := logToFile(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &failCounter{Listener: inner}
	port := StartPort(ln, testProcess, nil)
	defer port.Wait()
	defer ln.Close()
	// The client's socket is made first: connecting takes no descriptor.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	client := os.NewFile(uintptr(fd), "client")
	defer client.Close()
	addr := inner.Addr().(*net.TCPAddr)

	restore := exhaustFDs(t)
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: addr.Port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	const failures = 6
	testutil.Eventually(t, 10*time.Second, func() bool {
		fails, _ := ln.failures()
		return len(fails) >= failures
	}, "accept did not fail %d times", failures)
	restore()

	fails, last := ln.failures()
	if !errors.Is(last, syscall.EMFILE) {
		t.Fatalf("accept failed with %v, want EMFILE", last)
	}
	// 5+10+20+40+80 ms between the first failure and the sixth.
	if d := fails[failures-1].Sub(fails[0]); d < 150*time.Millisecond {
		t.Errorf("%d failed accepts within %v: no backoff", failures, d)
	}
	b, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, string(b))
	if port.Err() != nil {
		t.Errorf("the port stopped: %v", port.Err())
	}
	if got := strings.Count(readFile(logFile), "too many open files"); got != 1 {
		t.Errorf("%d log lines about the failures, want 1:\n%s", got, readFile(logFile))
	}
}
