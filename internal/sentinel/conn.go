package sentinel

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/tlsdial"
)

// maxReply bounds a reply from a sentinel or a master. The longest we ask
// for is a master's ROLE, a few dozen bytes per replica.
const maxReply = 1 << 20

var (
	errReplyTooBig = errors.New("reply longer than 1 MB")
	errUnexpected  = errors.New("unexpected reply")
)

// conn is a RESP2 connection to a sentinel or a master (over TLS when the
// masters speak it), used by one goroutine at a time. Every read and
// write has a deadline.
type conn struct {
	nc      net.Conn
	stop    func() bool // unregisters the close at the end of dial's ctx
	addr    string
	timeout time.Duration

	buf    []byte // buf[start:] is read and not yet returned
	start  int
	parser resp.ReplyParser
	out    []byte
}

// dial connects to addr within timeout, speaking TLS configured by
// tlsConfig when it is not nil: the handshake is done within the same
// timeout, and verifies the config's ServerName, else addr's host. The
// connection is closed when ctx ends, which unblocks any read or write on
// it.
func dial(ctx context.Context, addr string, timeout time.Duration, tlsConfig *tls.Config) (*conn, error) {
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline, KeepAlive: -1}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// Closing the TCP connection, not the TLS one, unblocks the TLS one
	// without waiting to send it a close alert.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	nc := raw
	if tlsConfig != nil {
		if nc, err = handshake(ctx, raw, addr, timeout, deadline, tlsConfig); err != nil {
			stop()
			raw.Close()
			return nil, err
		}
	}
	return &conn{nc: nc, stop: stop, addr: addr, timeout: timeout, buf: make([]byte, 0, 512)}, nil
}

// handshake makes raw, dialed to addr, a TLS connection by deadline, the
// end of the dial's timeout.
func handshake(ctx context.Context, raw net.Conn, addr string, timeout time.Duration, deadline time.Time, cfg *tls.Config) (net.Conn, error) {
	hsCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tc, err := tlsdial.Client(hsCtx, raw, tlsdial.Host(addr), cfg)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("not done within the %v timeout", timeout)
		}
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

func (c *conn) close() {
	c.stop()
	c.nc.Close()
}

// command appends one request to the output; send writes them all.
func (c *conn) command(args ...string) {
	c.out = resp.AppendArrayHeader(c.out, len(args))
	for _, a := range args {
		c.out = resp.AppendBulkString(c.out, a)
	}
}

// send writes the requests queued by command, within the timeout.
func (c *conn) send() error {
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err
}

// reply reads the next reply, which it returns until the next call, by
// deadline.
func (c *conn) reply(deadline time.Time) ([]byte, error) {
	// The previous reply is returned: move what follows it to the front.
	n := copy(c.buf, c.buf[c.start:])
	c.buf, c.start = c.buf[:n], 0
	c.parser.Reset()
	c.nc.SetReadDeadline(deadline)
	for {
		if n, err := c.parser.Parse(c.buf); err != nil {
			return nil, err
		} else if n > 0 {
			c.start = n
			return c.buf[:n], nil
		}
		if len(c.buf) >= maxReply {
			return nil, errReplyTooBig
		}
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, make([]byte, len(c.buf))...)[:len(c.buf)]
		}
		n, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// do sends one request and reads its reply within the timeout.
func (c *conn) do(args ...string) ([]byte, error) {
	c.command(args...)
	if err := c.send(); err != nil {
		return nil, err
	}
	return c.reply(time.Now().Add(c.timeout))
}

// auth sends AUTH password and requires +OK.
func (c *conn) auth(password string) error {
	r, err := c.do("AUTH", password)
	if err != nil {
		return err
	}
	if !bytes.Equal(r, []byte("+OK\r\n")) {
		return fmt.Errorf("AUTH: %s", text(r))
	}
	return nil
}

// elems returns the elements of an array reply of bulk strings, nil
// bulks as nil: for anything else, ok is false.
func elems(reply []byte) (out [][]byte, ok bool) {
	spans, err := resp.ArrayElems(reply, nil)
	if err != nil {
		return nil, false
	}
	for _, s := range spans {
		b, ok := bulk(s)
		if !ok {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

// bulk returns the data of a bulk string reply, or nil for a null bulk;
// ok is false for any other reply.
func bulk(reply []byte) (b []byte, ok bool) {
	if bytes.Equal(reply, []byte("$-1\r\n")) {
		return nil, true
	}
	if len(reply) < 4 || reply[0] != '$' {
		return nil, false
	}
	crlf := bytes.Index(reply, []byte("\r\n"))
	return reply[crlf+2 : len(reply)-2 : len(reply)-2], true
}

// text is a reply as it reads in a log line or an error: an error
// without its type byte and CRLF, anything else quoted.
func text(reply []byte) string {
	if len(reply) > 2 && reply[0] == '-' && bytes.IndexByte(reply, '\n') == len(reply)-1 {
		return string(reply[1 : len(reply)-2])
	}
	if len(reply) > 64 {
		return fmt.Sprintf("%q...", reply[:64])
	}
	return fmt.Sprintf("%q", reply)
}
