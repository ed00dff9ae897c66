package mc

import (
	"bytes"
	"errors"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// Protocol is the memcached text protocol as the proxy speaks it (see
// package proto): requests routed by their key, multi-key retrievals
// split per server and their VALUE blocks merged in key order, flush_all
// sent to every server, quit, mn and stats answered by the proxy.
type Protocol struct{}

var _ proto.Protocol = Protocol{}

// The request's hint (proto.Request.Hint) is its Kind, with these flags.
const (
	// hintQuiet: a quiet meta request, sent followed by "mn". Its reply
	// is whatever the server sent up to and including "MN\r\n", so the
	// proxy never has to guess whether a quiet command answered.
	hintQuiet = 0x80
	// hintMarks: a retrieval fragment whose VALUE blocks the framer marks.
	hintMarks = 0x40
	kindMask  = 0x3f
)

const (
	replyMN  = "MN\r\n"
	replyEnd = "END\r\n"
)

// NewClient returns the state of a new client.
func (Protocol) NewClient(*proto.Settings) proto.Client { return &Client{} }

// NewFramer returns a reply framer for one server connection.
func (Protocol) NewFramer() proto.Framer { return &framer{} }

// Handshake is empty: memcached connections need none.
func (Protocol) Handshake(string, int, uint8) [][]byte { return nil }

// Reply is the server's reply, without the "MN\r\n" that fences a quiet
// request.
func (Protocol) Reply(m *proto.Msg) []byte {
	if m.Hint&hintQuiet != 0 {
		return m.Reply[:len(m.Reply)-len(replyMN)]
	}
	return m.Reply
}

// AppendError appends "SERVER_ERROR msg".
func (Protocol) AppendError(out []byte, msg string) []byte {
	return appendLine(out, "SERVER_ERROR ", msg)
}

// AppendFramingError appends memcached's reply to a request that loses
// the framing (none for a line too long), or CLIENT_ERROR.
func (Protocol) AppendFramingError(out []byte, err error) []byte {
	var refused *Error
	if errors.As(err, &refused) {
		if refused.Reply == "" {
			return out
		}
		return append(append(out, refused.Reply...), "\r\n"...)
	}
	return appendLine(out, "CLIENT_ERROR ", err.Error())
}

func appendLine(out []byte, prefix, msg string) []byte {
	return append(append(append(out, prefix...), msg...), "\r\n"...)
}

// Demoted is false: memcached has no replicas to be demoted to.
func (Protocol) Demoted([]byte) bool { return false }

// Redirection is none: memcached servers do not redirect.
func (Protocol) Redirection([]byte) proto.Redirect { return proto.Redirect{} }

// Asking appends wire: memcached has no slots to import.
func (Protocol) Asking(dst, wire []byte) ([]byte, uint8) { return append(dst, wire...), 0 }

// Describe returns the command name and first key of a request.
func (Protocol) Describe(wire []byte) (cmd, key []byte) {
	var p RequestParser
	if n, _ := p.Parse(wire); n == 0 {
		return nil, nil
	}
	if keys := p.Keys(wire); len(keys) > 0 {
		key = keys[0]
	}
	return p.Arg(wire, 0), key
}

// framer frames the replies of one server connection; it marks the VALUE
// blocks of a retrieval fragment's reply for Merge.
type framer struct {
	p       ReplyParser
	started bool    // Frame has seen the reply being framed
	off     int     // quiet requests: length of the replies framed so far
	marks   []int32 // the buffer for the next reply's marks
}

func (f *framer) Frame(r *proto.Request, buf []byte) (int, error) {
	k := Kind(r.Hint & kindMask)
	if !f.started {
		f.started = true
		if r.Hint&hintMarks != 0 {
			f.p.MarkValues(f.marks)
		}
	}
	var n int
	var err error
	if r.Hint&hintQuiet != 0 {
		n, err = f.frameQuiet(k, buf)
	} else {
		n, err = f.p.Parse(k, buf)
	}
	if n == 0 {
		return 0, err
	}
	if r.Hint&hintMarks != 0 {
		f.marks = r.SwapMarks(f.p.Values())
	}
	f.p.Reset()
	f.started, f.off = false, 0
	return n, nil
}

// frameQuiet frames the replies to a quiet request up to "MN\r\n".
func (f *framer) frameQuiet(k Kind, buf []byte) (int, error) {
	for {
		rest := buf[f.off:]
		if len(rest) < len(replyMN) {
			return 0, nil
		}
		if string(rest[:len(replyMN)]) == replyMN {
			return f.off + len(replyMN), nil
		}
		n, err := f.p.Parse(k, rest)
		if n == 0 || err != nil {
			return 0, err
		}
		f.off += n
		f.p.Reset()
	}
}

var errTooLarge = errors.New("reply too large")

// Merge joins the fragments' VALUE blocks in request key order under one
// END, or gives one SERVER_ERROR (or a server's error line) for the
// command; for flush_all, OK once every server said it.
func (Protocol) Merge(out []byte, m *proto.Msg) []byte {
	if Kind(m.Op) == KindFlushAll {
		return mergeFlushAll(out, m)
	}
	for _, f := range m.Frags {
		if f.Err != nil {
			return appendLine(out, "SERVER_ERROR ", f.Err.Error())
		}
		if len(f.Marks) == 0 { // not values: the server's error line
			if _, err := ValuesEnd(f.Reply); err == nil {
				return appendLine(out, "SERVER_ERROR ", errTooLarge.Error())
			}
			return append(out, f.Reply...)
		}
		f.KeyAt, f.ElemAt = 0, 0
	}
	for _, fi := range m.KeyFrag {
		f := m.Frags[fi]
		key := fragKey(f, f.KeyAt)
		f.KeyAt++
		if f.ElemAt+1 < len(f.Marks) {
			block := f.Reply[f.Marks[f.ElemAt]:f.Marks[f.ElemAt+1]]
			if bytes.Equal(valueKey(block), key) {
				out = append(out, block...)
				f.ElemAt++
			}
		}
	}
	return append(out, replyEnd...)
}

// fragKey returns key i of fragment f, from the spans Encode recorded:
// Spans[0] is where the first key starts, Spans[i+1] where key i ends.
func fragKey(f *proto.Frag, i int) []byte {
	start := int(f.Spans[i])
	if i > 0 {
		start++ // the space before it
	}
	return f.Wire[start:f.Spans[i+1]]
}

// valueKey returns the key of a VALUE block ("VALUE <key> <flags> ...").
func valueKey(block []byte) []byte {
	rest := block[len("VALUE "):]
	if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
		return rest[:sp]
	}
	return nil
}
