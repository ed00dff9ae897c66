package resp

import (
	"bytes"
	"errors"
	"math"
)

// maxNumLine bounds the text of an integer, bulk length or array count
// line: 20 bytes hold any int64.
const maxNumLine = 20

// Reply framing errors: the server connection is out of step.
var (
	errReplyType       = errors.New("resp: reply does not start with + - : $ or *")
	errReplyCRLF       = errors.New("resp: reply line or bulk not terminated by CRLF")
	errReplyLineTooBig = errors.New("resp: reply line too long")
	errReplyInt        = errors.New("resp: invalid integer reply")
	errReplyBulkLen    = errors.New("resp: invalid bulk length in reply")
	errReplyArrayLen   = errors.New("resp: invalid array length in reply")
	errNotArray        = errors.New("resp: not an array reply")
	errIncomplete      = errors.New("resp: incomplete reply")
	errTrailing        = errors.New("resp: bytes after the reply")
)

type replyState uint8

const (
	replyStart replyState = iota
	replyLine             // reading the line of an element at pos
	replyBulk             // waiting for a bulk's data and CRLF at pos
	replyDone
	replyFailed
)

// ReplyParser finds the end of one RESP2 reply (+ - : $ * with nested
// arrays, "$-1" and "*-1" nulls). The zero value is ready to use.
//
// It keeps no stack: it counts the elements still due (an array of N adds
// N-1), so nesting depth costs nothing and needs no bound. Lengths are
// bounded (bulk 512 MB, array 2^31-1 elements, simple lines 512 MB) and
// nothing is allocated from them. The count of elements due cannot overflow:
// each array adds at most 2^31 and takes at least 4 bytes of buffered input.
type ReplyParser struct {
	state   replyState
	pos     int   // offset of the element, or bulk data, being read
	scan    int   // offset up to which the current line has been searched
	pending int64 // elements still due, the one at pos included
	bulkLen int
	err     error
}

// Parse scans buf, which starts at the first byte of a reply, and returns
// its length once the whole reply is in buf, or (0, nil) when more bytes
// are needed. It resumes like RequestParser.Parse: the caller passes the
// same reply start with more bytes appended, and only new bytes are
// scanned. An error means the connection is out of step. Once Parse has
// returned n > 0 or an error it returns the same until Reset.
func (p *ReplyParser) Parse(buf []byte) (int, error) {
	switch p.state {
	case replyDone:
		return p.pos, nil
	case replyFailed:
		return 0, p.err
	case replyStart:
		p.state, p.pending = replyLine, 1
	}
	for {
		if p.state == replyBulk {
			if len(buf)-p.pos < p.bulkLen+2 {
				return 0, nil
			}
			end := p.pos + p.bulkLen
			if buf[end] != '\r' || buf[end+1] != '\n' {
				return p.fail(errReplyCRLF)
			}
			p.state = replyLine
			if n, err := p.next(end + 2); n != 0 || err != nil {
				return n, err
			}
			continue
		}
		if p.pos >= len(buf) {
			return 0, nil
		}
		typ := buf[p.pos]
		maxLine := maxNumLine
		switch typ {
		case '+', '-':
			maxLine = maxBulkLen
		case ':', '$', '*':
		default:
			return p.fail(errReplyType)
		}
		limit := min(len(buf), p.pos+1+maxLine+1)
		for p.scan < limit && buf[p.scan] != '\r' {
			p.scan++
		}
		if p.scan == limit {
			if len(buf) > p.pos+1+maxLine {
				return p.fail(errReplyLineTooBig)
			}
			return 0, nil
		}
		cr := p.scan
		if cr+1 == len(buf) {
			return 0, nil
		}
		if buf[cr+1] != '\n' {
			return p.fail(errReplyCRLF)
		}
		if typ == '+' || typ == '-' {
			if n, err := p.next(cr + 2); n != 0 || err != nil {
				return n, err
			}
			continue
		}
		v, ok := parseInt(buf[p.pos+1 : cr])
		switch {
		case typ == ':':
			if !ok {
				return p.fail(errReplyInt)
			}
		case typ == '$':
			if !ok || v < -1 || v > maxBulkLen {
				return p.fail(errReplyBulkLen)
			}
			if v >= 0 {
				p.bulkLen = int(v)
				p.pos, p.state = cr+2, replyBulk
				continue
			}
		default:
			if !ok || v < -1 || v > math.MaxInt32 {
				return p.fail(errReplyArrayLen)
			}
			if v > 0 {
				p.pending += v
			}
		}
		if n, err := p.next(cr + 2); n != 0 || err != nil {
			return n, err
		}
	}
}

