//go:build linux && race

package rawio

import "syscall"

// Under the race detector, reads and writes go through the syscall
// package, which tells the detector that what one goroutine writes to a
// socket happens before another reads it.

// Read reads from the non-blocking descriptor fd into b once; EAGAIN when
// nothing is there, n == 0 with a nil error at end of file.
func Read(fd uintptr, b []byte) (int, error) { return call(syscall.Read, fd, b) }

// Write writes b to the non-blocking descriptor fd once; it returns how
// much the socket took, and EAGAIN when it took nothing.
func Write(fd uintptr, b []byte) (int, error) { return call(syscall.Write, fd, b) }

// call makes the read or write f on fd and b, again when a signal
// interrupted it.
func call(f func(int, []byte) (int, error), fd uintptr, b []byte) (int, error) {
	for {
		n, err := f(int(fd), b)
		if err == syscall.EINTR {
			continue
		}
		return max(n, 0), err
	}
}
