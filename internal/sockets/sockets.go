//go:build linux

// Package sockets opens listening sockets as raw descriptors, for a
// process that keeps them and passes copies to others (the master and its
// workers), and as net.Listeners for a process that serves them itself.
// Every descriptor is non-blocking and close-on-exec; none is ever taken
// through (*os.File).Fd, which would switch a socket shared with other
// processes to blocking mode.
package sockets

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nutcracker-go/nutcracker/internal/config"
)

// ListenFD opens a pool's listening socket, with its backlog (the Go net
// package always uses the system maximum), SO_REUSEADDR for TCP, and for a
// unix socket its permissions, after removing a stale socket file. The fd
// is non-blocking and close-on-exec and belongs to the caller: a master
// keeps it and passes copies to its workers.
func ListenFD(l config.Listen, backlog int) (int, error) {
	return listenFD(l, backlog, false)
}

// ListenGroup opens n TCP sockets on a pool's address with SO_REUSEPORT,
// one per worker: the kernel spreads new connections evenly over them,
// where workers sharing one socket would take them unevenly (the first
// awake takes the whole queue). The master keeps every socket open, so a
// worker that exits closes no accept queue; its successor takes the same
// socket. A unix socket cannot be grouped: its one socket is returned.
func ListenGroup(l config.Listen, backlog, n int) ([]int, error) {
	if l.Network == "unix" || n <= 1 {
		fd, err := ListenFD(l, backlog)
		if err != nil {
			return nil, err
		}
		return []int{fd}, nil
	}
	fds := make([]int, 0, n)
	for range n {
		fd, err := listenFD(l, backlog, true)
		if err != nil {
			for _, fd := range fds {
				syscall.Close(fd)
			}
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func listenFD(l config.Listen, backlog int, reusePort bool) (int, error) {
	if backlog <= 0 {
		backlog = syscall.SOMAXCONN
	}
	var (
		family int
		sa     syscall.Sockaddr
	)
	switch l.Network {
	case "unix":
		if fi, err := os.Lstat(l.Addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(l.Addr) // a stale socket from an earlier run
		}
		family, sa = syscall.AF_UNIX, &syscall.SockaddrUnix{Name: l.Addr}
	default:
		addr, err := net.ResolveTCPAddr("tcp", l.Addr)
		if err != nil {
			return -1, err
		}
		if ip4 := addr.IP.To4(); ip4 != nil || addr.IP == nil {
			s := &syscall.SockaddrInet4{Port: addr.Port}
			copy(s.Addr[:], ip4)
			family, sa = syscall.AF_INET, s
		} else {
			s := &syscall.SockaddrInet6{Port: addr.Port}
			copy(s.Addr[:], addr.IP.To16())
			family, sa = syscall.AF_INET6, s
		}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := setUpListener(fd, l, sa, family, backlog, reusePort); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func setUpListener(fd int, l config.Listen, sa syscall.Sockaddr, family, backlog int, reusePort bool) error {
	if family != syscall.AF_UNIX {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			return fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
		}
	}
	if reusePort {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fmt.Errorf("setsockopt SO_REUSEPORT: %w", err)
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if l.Network == "unix" && l.Perm != 0 {
		if err := os.Chmod(l.Addr, l.Perm); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return nil
}

// Listen opens a pool's listener in this process (see ListenFD).
func Listen(l config.Listen, backlog int) (net.Listener, error) {
	fd, err := ListenFD(l, backlog)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), l.Addr)
	defer f.Close() // the listener holds its own dup
	return net.FileListener(f)
}

// SetKeepAlive applies a pool's tcpkeepalive to an accepted connection.
func SetKeepAlive(conn net.Conn, on bool) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetKeepAlive(on)
	}
}

// Key names a listening socket by network and address, as the master and
// its workers both call it.
func Key(l config.Listen) string { return l.Network + ":" + l.Addr }
