// Package linuxonly stops a build for another system with one clear
// message. nutcracker uses epoll, SO_REUSEPORT, the parent-death signal,
// memfd and /proc; every package that does has a file built only on other
// systems that imports this one, whose compile error there is the message.
// On Linux it is empty.
package linuxonly