// next records that the element before pos is complete, and reports the
// reply's length when it was the last one due.
func (p *ReplyParser) next(pos int) (int, error) {
	p.pos, p.scan = pos, pos
	if p.pending--; p.pending == 0 {
		p.state = replyDone
		return pos, nil
	}
	return 0, nil
}

func (p *ReplyParser) fail(err error) (int, error) {
	p.state, p.err = replyFailed, err
	return 0, err
}

// Reset prepares the parser for the next reply.
func (p *ReplyParser) Reset() { *p = ReplyParser{} }

// ReplyLen returns the length of the complete reply at the start of buf, or
// 0 if it is incomplete. It scans from the start each time: for replies that
// arrive in pieces use a ReplyParser.
func ReplyLen(buf []byte) (int, error) {
	var p ReplyParser
	return p.Parse(buf)
}

// bulkLen returns the length of the complete, well-formed bulk or null
// bulk at the start of b, or 0 for anything else (which ReplyLen then
// judges): the elements of an MGET reply, read without the general
// parser's setup for each.
func bulkLen(b []byte) int {
	if len(b) < 5 || b[0] != '$' {
		return 0
	}
	cr := bytes.IndexByte(b[1:min(len(b), 2+maxNumLine)], '\r') + 1
	if cr <= 1 || cr+1 >= len(b) || b[cr+1] != '\n' {
		return 0
	}
	v, ok := parseInt(b[1:cr])
	switch {
	case !ok || v < -1 || v > maxBulkLen:
		return 0
	case v == -1:
		return cr + 2
	}
	end := cr + 2 + int(v)
	if end+2 > len(b) || b[end] != '\r' || b[end+1] != '\n' {
		return 0
	}
	return end + 2
}

// ArrayElems appends to dst the span of each top-level element of reply,
// which must be exactly one complete non-null array reply, and returns dst.
// The spans are sub-slices of reply. It is used to merge MGET fragments.
func ArrayElems(reply []byte, dst [][]byte) ([][]byte, error) {
	if len(reply) == 0 || reply[0] != '*' {
		return dst, errNotArray
	}
	cr := bytes.IndexByte(reply, '\r')
	if cr < 0 || cr+1 == len(reply) {
		return dst, errIncomplete
	}
	n, ok := parseInt(reply[1:cr])
	if !ok || n < 0 || reply[cr+1] != '\n' {
		return dst, errNotArray
	}
	pos := cr + 2
	for ; n > 0; n-- {
		l := bulkLen(reply[pos:])
		if l == 0 {
			var err error
			if l, err = ReplyLen(reply[pos:]); err != nil {
				return dst, err
			}
		}
		if l == 0 {
			return dst, errIncomplete
		}
		dst = append(dst, reply[pos:pos+l:pos+l])
		pos += l
	}
	if pos != len(reply) {
		return dst, errTrailing
	}
	return dst, nil
}

// ParseInt returns the integer of reply, which must be exactly one integer
// reply ":N\r\n". It is used to sum DEL, UNLINK, TOUCH and EXISTS fragments.
func ParseInt(reply []byte) (int64, error) {
	if len(reply) < 4 || reply[0] != ':' || reply[len(reply)-2] != '\r' || reply[len(reply)-1] != '\n' {
		return 0, errReplyInt
	}
	v, ok := parseInt(reply[1 : len(reply)-2])
	if !ok {
		return 0, errReplyInt
	}
	return v, nil
}
