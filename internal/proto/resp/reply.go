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
//
// Asked with MarkElems, it also records where the elements of an array
// reply start and end, so that a reply to be split (an MGET fragment's) is
// not parsed a second time.
type ReplyParser struct {
	state   replyState
	pos     int   // offset of the element, or bulk data, being read
	scan    int   // offset up to which the current line has been searched
	pending int64 // elements still due, the one at pos included
	bulkLen int
	err     error

	marking bool    // recording marks: set by MarkElems, cleared by a nested array
	marks   []int32 // the offset after each complete element, the array header first
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
		if p.scan == p.pos { // at the first byte of an element
			if n := p.bulks(buf); n > 0 {
				return n, nil
			}
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
			if p.pos > 0 {
				p.marking = false // a nested array: its elements are not the reply's
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

// bulks reads the whole bulk and null bulk elements from p.pos on, the
// usual elements of an array reply (an MGET's), with its state in locals,
// and leaves anything else to the general loop. It returns the reply's
// length when its last element was among them, else 0.
func (p *ReplyParser) bulks(buf []byte) int {
	pos, pending, marks := p.pos, p.pending, p.marks
	if pos > math.MaxInt32-len(buf) {
		p.marking = false // offsets would not fit the marks
	}
	var same sameBulk
	for pos+5 <= len(buf) && buf[pos] == '$' {
		end := same.next(buf, pos)
		if end == 0 {
			// bulkLen, inline for lengths of one to four digits (the
			// usual values; "$-1" and longer ones take the call).
			if d := buf[pos+1] - '0'; d-1 < 9 {
				v, i := int(d), pos+2
				for ; i < pos+5 && buf[i]-'0' <= 9; i++ {
					v = v*10 + int(buf[i]-'0')
				}
				if e := i + 2 + v; e+2 <= len(buf) && buf[i] == '\r' && buf[i+1] == '\n' && buf[e] == '\r' && buf[e+1] == '\n' {
					end = e + 2
					same.set(buf, pos, i+2, end)
				}
			}
		}
		if end == 0 {
			l := bulkLen(buf[pos:])
			if l == 0 {
				break
			}
			end = pos + l
		}
		pos = end
		if p.marking {
			marks = append(marks, int32(pos))
		}
		if pending--; pending == 0 {
			p.pos, p.scan, p.pending, p.state, p.marks = pos, pos, 0, replyDone, marks
			return pos
		}
	}
	p.pos, p.scan, p.pending, p.marks = pos, pos, pending, marks
	return 0
}

// next records that the element before pos is complete, and reports the
// reply's length when it was the last one due.
func (p *ReplyParser) next(pos int) (int, error) {
	p.pos, p.scan = pos, pos
	if p.marking {
		if pos > math.MaxInt32 {
			p.marking = false
		} else {
			p.marks = append(p.marks, int32(pos))
		}
	}
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

// Reset prepares the parser for the next reply. It forgets the marks
// buffer: the caller takes it with Elems first.
func (p *ReplyParser) Reset() { *p = ReplyParser{} }

// MarkElems asks the parser to record, while it frames the next reply,
// where its elements are when it is an array of non-array elements (an
// MGET reply): call it before the reply's first Parse. The marks are
// appended to marks[:0], which the parser owns until Reset.
func (p *ReplyParser) MarkElems(marks []int32) {
	p.marking, p.marks = true, marks[:0]
}

// Elems returns the marks of the reply Parse has completed, and the buffer
// given to MarkElems (or a larger one) for the caller to take back. For an
// array reply of n elements none of which is an array, ok is true and
// marks has n+1 offsets: element i is reply[marks[i]:marks[i+1]], and
// marks[n] is the reply's length. For any other reply, or when MarkElems
// was not called, ok is false and len(marks) is 0.
func (p *ReplyParser) Elems() (marks []int32, ok bool) {
	// A reply that is not an array completes with its first mark.
	ok = p.state == replyDone && p.marking && len(p.marks) >= 2
	if !ok {
		return p.marks[:0], false
	}
	return p.marks, true
}

// ReplyLen returns the length of the complete reply at the start of buf, or
// 0 if it is incomplete. It scans from the start each time: for replies that
// arrive in pieces use a ReplyParser.
func ReplyLen(buf []byte) (int, error) {
	var p ReplyParser
	return p.Parse(buf)
}

// bulkLen returns the length of the complete, well-formed bulk or null
// bulk at the start of b, or 0 for anything else (a bulk still arriving, a
// length of ten digits or more), which the general parser then judges:
// the elements of an MGET reply, read without its setup for each.
func bulkLen(b []byte) int {
	if len(b) < 5 || b[0] != '$' {
		return 0
	}
	d := b[1] - '0'
	if d > 9 {
		if b[1] == '-' && b[2] == '1' && b[3] == '\r' && b[4] == '\n' {
			return 5
		}
		return 0
	}
	// At most 9 digits (maxBulkLen has 9), none of them a leading zero.
	v, i := int(d), 2
	if d != 0 {
		for ; i < len(b) && i < 10; i++ {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			v = v*10 + int(d)
		}
	}
	end := i + 2 + v
	if v > maxBulkLen || end+2 > len(b) || b[i] != '\r' || b[i+1] != '\n' || b[end] != '\r' || b[end+1] != '\n' {
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
