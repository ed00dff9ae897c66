//go:build linux

// Package control is the channel between the master and each of its
// workers: a unix stream socket, the worker's end at descriptor WorkerFD,
// carrying frames of a 4-byte big-endian length and a JSON Message, some
// with a descriptor (a listening socket, a client handed over) passed
// alongside as SCM_RIGHTS.
//
// The format is a compatibility contract: during a binary upgrade a new
// master talks to the workers of the old binary (and the reverse when an
// upgrade is undone), so frames, JSON field names and message types only
// ever gain optional members.
package control

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// What a worker process gets from its master besides the channel.
const (
	EnvWorker    = "NUTCRACKER_WORKER"    // the worker's number, from 1
	EnvListeners = "NUTCRACKER_LISTENERS" // inherited listening sockets: JSON {key: fd}
	WorkerFD     = 3                      // the worker's end of its control channel
)

// Message types. The master sends start, listener, reload, reopen, level,
// stats, handover, stop and client; a worker sends ready, reloaded, stats
// (the reply, and a final one before it exits) and client.
const (
	MsgStart    = "start"    // the configuration to serve; first message a worker gets
	MsgReady    = "ready"    // the worker serves
	MsgListener = "listener" // a listening socket (fd) for a pool a reload adds
	MsgReload   = "reload"   // apply Config
	MsgReloaded = "reloaded" // reload done; Error when it failed
	MsgReopen   = "reopen"   // reopen the log file
	MsgLevel    = "level"    // raise (Delta 1) or lower (-1) the log level
	MsgStats    = "stats"    // request; the reply carries Stats
	MsgHandover = "handover" // stop accepting, hand every client to the master, exit (Delta: grace in ms)
	MsgClient   = "client"   // a client connection (fd) at a request boundary
	MsgStop     = "stop"     // stop accepting, finish the requests read, exit (Delta: grace in ms)
)

// Message is one frame of the control channel.
type Message struct {
	Type     string          `json:"type"`
	Key      string          `json:"key,omitempty"`    // listener: network:address
	File     string          `json:"file,omitempty"`   // start, reload: the configuration's path
	Config   []byte          `json:"config,omitempty"` // start, reload: its content
	Error    string          `json:"error,omitempty"`
	Delta    int             `json:"delta,omitempty"`
	Stats    *stats.Snapshot `json:"stats,omitempty"`
	Final    bool            `json:"final,omitempty"` // stats: the worker is exiting
	Pool     string          `json:"pool,omitempty"`  // client
	Unparsed []byte          `json:"unparsed,omitempty"`
	Authed   bool            `json:"authed,omitempty"`  // client: it passed AUTH
	Dialect  uint8           `json:"dialect,omitempty"` // client: its protocol's dialect (RESP3)
	Name     string          `json:"name,omitempty"`    // client: its name
	HasFD    bool            `json:"has_fd,omitempty"`

	// FD is the descriptor received with the frame, owned by the receiver;
	// -1 when the frame has none.
	FD int `json:"-"`
}

// maxFrame bounds a control frame: a stats snapshot of a large
// configuration, or a configuration file.
const maxFrame = 64 << 20

// Conn is one end of a control channel. A descriptor travels with the
// bytes of its frame, in one sendmsg; the kernel delivers it no later than
// those bytes, so received descriptors queue up and each frame that has
// one takes the oldest. Sends may come from any goroutine; one goroutine
// receives.
type Conn struct {
	conn *net.UnixConn

	wmu sync.Mutex // one frame at a time

	// Owned by the receiving goroutine.
	rbuf []byte
	fds  []int
	buf  []byte // what one read takes
}

// New makes a Conn of the socket f, which it closes (the Conn holds a
// copy).
func New(f *os.File) (*Conn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("control channel: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("control channel: not a unix socket")
	}
	return &Conn{conn: uc}, nil
}

