package mc

import (
	"errors"
	"slices"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// Client is one client connection's side of the protocol: its request
// parser. Its reader owns it.
type Client struct {
	p       RequestParser
	parsed  bool   // p holds a whole request: reset before the next
	refused *Error // a refused request, answered by Decode in order
	keyTmp  []byte // a decoded base64 key
}

// Parse frames the next request. A request memcached refuses without
// closing the connection is framed too (its bytes are skipped), for
// Decode to answer in order.
func (c *Client) Parse(buf []byte) (int, error) {
	if c.parsed {
		c.p.Reset()
		c.parsed = false
	}
	n, err := c.p.Parse(buf)
	if err != nil {
		var refused *Error
		if !errors.As(err, &refused) || refused.Fatal {
			return n, err
		}
		c.refused, n = refused, refused.Len
	}
	c.parsed = n > 0
	return n, nil
}

// Session is always the same: memcached has neither AUTH nor names.
func (c *Client) Session() proto.Session { return proto.Session{Authed: true} }

// Resume does nothing.
func (c *Client) Resume(proto.Session) {}

// Release drops the parser's buffers.
func (c *Client) Release() {
	c.p = RequestParser{}
	c.parsed, c.refused, c.keyTmp = false, nil, nil
}

// Decode answers the request locally or says how it is routed.
func (c *Client) Decode(frame []byte, m *proto.Msg, s *proto.Settings) proto.Action {
	if r := c.refused; r != nil {
		c.refused = nil
		if r.Reply == "" {
			return proto.Skip // memcached sends nothing (noreply)
		}
		m.Local = append(append(m.Local, r.Reply...), "\r\n"...)
		return proto.Answer
	}
	cmd := c.p.Command()
	m.Hint, m.Op = uint8(cmd.Kind), uint16(cmd.Kind)
	if slices.Contains(s.Denied, cmd.Name) {
		m.Local = appendLine(m.Local, "SERVER_ERROR ", "command '"+cmd.Name+"' is denied on this pool (deny_commands)")
		return proto.Answer
	}
	switch cmd.Kind {
	case KindQuit:
		m.Closes = true
		return proto.Answer
	case KindMetaNoop:
		m.Local = append(m.Local, replyMN...)
		return proto.Answer
	case KindVersion:
		return proto.ForwardAny
	case KindVerbosity: // the proxy's own log level is its -v, not the client's
		if c.p.NoReply() {
			return proto.Skip
		}
		m.Local = append(m.Local, "OK\r\n"...)
		return proto.Answer
	case KindStats:
		return c.stats(m, s)
	case KindFlushAll:
		// Sent without noreply, so that the proxy knows it worked.
		m.Silent = c.p.NoReply()
		return proto.FanOut
	}
	keys := c.p.Keys(frame)
	if len(keys) == 0 { // gat with no keys
		m.Local = append(m.Local, replyEnd...)
		return proto.Answer
	}
	if cmd.MultiKey && len(keys) > 1 {
		m.Keys, m.Step = keys, 1
		return proto.Split
	}
	key := keys[0]
	if c.p.KeyIsBase64() {
		decoded, err := DecodeKey(c.keyTmp[:0], key)
		if err != nil {
			m.Local = append(m.Local, replyBadKeyEncoding+"\r\n"...)
			return proto.Answer
		}
		c.keyTmp, key = decoded, decoded
	}
	if c.p.NoReply() {
		if cmd.Kind.meta() { // the q flag: fenced with mn (see hintQuiet)
			m.Hint |= hintQuiet
		} else {
			m.NoReply = true
		}
	}
	m.Key = key
	return proto.Forward
}

// Encode sends the request as the client framed it (a quiet one followed
// by "mn"), or gives each fragment of a multi-key retrieval its keys in
// request order: "<cmd> [<exptime>] <key>...".
func (c *Client) Encode(m *proto.Msg, frame []byte) {
	if Kind(m.Op) == KindFlushAll {
		m.Wire = c.encodeFlushAll(m.Wire[:0], frame)
		return
	}
	if len(m.Frags) == 0 {
		m.Wire = append(m.Wire[:0], frame...)
		if m.Hint&hintQuiet != 0 {
			m.Wire = append(m.Wire, "mn\r\n"...)
		}
		return
	}
	head := c.p.Arg(frame, 0)
	var exptime []byte
	if Kind(m.Op) == KindGat {
		exptime = c.p.Arg(frame, 1)
	}
	for _, f := range m.Frags {
		f.Hint = m.Hint | hintMarks
		f.Wire = append(f.Wire[:0], head...)
		if exptime != nil {
			f.Wire = append(append(f.Wire, ' '), exptime...)
		}
		f.Spans = append(f.Spans[:0], int32(len(f.Wire)+1))
	}
	// A retrieval line is at most maxRetrievalLine long: its offsets fit
	// an int32.
	for k, fi := range m.KeyFrag {
		f := m.Frags[fi]
		f.Wire = append(append(f.Wire, ' '), m.Keys[k]...)
		f.Spans = append(f.Spans, int32(len(f.Wire)))
	}
	for _, f := range m.Frags {
		f.Wire = append(f.Wire, "\r\n"...)
	}
}

// InTransaction is false: memcached has no connection state.
func (c *Client) InTransaction() bool { return false }
