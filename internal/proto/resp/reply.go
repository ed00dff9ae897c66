package resp

import (
	"bytes"
	"errors"
	"math"
)

// Bounds on reply lines. maxNumLine: 20 bytes hold any int64, the text of
// an integer, bulk length or aggregate count. maxDoubleLine: Redis formats
// a double into a buffer of MAX_LONG_DOUBLE_CHARS (5 KB), which a long
// double printed without an exponent can fill. Simple strings, errors and
// big numbers may be as long as a bulk.
const (
	maxNumLine    = 20
	maxDoubleLine = 5 * 1024
)

// maxPending bounds the elements a reply may still owe. No real reply
// comes near it; it keeps the count from overflowing however many
// aggregate headers a broken server sends.
const maxPending = 1 << 62

// Reply framing errors: the server connection is out of step.
var (
	errReplyType       = errors.New("resp: reply does not start with a RESP2 or RESP3 type byte")
	errReplyCRLF       = errors.New("resp: reply line or bulk not terminated by CRLF")
	errReplyLineTooBig = errors.New("resp: reply line too long")
	errReplyInt        = errors.New("resp: invalid integer reply")
	errReplyBulkLen    = errors.New("resp: invalid bulk length in reply")
	errReplyArrayLen   = errors.New("resp: invalid array, map, set, push or attribute length in reply")
	errReplyTooMany    = errors.New("resp: reply owes too many elements")
	errReplyNull       = errors.New("resp: invalid RESP3 null reply")
	errReplyBool       = errors.New("resp: invalid RESP3 boolean reply")
	errReplyDouble     = errors.New("resp: invalid RESP3 double reply")
	errReplyBigNum     = errors.New("resp: invalid RESP3 big number reply")
	errReplyVerbatim   = errors.New("resp: RESP3 verbatim string without its format prefix")
	errReplyStreamed   = errors.New("resp: streamed RESP3 replies are not supported")
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

// ReplyParser finds the end of one reply, RESP2 or RESP3. RESP2: + - : $ *
// with nested arrays, "$-1" and "*-1" nulls. RESP3 adds null "_", boolean
// "#t"/"#f", double ",", big number "(", blob error "!" and verbatim
// string "=" (both framed like a bulk, neither ever null), and the
// aggregates map "%" (2n elements), set "~", push ">" and attribute "|":
// an attribute's 2n elements come before the value it describes, which is
// the element that counts. A push is framed as one reply; telling it apart
// from the reply of a request is the caller's business. The streamed forms
// ("$?", "*?" and the like), which Redis 7.0 never sends, are an error.
// The zero value is ready to use.
//
// It keeps no stack: it counts the elements still due (an array of N adds
// N-1, a map 2N-1, an attribute 2N), so nesting depth costs nothing and
// needs no bound. Lengths are bounded before use (bulk 512 MB, aggregate
// 2^31-1 elements or pairs, simple lines 512 MB, doubles 5 KB, the count
// of elements due 2^62) and nothing is allocated from them.
//
// Asked with MarkElems, it also records where the elements of an array
// reply start and end, so that a reply to be split (an MGET fragment's) is
// not parsed a second time.
type ReplyParser struct {
	state    replyState
	verbatim bool  // the bulk being read is a verbatim string's
	pos      int   // offset of the element, or bulk data, being read
	scan     int   // offset up to which the current line has been searched
	pending  int64 // elements still due, the one at pos included
	bulkLen  int
	err      error

	marking bool    // recording marks: set by MarkElems, cleared by a nested aggregate
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
			// The data starts with its format: three bytes and ':'.
			if p.verbatim && buf[p.pos+3] != ':' {
				return p.fail(errReplyVerbatim)
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
		case ':', '$', '*':
		case '+', '-', '(':
			maxLine = maxBulkLen
		case ',':
			maxLine = maxDoubleLine
		case '_', '#', '!', '=', '%', '~', '>', '|':
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
		line := buf[p.pos+1 : cr]
		switch typ {
		case '+', '-':
		case ':':
			if _, ok := parseInt(line); !ok {
				return p.fail(errReplyInt)
			}
		case '$', '!', '=':
			v, ok := parseInt(line)
			if !ok || v < -1 || v > maxBulkLen || v == -1 && typ != '$' {
				return p.fail(streamedOr(line, errReplyBulkLen))
			}
			if v >= 0 {
				if typ == '=' && v < 4 {
					return p.fail(errReplyVerbatim)
				}
				p.bulkLen, p.verbatim = int(v), typ == '='
				p.pos, p.state = cr+2, replyBulk
				continue
			}
		case '*', '%', '~', '>', '|':
			v, ok := parseInt(line)
			if !ok || v < -1 || v > math.MaxInt32 || v == -1 && typ != '*' {
				return p.fail(streamedOr(line, errReplyArrayLen))
			}
			if p.pos > 0 || typ != '*' {
				p.marking = false // its elements are not those of an array reply
			}
			if typ == '%' || typ == '|' {
				v *= 2 // key-value pairs
			}
			if v > 0 {
				if p.pending += v; p.pending > maxPending {
					return p.fail(errReplyTooMany)
				}
			}
			if typ == '|' {
				// Not an element: the value it describes is still due.
				p.pos, p.scan = cr+2, cr+2
				continue
			}
		case '_':
			if len(line) != 0 {
				return p.fail(errReplyNull)
			}
		case '#':
			if len(line) != 1 || line[0] != 't' && line[0] != 'f' {
				return p.fail(errReplyBool)
			}
		case ',':
			if !validDouble(line) {
				return p.fail(errReplyDouble)
			}
		case '(':
			if !validBigNum(line) {
				return p.fail(errReplyBigNum)
			}
		}
		if n, err := p.next(cr + 2); n != 0 || err != nil {
			return n, err
		}
	}
}

// streamedOr returns errReplyStreamed when line is the "?" length of a
// streamed RESP3 string or aggregate, else err.
func streamedOr(line []byte, err error) error {
	if len(line) == 1 && line[0] == '?' {
		return errReplyStreamed
	}
	return err
}

// validDouble reports whether b is the text of a RESP3 double: an optional
// sign, then "inf", "nan" (glibc prints "-nan", which Redis 7.0 sends for a
// Lua script's 0/0) or digits with an optional fraction and exponent.
func validDouble(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if string(b) == "inf" || string(b) == "nan" {
		return true
	}
	i := skipDigits(b, 0)
	if i == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(b)
}

// validBigNum reports whether b is the text of a RESP3 big number: an
// optional sign and at least one digit.
func validBigNum(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	return len(b) > 0 && skipDigits(b, 0) == len(b)
}

// skipDigits returns the offset of the first byte of b at or after i that
// is not a decimal digit.
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	return i
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
// where its elements are when it is an array of elements none of which is
// an aggregate or has an attribute (an MGET reply, whose nulls may be
// RESP2's "$-1" or RESP3's "_"): call it before the reply's first Parse.
// Any other reply, a RESP3 map, set or push among them, is not marked.
// The marks are appended to marks[:0], which the parser owns until Reset.
func (p *ReplyParser) MarkElems(marks []int32) {
	p.marking, p.marks = true, marks[:0]
}

// Elems returns the marks of the reply Parse has completed, and the buffer
// given to MarkElems (or a larger one) for the caller to take back. For an
// array reply of n elements none of which is an aggregate or has an
// attribute, ok is true and marks has n+1 offsets: element i is
// reply[marks[i]:marks[i+1]], and marks[n] is the reply's length. For any
// other reply, or when MarkElems was not called, ok is false and
// len(marks) is 0.
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
// The spans are sub-slices of reply; an element may be of any type,
// RESP3's included (a null is "$-1" or "_"). It is used to merge MGET
// fragments.
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