// Resume makes a Conn of f, as New, that goes on from the state another
// Conn left (Unread): the bytes it read that are not a whole frame yet and
// the descriptors it received that no frame took yet. A re-executed
// master resumes its workers' channels so.
func Resume(f *os.File, pending []byte, fds []int) (*Conn, error) {
	c, err := New(f)
	if err != nil {
		return nil, err
	}
	c.rbuf, c.fds = pending, fds
	return c, nil
}

// Pair returns the master's end of a new channel and the file of the
// worker's end, to be inherited.
func Pair() (*Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control channel: socketpair: %w", err)
	}
	c, err := New(os.NewFile(uintptr(fds[0]), "control"))
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "control"), nil
}

// Send writes m, with fd when fd >= 0 (the caller keeps its copy).
func (c *Conn) Send(m *Message, fd int) error {
	m.HasFD = fd >= 0
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("control channel: encode %s: %w", m.Type, err)
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	frame = append(frame, body...)
	var oob []byte
	if fd >= 0 {
		oob = syscall.UnixRights(fd)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, _, err := c.conn.WriteMsgUnix(frame, oob, nil)
	if err == nil && n < len(frame) {
		_, err = c.conn.Write(frame[n:])
	}
	if err != nil {
		return fmt.Errorf("control channel: send %s: %w", m.Type, err)
	}
	return nil
}

// SendFile is Send with the descriptor of f, read without (*os.File).Fd,
// which would switch a socket shared with other processes to blocking.
func (c *Conn) SendFile(m *Message, f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("control channel: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = c.Send(m, int(fd)) }); err != nil {
		return fmt.Errorf("control channel: %w", err)
	}
	return serr
}

// Recv reads the next message. A descriptor it carries is in FD, owned
// by the caller.
func (c *Conn) Recv() (*Message, error) {
	var oob [64]byte
	if c.buf == nil {
		c.buf = make([]byte, 64<<10)
	}
	buf := c.buf
	for {
		if len(c.rbuf) >= 4 {
			size := int(binary.BigEndian.Uint32(c.rbuf))
			if size > maxFrame {
				return nil, fmt.Errorf("control channel: frame of %d bytes", size)
			}
			if len(c.rbuf) >= 4+size {
				m := &Message{FD: -1}
				err := json.Unmarshal(c.rbuf[4:4+size], m)
				c.rbuf = c.rbuf[4+size:]
				if err != nil {
					return nil, fmt.Errorf("control channel: decode: %w", err)
				}
				if m.HasFD {
					if len(c.fds) == 0 {
						return nil, fmt.Errorf("control channel: %s frame without its descriptor", m.Type)
					}
					m.FD, c.fds = c.fds[0], c.fds[1:]
				}
				return m, nil
			}
		}
		n, oobn, _, _, err := c.conn.ReadMsgUnix(buf, oob[:])
		n, oobn = max(n, 0), max(oobn, 0)
		if oobn > 0 {
			c.fds = append(c.fds, parseRights(oob[:oobn])...)
		}
		c.rbuf = append(c.rbuf, buf[:n]...)
		if err != nil {
			return nil, fmt.Errorf("control channel: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("control channel: %w", os.ErrClosed)
		}
	}
}

func parseRights(oob []byte) []int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if got, err := syscall.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

// SetReadDeadline makes a Recv in progress, and later ones, fail at t
// (for an upgrade, which stops the receiver to take its state).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// Unread returns what the receiver read that no Recv returned yet: the
// start of the next frame and the descriptors that came with the frames
// after it. Call it when no Recv runs.
func (c *Conn) Unread() (pending []byte, fds []int) { return c.rbuf, c.fds }

// FD returns the channel's descriptor, without (*os.File).Fd; it stays
// the Conn's.
func (c *Conn) FD() (int, error) {
	raw, err := c.conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// Close closes the channel and the descriptors received that no frame
// took.
func (c *Conn) Close() {
	c.conn.Close()
	for _, fd := range c.fds {
		syscall.Close(fd)
	}
	c.fds = nil
}
