package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/tlsdial"
)

// maxReply bounds a reply from a node. CLUSTER SLOTS repeats the nodes of
// a master for each of its slot ranges: with all 16384 slots scattered
// over masters of two replicas each it comes to about 4 MB.
const maxReply = 16 << 20

// conn is a RESP2 connection to one node for one goroutine, one request
// at a time, each write and reply within the timeout.
type conn struct {
	nc      net.Conn    // the TLS connection over raw, or raw
	raw     net.Conn    // closed without TLS's close_notify, whose write could wait on a stalled node
	stop    func() bool // unregisters the close at the end of dial's ctx
	host    string      // of the address dialled: a node that does not know its own IP means this one
	timeout time.Duration
	limit   int // bounds a reply

	buf    []byte
	parser resp.ReplyParser
}

// dial connects to addr within timeout then, when tlsConfig is not nil,
// does the TLS handshake within another timeout (an empty ServerName
// verifies the host of addr). The connection is closed when ctx ends,
// which unblocks any read, write or handshake on it.
func dial(ctx context.Context, addr string, tlsConfig *tls.Config, timeout time.Duration, limit int) (*conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: raw, raw: raw, host: host, timeout: timeout, limit: limit, buf: make([]byte, 0, 4096)}
	c.stop = context.AfterFunc(ctx, func() { raw.Close() })
	if tlsConfig != nil {
		if c.nc, err = handshake(ctx, raw, host, tlsConfig, timeout); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// handshake makes raw, dialled to host, a TLS connection within timeout.
func handshake(ctx context.Context, raw net.Conn, host string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tc, err := tlsdial.Client(hctx, raw, host, cfg)
	if err != nil {
		if hctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("not done within %v", timeout)
		}
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

func (c *conn) close() {
	c.stop()
	c.raw.Close()
}

// do sends one request and returns its reply, which is valid until the
// next call. The write and the whole reply each have the timeout.
func (c *conn) do(args ...string) ([]byte, error) {
	out := resp.AppendArrayHeader(nil, len(args))
	for _, a := range args {
		out = resp.AppendBulkString(out, a)
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := c.nc.Write(out); err != nil {
		return nil, err
	}
	c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	c.buf = c.buf[:0]
	c.parser.Reset()
	for {
		n, err := c.parser.Parse(c.buf)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			if n < len(c.buf) {
				return nil, errors.New("bytes after the reply")
			}
			return c.buf, nil
		}
		if len(c.buf) >= c.limit {
			return nil, fmt.Errorf("reply longer than %d bytes", c.limit)
		}
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, make([]byte, min(len(c.buf), c.limit-len(c.buf)))...)[:len(c.buf)]
		}
		m, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+m]
		if err != nil && m == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("no complete reply within %v", c.timeout)
			}
			return nil, err
		}
	}
}

// text is a reply as it reads in an error: an error reply without its
// type byte and CRLF, anything else quoted and cut short.
func text(reply []byte) string {
	if len(reply) > 2 && reply[0] == '-' && reply[len(reply)-1] == '\n' {
		return string(reply[1 : len(reply)-2])
	}
	if len(reply) > 64 {
		return fmt.Sprintf("%q...", reply[:64])
	}
	return fmt.Sprintf("%q", reply)
}
