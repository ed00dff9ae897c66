package mc

import (
	"bytes"
	"errors"
	"math"
)

// Reply limits: memcached's reply lines are short (a VALUE, VA or ME line
// holds a key of at most 250 bytes, numbers and flags), and it refuses an
// item size limit (-I) over 1 GB.
const (
	maxReplyLine = 2048
	maxReplyData = 1 << 30
)

// Reply framing errors: the server connection is out of step.
var (
	errReplyCRLF       = errors.New("mc: reply line or data block not terminated by CRLF")
	errReplyLineTooBig = errors.New("mc: reply line too long")
	errReplyUnexpected = errors.New("mc: reply line unexpected for the request")
	errNotValues       = errors.New("mc: retrieval reply is an error")
)

type replyState uint8

const (
	replyLine replyState = iota // reading the line at pos
	replyData                   // waiting for a data block and its CRLF at pos
	replyDone
	replyFailed
)

// ReplyParser finds the end of one reply. The zero value is ready to use.
type ReplyParser struct {
	state   replyState
	last    bool // the data block being read ends the reply (VA)
	pos     int  // offset of the line or data block being read
	scan    int  // offset up to which the current line has been searched
	dataLen int
	err     error

	marking bool    // MarkValues was called
	marks   []int32 // where the VALUE blocks and the END line start
}

// MarkValues asks the parser to record, while it frames the next reply to
// a retrieval (get, gets, gat, gats), where its VALUE blocks are: call it
// before the reply's first Parse. The marks are appended to marks[:0],
// which the parser owns until Reset.
func (p *ReplyParser) MarkValues(marks []int32) {
	p.marking, p.marks = true, marks[:0]
}

// Values returns the marks of the retrieval reply Parse has completed, and
// the buffer given to MarkValues (or a larger one) for the caller to take
// back. For a reply of n VALUE blocks, ok is true and marks has n+1
// offsets: block i (its VALUE line, data and CRLF) is
// reply[marks[i]:marks[i+1]], and marks[n] is where END starts. For an
// error line, or when MarkValues was not called, ok is false and
// len(marks) is 0.
func (p *ReplyParser) Values() (marks []int32, ok bool) {
	ok = p.state == replyDone && p.marking && len(p.marks) > 0
	if !ok {
		return p.marks[:0], false
	}
	return p.marks, true
}

// Parse scans buf, which starts at the first byte of the reply to a request
// of kind k, and returns the reply's length once it is all in buf, or
// (0, nil) when more bytes are needed. It resumes like
// RequestParser.Parse, with the same k. An error means the connection is
// out of step. Once Parse has returned n > 0 or an error it returns the
// same until Reset.
func (p *ReplyParser) Parse(k Kind, buf []byte) (int, error) {
	switch p.state {
	case replyDone:
		return p.pos, nil
	case replyFailed:
		return 0, p.err
	}
	for {
		if p.state == replyData {
			end := p.pos + p.dataLen
			if len(buf) < end+2 {
				return 0, nil
			}
			if buf[end] != '\r' || buf[end+1] != '\n' {
				return p.fail(errReplyCRLF)
			}
			p.pos, p.scan, p.state = end+2, end+2, replyLine
			if p.last {
				return p.done()
			}
		}
		to := min(len(buf), p.pos+maxReplyLine+2)
		i := bytes.IndexByte(buf[p.scan:to], '\n')
		if i < 0 {
			p.scan = to
			if to == p.pos+maxReplyLine+2 {
				return p.fail(errReplyLineTooBig)
			}
			return 0, nil
		}
		nl := p.scan + i
		if nl == p.pos || buf[nl-1] != '\r' {
			return p.fail(errReplyCRLF)
		}
		line, start := buf[p.pos:nl-1], p.pos
		p.pos, p.scan = nl+1, nl+1
		if isErrorLine(line) {
			p.marks = p.marks[:0]
			return p.done()
		}
		if p.marking {
			p.mark(start)
		}
		n, ok := classify(k, line)
		if !ok {
			return p.fail(errReplyUnexpected)
		}
		if n < 0 {
			return p.done()
		}
		p.dataLen, p.state, p.last = n, replyData, k != KindRetrieval && k != KindGat
	}
}

