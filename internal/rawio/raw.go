//go:build linux && !race

package rawio

import (
	"syscall"
	"unsafe"
)

// Read reads from the non-blocking descriptor fd into b once; EAGAIN when
// nothing is there, n == 0 with a nil error at end of file.
func Read(fd uintptr, b []byte) (int, error) { return call(syscall.SYS_READ, fd, b) }

// Write writes b to the non-blocking descriptor fd once; it returns how
// much the socket took, and EAGAIN when it took nothing.
func Write(fd uintptr, b []byte) (int, error) { return call(syscall.SYS_WRITE, fd, b) }

// call makes the read or write system call trap on fd and b, again when
// a signal interrupted it.
func call(trap, fd uintptr, b []byte) (int, error) {
	for {
		n, _, errno := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}
