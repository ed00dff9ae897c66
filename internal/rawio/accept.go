//go:build linux

package rawio

import (
	"encoding/binary"
	"net/netip"
	"os"
	"syscall"
	"unsafe"
)

// Acceptor accepts connections from a non-blocking listening socket with
// raw calls, waiting in the runtime's poller, and allocates nothing: the
// peer's address comes back as a netip.AddrPort, not a syscall.Sockaddr.
// One goroutine uses it at a time.
type Acceptor struct {
	raw      syscall.RawConn
	acceptFn func(fd uintptr) bool
	fd       int
	sa       syscall.RawSockaddrAny
	errno    syscall.Errno
}

// NewAcceptor accepts from the listening socket of raw, which must wait
// for reads (a net.Listener's RawConn does not: take that of an os.File
// of the socket).
func NewAcceptor(raw syscall.RawConn) *Acceptor {
	a := &Acceptor{raw: raw}
	a.acceptFn = a.acceptOnce
	return a
}

// Accept waits for a connection and returns its descriptor, non-blocking
// and closed on exec, and its peer's address: the zero AddrPort for a
// Unix socket. An error is the poller's (the socket closed) or accept4's;
// a connection reset while it queued is skipped, as net.Listener does.
func (a *Acceptor) Accept() (int, netip.AddrPort, error) {
	a.fd, a.errno = -1, 0
	if err := a.raw.Read(a.acceptFn); err != nil {
		return -1, netip.AddrPort{}, err
	}
	if a.errno != 0 {
		return -1, netip.AddrPort{}, os.NewSyscallError("accept4", a.errno)
	}
	return a.fd, peerAddr(&a.sa), nil
}

func (a *Acceptor) acceptOnce(fd uintptr) bool {
	for {
		size := uint32(syscall.SizeofSockaddrAny)
		nfd, _, errno := syscall.RawSyscall6(syscall.SYS_ACCEPT4, fd, uintptr(unsafe.Pointer(&a.sa)), uintptr(unsafe.Pointer(&size)),
			syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
			a.fd = int(nfd)
			return true
		case syscall.EINTR, syscall.ECONNABORTED:
			continue
		case syscall.EAGAIN:
			return false
		}
		a.errno = errno
		return true
	}
}

// peerAddr is the address in sa, an IPv4-mapped one as IPv4 (as net
// prints it); the zero AddrPort for any other family.
func peerAddr(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), port(in.Port))
	case syscall.AF_INET6:
		in := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr).Unmap(), port(in.Port))
	}
	return netip.AddrPort{}
}

// port is a port in network byte order, as the kernel stores it.
func port(p uint16) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p))[:])
}
