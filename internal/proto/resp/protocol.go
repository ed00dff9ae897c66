package resp

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// Protocol is RESP2 as the proxy speaks it (see package proto): commands
// of the table routed by their key, multi-key commands split per server
// and merged, commands whose keys must live together sent whole to their
// one server (keys.go), commands of the whole keyspace sent to every
// server and merged (fanout.go), PING, QUIT, AUTH and SELECT 0 answered by the
// proxy.
type Protocol struct{}

var _ proto.Protocol = Protocol{}

// Replies the proxy makes itself (twemproxy's texts where it has one).
const (
	errInvalidArg = "ERR Invalid argument"
	replyOK       = "+OK\r\n"
	replyPong     = "+PONG\r\n"
)

// Op codes (proto.Msg.Op) of split commands: how Merge joins the replies.
const (
	opSum  = iota // DEL, UNLINK, TOUCH, EXISTS: the integers added
	opMGet        // the elements, in key order
	opMSet        // +OK when every server said +OK
	opTx          // a request of a transaction, sent whole (see encodeTx)

	// Commands of every server (fanout.go): FanOut, or SCAN's ForwardTo.
	opDBSize // DBSIZE: the integers added
	opKeys   // KEYS: the arrays joined
	opRandom // RANDOMKEY: a non-nil reply at random
	opFlush  // FLUSHDB, FLUSHALL, SCRIPT FLUSH: +OK when every server said +OK
	opSame   // SCRIPT LOAD: the reply every server gave
	opAll    // SCRIPT EXISTS: 1 where every server says 1
	opInfo   // INFO: the proxy's document, the servers' version and keyspace
	opScan   // SCAN: to the server its cursor names, the cursor rewritten
)

// dialectRESP3 is the dialect (proto.Msg.Dialect) of a client that said
// HELLO 3, and of the server connections that carry its requests.
const dialectRESP3 = 1

// hintMarks asks the framer (proto.Request.Hint) for the element marks of
// an MGET fragment's reply, so that Merge does not parse it again.
const hintMarks = 1

// NewClient returns a client that has passed AUTH when there is no
// password to pass.
func (Protocol) NewClient(s *proto.Settings) proto.Client {
	return &Client{authed: s.Password == "", id: clientIDs.Add(1)}
}

// NewFramer returns a reply framer for one server connection.
func (Protocol) NewFramer() proto.Framer { return &framer{} }

// Handshake is what twemproxy sends first on every new server connection:
// AUTH when redis_auth is set, SELECT when redis_db > 0. A RESP3
// connection opens with HELLO 3, which carries the AUTH.
func (Protocol) Handshake(password string, db int, dialect uint8) [][]byte {
	var hs [][]byte
	switch {
	case dialect == dialectRESP3 && password != "":
		hs = append(hs, appendCommand(nil, [][]byte{[]byte("HELLO"), []byte("3"), []byte("AUTH"), []byte("default"), []byte(password)}))
	case dialect == dialectRESP3:
		hs = append(hs, appendCommand(nil, [][]byte{[]byte("HELLO"), []byte("3")}))
	case password != "":
		hs = append(hs, appendCommand(nil, [][]byte{[]byte("AUTH"), []byte(password)}))
	}
	if db > 0 {
		hs = append(hs, appendCommand(nil, [][]byte{[]byte("SELECT"), []byte(strconv.Itoa(db))}))
	}
	return hs
}

// Reply is the server's reply as it is, but for a transaction's and
// SCAN's.
func (Protocol) Reply(m *proto.Msg) []byte {
	switch m.Op {
	case opTx:
		return txReply(m)
	case opScan:
		return scanReply(m)
	}
	return m.Reply
}

// AppendError appends "-ERR msg".
func (Protocol) AppendError(out []byte, msg string) []byte {
	return AppendError(out, "ERR "+msg)
}

// AppendFramingError appends "-ERR Protocol error: ...", as Redis says it.
func (Protocol) AppendFramingError(out []byte, err error) []byte {
	return AppendError(out, "ERR "+err.Error())
}

// Describe returns the command name and key of a request.
func (Protocol) Describe(wire []byte) (cmd, key []byte) {
	var p RequestParser
	if n, _ := p.Parse(wire); n == 0 {
		return nil, nil
	}
	args := p.Args(wire)
	cmd = args[0]
	if c := Lookup(cmd); c != nil && c.KeyIndex > 0 && c.KeyIndex < len(args) {
		key = args[c.KeyIndex]
	}
	return cmd, key
}

// Demoted reports whether reply is a replica's refusal of a write.
func (Protocol) Demoted(reply []byte) bool { return bytes.HasPrefix(reply, []byte("-READONLY ")) }

// framer frames the replies of one server connection. For an MGET
// fragment it also records where the elements of the reply are.
type framer struct {
	p       ReplyParser
	started bool    // Frame has seen the reply being framed
	marks   []int32 // the buffer for the next reply's marks
	first   int     // framePair: the length of the first reply, once framed
}

func (f *framer) Frame(r *proto.Request, buf []byte) (int, error) {
	if r.Hint == hintPreamble {
		return f.framePair(r, buf)
	}
	if !f.started {
		if len(buf) > 0 && buf[0] == '>' {
			return 0, errPush
		}
		f.started = true
		if r.Hint == hintMarks {
			f.p.MarkElems(f.marks)
		}
	}
	n, err := f.p.Parse(buf)
	if n == 0 {
		return 0, err
	}
	if r.Hint == hintMarks {
		f.marks = r.SwapMarks(f.p.Elems())
	}
	f.p.Reset()
	f.started = false
	return n, nil
}