// classify checks a reply line for a request of kind k, and returns the
// length of the data block that follows it (VALUE, VA), or -1 when none
// does; the line then ends the reply.
func classify(k Kind, line []byte) (int, bool) {
	switch k {
	case KindRetrieval, KindGat:
		if string(line) == "END" {
			return -1, true
		}
		return valueLen(line)
	case KindStorage, KindCas:
		return -1, isOneOf(line, "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND")
	case KindDelete:
		return -1, isOneOf(line, "DELETED", "NOT_FOUND")
	case KindArith:
		_, num := parseDigits(line)
		return -1, num || string(line) == "NOT_FOUND"
	case KindTouch:
		return -1, isOneOf(line, "TOUCHED", "NOT_FOUND")
	case KindVersion:
		return -1, bytes.HasPrefix(line, []byte("VERSION "))
	case KindVerbosity, KindFlushAll:
		return -1, string(line) == "OK"
	case KindMetaGet:
		if hasCode(line, "VA") {
			return vaLen(line)
		}
		return -1, hasCode(line, "HD") || hasCode(line, "EN")
	case KindMetaArith:
		if hasCode(line, "VA") {
			return vaLen(line)
		}
		return -1, hasCode(line, "HD") || hasCode(line, "NF") || hasCode(line, "NS") || hasCode(line, "EX")
	case KindMetaSet:
		return -1, hasCode(line, "HD") || hasCode(line, "NS") || hasCode(line, "EX") || hasCode(line, "NF")
	case KindMetaDelete:
		return -1, hasCode(line, "HD") || hasCode(line, "NF") || hasCode(line, "EX")
	case KindMetaNoop:
		return -1, string(line) == "MN"
	case KindMetaDebug:
		return -1, hasCode(line, "ME") || hasCode(line, "EN")
	}
	return -1, false
}

// isErrorLine reports whether line is ERROR, CLIENT_ERROR or SERVER_ERROR,
// with or without a message.
func isErrorLine(line []byte) bool {
	return hasCode(line, "ERROR") || hasCode(line, "CLIENT_ERROR") || hasCode(line, "SERVER_ERROR")
}

// hasCode reports whether line is code, alone or followed by a space.
func hasCode(line []byte, code string) bool {
	return len(line) >= len(code) && string(line[:len(code)]) == code && (len(line) == len(code) || line[len(code)] == ' ')
}

func isOneOf(line []byte, codes ...string) bool {
	for _, c := range codes {
		if string(line) == c {
			return true
		}
	}
	return false
}

// valueLen checks "VALUE <key> <flags> <bytes> [<cas>]" and returns <bytes>.
func valueLen(line []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("VALUE "))
	if !ok {
		return 0, false
	}
	var f [4][]byte
	nf := 0
	for more := true; more; nf++ {
		if nf == len(f) {
			return 0, false
		}
		f[nf], rest, more = bytes.Cut(rest, []byte{' '})
		if len(f[nf]) == 0 {
			return 0, false
		}
	}
	if nf < 3 {
		return 0, false
	}
	_, okFlags := parseDigits(f[1])
	n, okLen := parseDigits(f[2])
	okCas := true
	if nf == 4 {
		_, okCas = parseDigits(f[3])
	}
	if !okFlags || !okLen || !okCas || n > maxReplyData {
		return 0, false
	}
	return int(n), true
}

// vaLen checks "VA <size> <flags>*" and returns <size>.
func vaLen(line []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("VA "))
	size, _, _ := bytes.Cut(rest, []byte{' '})
	n, okSize := parseDigits(size)
	if !ok || !okSize || n > maxReplyData {
		return 0, false
	}
	return int(n), true
}

// parseDigits parses decimal digits within 64 bits, as memcached writes
// numbers.
func parseDigits(b []byte) (uint64, bool) {
	if len(b) == 0 || b[0] == '+' {
		return 0, false
	}
	return parseUint(b)
}

// mark records that a VALUE block or the END line starts at pos; past
// what an int32 holds the marks are dropped (Values is then not ok).
func (p *ReplyParser) mark(pos int) {
	if pos > math.MaxInt32 {
		p.marking, p.marks = false, p.marks[:0]
		return
	}
	p.marks = append(p.marks, int32(pos))
}

func (p *ReplyParser) done() (int, error) {
	p.state = replyDone
	return p.pos, nil
}

func (p *ReplyParser) fail(err error) (int, error) {
	p.state, p.err = replyFailed, err
	return 0, err
}

// Reset prepares the parser for the next reply. It forgets the marks
// buffer: the caller takes it with Values first.
func (p *ReplyParser) Reset() { *p = ReplyParser{} }

// ValuesEnd takes a complete retrieval reply, as ReplyParser framed it for
// a get, gets, gat or gats, and returns its length without the final
// "END\r\n", so that the VALUE blocks of several servers' replies can be
// joined under one END. It fails when the reply is an error line.
func ValuesEnd(reply []byte) (int, error) {
	const end = "END\r\n"
	// A complete reply ends with its last line, which holds no '\n': the
	// reply is values when that line is END.
	if string(reply) == end || bytes.HasPrefix(reply, []byte("VALUE ")) && bytes.HasSuffix(reply, []byte("\n"+end)) {
		return len(reply) - len(end), nil
	}
	return 0, errNotValues
}
