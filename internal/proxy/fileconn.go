//go:build linux

package proxy

import (
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fileConn is a plaintext client socket taken from the parker (park.go):
// a net.Conn over an *os.File, which puts the descriptor in the Go poller
// as it is. net.FileConn would cost four more system calls per
// connection: a dup, the socket's type and both its addresses, and then
// closing the original.
type fileConn struct {
	f      *os.File
	remote net.Addr
	closed atomic.Bool // Close was called: a failed read or write says net.ErrClosed, as a net.Conn's does
}

// newFileConn takes over fd, a non-blocking stream socket connected to
// remote.
func newFileConn(fd int, remote net.Addr) *fileConn {
	return &fileConn{f: os.NewFile(uintptr(fd), "client"), remote: remote}
}

func (c *fileConn) Close() error {
	c.closed.Store(true)
	return c.f.Close()
}

func (c *fileConn) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	return n, c.netError(err)
}

func (c *fileConn) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	return n, c.netError(err)
}

// netError is err as a net.Conn would say it after Close.
func (c *fileConn) netError(err error) error {
	if err != nil && c.closed.Load() {
		return net.ErrClosed
	}
	return err
}

func (c *fileConn) RemoteAddr() net.Addr { return c.remote }

func (c *fileConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *fileConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *fileConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// LocalAddr asks the socket: the proxy needs it only for CLIENT LIST.
func (c *fileConn) LocalAddr() net.Addr {
	var sa unix.Sockaddr
	c.control(func(fd int) { sa, _ = unix.Getsockname(fd) })
	return sockaddrAddr(sa)
}

func (c *fileConn) SyscallConn() (syscall.RawConn, error) {
	raw, err := c.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return fileRaw{raw, c}, nil
}

// control runs f on the descriptor, unless the socket is closed.
func (c *fileConn) control(f func(fd int)) error {
	raw, err := c.f.SyscallConn()
	if err == nil {
		err = raw.Control(func(fd uintptr) { f(int(fd)) })
	}
	return c.netError(err)
}

func (c *fileConn) CloseRead() error  { return c.shutdown(unix.SHUT_RD) }
func (c *fileConn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

func (c *fileConn) shutdown(how int) error {
	var err error
	if cerr := c.control(func(fd int) { err = unix.Shutdown(fd, how) }); cerr != nil {
		return cerr
	}
	return err
}

// File returns a dup of the socket, as net.TCPConn's does, for a
// handover.
func (c *fileConn) File() (*os.File, error) {
	fd, err := -1, error(nil)
	if cerr := c.control(func(s int) { fd, err = dupSocket(s) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "client"), nil
}

// dupSocket duplicates a socket's descriptor, closed on exec.
func dupSocket(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}

// fileRaw is a fileConn's RawConn: its errors after Close are
// net.ErrClosed, as the reader and writer expect of a socket.
type fileRaw struct {
	syscall.RawConn
	c *fileConn
}

func (r fileRaw) Read(f func(fd uintptr) bool) error  { return r.c.netError(r.RawConn.Read(f)) }
func (r fileRaw) Write(f func(fd uintptr) bool) error { return r.c.netError(r.RawConn.Write(f)) }

// sockaddrAddr is sa as a net.Addr: a TCP or Unix address, an empty TCP
// one when sa is neither.
func sockaddrAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return &net.TCPAddr{}
}
