//go:build linux

package sockets

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// checkFlags fails unless fd is non-blocking and close-on-exec.
func checkFlags(t testing.TB, fd int) {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), syscall.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), syscall.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&syscall.O_NONBLOCK == 0 || fdfl&syscall.FD_CLOEXEC == 0 {
		t.Fatalf("fd %d: flags %#x, fd flags %#x: want non-blocking and close-on-exec", fd, fl, fdfl)
	}
}

// listenerOf makes a listener from a copy of fd, as a worker does.
func listenerOf(t testing.TB, fd int) net.Listener {
	t.Helper()
	dup, err := unix.FcntlInt(uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "listener")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// exchange dials addr on network, and checks that ln accepts the
// connection and that bytes go through it.
func exchange(t testing.TB, ln net.Listener, network, addr string) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q: %v", buf, err)
	}
}

// TestListenFD: the socket is non-blocking and close-on-exec, has the
// backlog asked for, and a listener made from a copy of it accepts.
func TestListenFD(t *testing.T) {
	l := config.Listen{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	fd, err := ListenFD(l, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	checkFlags(t, fd)
	if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR); err != nil || v != 1 {
		t.Errorf("SO_REUSEADDR %d: %v", v, err)
	}
	if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v != 0 {
		t.Errorf("SO_REUSEPORT %d on a single socket: %v", v, err)
	}
	exchange(t, listenerOf(t, fd), "tcp", l.Addr)

	// The port is taken now: a second socket on it fails with an error
	// that says where.
	if fd2, err := ListenFD(l, 16); err == nil {
		syscall.Close(fd2)
		t.Error("a second socket bound the same address")
	} else if want := "bind: address already in use"; err.Error() != want {
		t.Errorf("second bind: %q, want %q", err, want)
	}
}

// TestListenGroup: n TCP sockets on one port, each with SO_REUSEPORT and
// each accepting; a unix address or n = 1 gives one socket.
func TestListenGroup(t *testing.T) {
	l := config.Listen{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	fds, err := ListenGroup(l, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	if len(fds) != 3 {
		t.Fatalf("%d sockets, want 3", len(fds))
	}
	for _, fd := range fds {
		checkFlags(t, fd)
		if v, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v != 1 {
			t.Errorf("fd %d: SO_REUSEPORT %d: %v", fd, v, err)
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port); got != l.Addr {
			t.Errorf("fd %d bound to %s, want %s", fd, got, l.Addr)
		}
	}

	for _, tc := range []struct {
		l config.Listen
		n int
	}{
		{config.Listen{Network: "tcp", Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}, 1},
		{config.Listen{Network: "unix", Addr: filepath.Join(t.TempDir(), "nc.sock")}, 4},
	} {
		fds, err := ListenGroup(tc.l, 0, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if len(fds) != 1 {
			t.Errorf("%s, %d workers: %d sockets, want 1", tc.l.Addr, tc.n, len(fds))
		}
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}
}

// TestListenUnix: a stale socket file is replaced, the permissions of the
// configuration are applied, and a file that is not a socket is left
// alone (the bind fails).
func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nc.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, as after a crash

	ln, err := Listen(config.Listen{Network: "unix", Addr: path, Perm: 0o600}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket file mode %v, want a socket with 0600", fi.Mode())
	}
	exchange(t, ln, "unix", path)

	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenFD(config.Listen{Network: "unix", Addr: plain}, 0); err == nil {
		t.Error("bound over a regular file")
	}
	if b, err := os.ReadFile(plain); err != nil || string(b) != "keep" {
		t.Errorf("regular file: %q, %v", b, err)
	}
}

func TestSetKeepAlive(t *testing.T) {
	ln, err := Listen(config.Listen{Network: "tcp", Addr: "127.0.0.1:0"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, on := range []bool{true, false} {
		SetKeepAlive(s, on)
		raw, err := s.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var gerr error
		raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
		if gerr != nil || (v != 0) != on {
			t.Errorf("SetKeepAlive(%v): SO_KEEPALIVE %d: %v", on, v, gerr)
		}
	}
}