// framePair frames two replies as one: MULTI's or ASKING's (r's
// Preamble), then the reply of the request sent with it.
func (f *framer) framePair(r *proto.Request, buf []byte) (int, error) {
	if f.first == 0 {
		if len(buf) > 0 && buf[0] == '>' {
			return 0, errPush
		}
		n, err := f.p.Parse(buf)
		if n == 0 {
			return 0, err
		}
		f.p.Reset()
		f.first = n
	}
	n, err := f.p.Parse(buf[f.first:])
	if n == 0 {
		return 0, err
	}
	f.p.Reset()
	r.Preamble = f.first
	n += f.first
	f.first = 0
	return n, nil
}

// Merge builds the client's reply to a split command from its fragments'
// replies, or one error naming the first failed fragment.
func (Protocol) Merge(out []byte, m *proto.Msg) []byte {
	if m.Op >= opDBSize {
		return mergeFanOut(out, m)
	}
	for _, f := range m.Frags {
		if f.Err != nil {
			return AppendError(out, errInvalidArg+": "+f.Server+": "+f.Err.Error())
		}
		if text, ok := errorText(f.Reply); ok {
			return AppendError(out, errInvalidArg+": "+f.Server+": "+string(text))
		}
	}
	switch m.Op {
	case opMSet:
		if f := notOK(m); f != nil {
			return AppendError(out, errInvalidArg+": "+f.Server+": unexpected reply")
		}
		return append(out, replyOK...)
	case opSum:
		sum, f, err := sumReplies(m)
		if err != nil {
			return AppendError(out, errInvalidArg+": "+f.Server+": "+err.Error())
		}
		return AppendInt(out, sum)
	}
	return mergeMGet(out, m)
}

// notOK returns the first fragment whose reply is not +OK, or nil.
func notOK(m *proto.Msg) *proto.Frag {
	for _, f := range m.Frags {
		if string(f.Reply) != replyOK {
			return f
		}
	}
	return nil
}

// sumReplies adds the integer replies of m's fragments, or returns the
// first fragment whose reply is not one, and why.
func sumReplies(m *proto.Msg) (int64, *proto.Frag, error) {
	var sum int64
	for _, f := range m.Frags {
		n, err := ParseInt(f.Reply)
		if err != nil {
			return 0, f, err
		}
		sum += n
	}
	return sum, nil, nil
}

// mergeMGet joins the elements of MGET fragments' replies in key order.
func mergeMGet(out []byte, m *proto.Msg) []byte {
	size := 0
	for _, f := range m.Frags {
		if len(f.Marks) == 0 { // not recorded by the framer
			var err error
			if f.Marks, err = appendElemMarks(f.Marks[:0], f); err != nil {
				return AppendError(out, errInvalidArg+": "+f.Server+": "+err.Error())
			}
		}
		if len(f.Marks)-1 != f.NKeys {
			return AppendError(out, errInvalidArg+": "+f.Server+": "+errWrongCount.Error())
		}
		f.ElemAt = 0
		size += len(f.Reply)
	}
	out = slices.Grow(out, size+16)
	out = AppendArrayHeader(out, len(m.KeyFrag))
	// Keys that follow each other in the request and on one server have
	// their values next to each other in that server's reply: one copy.
	for k := 0; k < len(m.KeyFrag); {
		fi, end := m.KeyRun(k)
		f := m.Frags[fi]
		out = append(out, f.Reply[f.Marks[f.ElemAt]:f.Marks[f.ElemAt+end-k]]...)
		f.ElemAt += end - k
		k = end
	}
	return out
}

// appendElemMarks parses fragment f's reply, which the framer did not
// mark (an element is an aggregate or has an attribute, or the reply is
// not an array), and appends the marks of its elements to marks.
func appendElemMarks(marks []int32, f *proto.Frag) ([]int32, error) {
	reply := f.Reply
	elems, err := ArrayElems(reply, f.Elems[:0])
	f.Elems = elems
	switch {
	case err != nil:
		return marks, err
	case len(elems) != f.NKeys:
		return marks, errWrongCount
	case len(reply) > math.MaxInt32:
		return marks, errTooLarge
	}
	at := len(reply)
	for _, e := range elems {
		at -= len(e)
	}
	marks = append(marks, int32(at))
	for _, e := range elems {
		at += len(e)
		marks = append(marks, int32(at))
	}
	return marks, nil
}

// errorText returns the text of an error reply, simple ("-") or blob
// ("!"), and whether reply is one.
func errorText(reply []byte) ([]byte, bool) {
	switch {
	case len(reply) == 0:
	case reply[0] == '-':
		return bytes.TrimRight(reply[1:], "\r\n"), true
	case reply[0] == '!':
		if body, ok := blobBody(reply, '!'); ok {
			return body, true
		}
		return bytes.TrimRight(reply[1:], "\r\n"), true
	}
	return nil, false
}

var (
	// errPush: the proxy asks for no pushes (it serves neither client
	// tracking nor pub/sub), so one is a server out of step.
	errPush       = errors.New("a push message the proxy did not ask for")
	errTooLarge   = errors.New("reply too large")
	errWrongCount = errors.New("reply has the wrong number of elements")
)
