package supervisor

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// Message types on the control channel. The master sends start, listener,
// reload, reopen, level, stats, handover and client; a worker sends ready,
// reloaded, stats (the reply, and a final one before it exits) and client.
const (
	msgStart    = "start"    // the configuration to serve; first message a worker gets
	msgReady    = "ready"    // the worker serves
	msgListener = "listener" // a listening socket (fd) for a pool a reload adds
	msgReload   = "reload"   // apply Config
	msgReloaded = "reloaded" // reload done; Error when it failed
	msgReopen   = "reopen"   // reopen the log file
	msgLevel    = "level"    // raise (Delta 1) or lower (-1) the log level
	msgStats    = "stats"    // request; the reply carries Stats
	msgHandover = "handover" // stop accepting, hand every client to the master, exit
	msgClient   = "client"   // a client connection (fd) at a request boundary
	msgStop     = "stop"     // stop accepting, finish the requests read, exit
)

// message is one frame of the control channel.
type message struct {
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
	Authed   bool            `json:"authed,omitempty"`
	HasFD    bool            `json:"has_fd,omitempty"`

	fd int // the descriptor received with the frame, when HasFD
}

// maxFrame bounds a control frame: a stats snapshot of a large
// configuration, or a configuration file.
const maxFrame = 64 << 20

// ctlConn is one end of a control channel: a unix stream socket carrying
// frames of a 4-byte big-endian length and a JSON message. A descriptor
// travels as SCM_RIGHTS with the bytes of its frame, in one sendmsg; the
// kernel delivers it no later than those bytes, so received descriptors
// queue up and each frame that has one takes the oldest.
type ctlConn struct {
	conn *net.UnixConn

	wmu sync.Mutex // one frame at a time

	// Owned by the reading goroutine.
	rbuf []byte
	fds  []int
	buf  []byte // what one read takes
}

func newCtlConn(f *os.File) (*ctlConn, error) {
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
	return &ctlConn{conn: uc}, nil
}

// socketPair returns the master's end of a new control channel and the
// file of the worker's end, to be inherited.
func socketPair() (*ctlConn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control channel: socketpair: %w", err)
	}
	c, err := newCtlConn(os.NewFile(uintptr(fds[0]), "control"))
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "control"), nil
}

// send writes m, with fd when fd >= 0 (the caller keeps its copy).
func (c *ctlConn) send(m *message, fd int) error {
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

// sendFile is send with the descriptor of f, read without (*os.File).Fd,
// which would switch a socket shared with other processes to blocking.
func (c *ctlConn) sendFile(m *message, f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("control channel: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = c.send(m, int(fd)) }); err != nil {
		return fmt.Errorf("control channel: %w", err)
	}
	return serr
}

// recv reads the next message. A descriptor it carries is in m.fd, owned
// by the caller; m.fd is -1 otherwise.
func (c *ctlConn) recv() (*message, error) {
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
				m := &message{fd: -1}
				err := json.Unmarshal(c.rbuf[4:4+size], m)
				c.rbuf = c.rbuf[4+size:]
				if err != nil {
					return nil, fmt.Errorf("control channel: decode: %w", err)
				}
				if m.HasFD {
					if len(c.fds) == 0 {
						return nil, fmt.Errorf("control channel: %s frame without its descriptor", m.Type)
					}
					m.fd, c.fds = c.fds[0], c.fds[1:]
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

func (c *ctlConn) close() {
	c.conn.Close()
	for _, fd := range c.fds {
		syscall.Close(fd)
	}
	c.fds = nil
}
