//go:build !linux

package linuxonly

// The compile error of this line is the message a build for another system gets.
var _ int = "nutcracker builds only on Linux (epoll, SO_REUSEPORT, parent-death signal)"
