package resp

import (
	"errors"
	"slices"
	"sync"
)

// Limits of Redis 7.0 (server.h PROTO_INLINE_MAX_SIZE, the default
// proto-max-bulk-len) and of this proxy (maxArgs, see the package doc).
const (
	maxLineSize = 64 * 1024
	maxBulkLen  = 512 * 1024 * 1024
	maxArgs     = 1024 * 1024
)

// Reset drops argument slices grown past these sizes, so that one huge
// request does not pin memory for the rest of the connection's life.
const (
	maxRetainedArgs    = 1024
	maxRetainedScratch = 4096
)

// Request framing errors. Their texts are Redis's (hence the capital P), so
// the caller replies "-ERR " + err.Error() and closes the connection.
var (
	errInvalidMultibulkLen = errors.New("Protocol error: invalid multibulk length")
	errInvalidBulkLen      = errors.New("Protocol error: invalid bulk length")
	errTooBigMultibulk     = errors.New("Protocol error: too big mbulk count string")
	errTooBigBulk          = errors.New("Protocol error: too big bulk count string")
	errTooBigInline        = errors.New("Protocol error: too big inline request")
	errUnbalancedQuotes    = errors.New("Protocol error: unbalanced quotes in request")
)

// expectedDollarError is the byte found where a bulk header's '$' should be.
type expectedDollarError byte

func (e expectedDollarError) Error() string {
	c := byte(e)
	if c == '\r' || c == '\n' { // Redis maps them to spaces to keep its reply one line
		c = ' '
	}
	return "Protocol error: expected '$', got '" + string([]byte{c}) + "'"
}

type reqState uint8

const (
	reqStart    reqState = iota // nothing seen yet
	reqCount                    // reading the "*N" line
	reqBulkLen                  // reading a "$len" line
	reqBulkData                 // waiting for a bulk's bytes and the two after them
	reqInline                   // reading an inline line
	reqDone                     // a request is complete
	reqFailed                   // framing is broken
)

// span locates one argument: buf[start:end] of the frame, or of the
// parser's scratch buffer when scratch is set.
type span struct {
	start, end int
	scratch    bool
}

// RequestParser parses client requests: RESP multibulk
// ("*N\r\n$len\r\n...") and inline (telnet) commands. The zero value is
// ready to use; one parser serves one connection, request after request.
type RequestParser struct {
	state   reqState
	inline  bool
	sloppy  bool  // a header line or a bulk is not ended by CRLF (see Raw)
	nul     bool  // a NUL precedes any end of the current line: it never ends
	pos     int   // frame offset of the line or bulk being read
	scan    int   // frame offset up to which the current line has been searched
	left    int   // bulks still to come
	bulkLen int   // length of the bulk being read
	err     error // set in reqFailed

	spans   []span
	scratch []byte   // unescaped inline arguments
	args    [][]byte // returned by Args
}

// Parse scans buf, which starts at the first byte of a request, and returns
// the frame length n > 0 once the whole request is in buf, or (0, nil) when
// more bytes are needed. Between calls that return 0 the caller passes the
// same frame start with more bytes appended (the slice may have moved); bytes
// already scanned are not scanned again. An error means the framing is
// broken: the caller replies "-ERR " + err.Error() and closes the
// connection. Once Parse has returned n > 0 or an error it returns the same
// until Reset.
//
// A request with no arguments (an empty inline line, "*0", "*-1") is
// reported with n > 0 and zero Args; the caller skips it.
func (p *RequestParser) Parse(buf []byte) (int, error) {
	switch p.state {
	case reqDone:
		return p.pos, nil
	case reqFailed:
		return 0, p.err
	case reqStart:
		if len(buf) == 0 {
			return 0, nil
		}
		if buf[0] == '*' {
			p.state = reqCount
		} else {
			p.state, p.inline = reqInline, true
		}
	}
	if p.inline {
		return p.parseInline(buf)
	}
	return p.parseMultibulk(buf)
}

func (p *RequestParser) parseMultibulk(buf []byte) (int, error) {
	for {
		switch p.state {
		case reqCount:
			cr, err := p.lineEnd(buf, '\r', errTooBigMultibulk)
			if err != nil {
				return p.fail(err)
			}
			if cr < 0 {
				return 0, nil
			}
			n, ok := parseInt(buf[p.pos+1 : cr])
			if !ok || n > maxArgs {
				return p.fail(errInvalidMultibulkLen)
			}
			p.startLine(cr + 2)
			if n <= 0 {
				return p.done()
			}
			p.left = int(n)
			if p.left > cap(p.spans) {
				p.spans = bigSpans.take(p.spans, p.left)
			}
			p.state = reqBulkLen
		case reqBulkLen:
			if p.scan == p.pos && p.bulks(buf) {
				return p.done()
			}
			cr, err := p.lineEnd(buf, '\r', errTooBigBulk)
			if err != nil {
				return p.fail(err)
			}
			if cr < 0 {
				return 0, nil
			}
			if buf[p.pos] != '$' {
				return p.fail(expectedDollarError(buf[p.pos]))
			}
			n, ok := parseInt(buf[p.pos+1 : cr])
			if !ok || n < 0 || n > maxBulkLen {
				return p.fail(errInvalidBulkLen)
			}
			p.bulkLen = int(n)
			p.pos = cr + 2
			if buf[cr+1] != '\n' {
				p.sloppy = true
			}
			p.state = reqBulkData
		case reqBulkData:
			if len(buf)-p.pos < p.bulkLen+2 {
				return 0, nil
			}
			end := p.pos + p.bulkLen
			if buf[end] != '\r' || buf[end+1] != '\n' {
				p.sloppy = true
			}
			p.spans = append(p.spans, span{start: p.pos, end: end})
			p.startLine(end + 2)
			if p.left--; p.left == 0 {
				return p.done()
			}
			p.state = reqBulkLen
		}
	}
}

// bulks reads the whole bulks from p.pos on whose length has at most
// four digits (the usual keys and small values), with its state in
// locals, and leaves anything else to the general loop. It reports
// whether the request's last bulk was among them.
func (p *RequestParser) bulks(buf []byte) bool {
	pos, left, sloppy, spans := p.pos, p.left, p.sloppy, p.spans
	var same sameBulk
	for left > 0 && pos+4 < len(buf) {
		if end := same.next(buf, pos); end > 0 {
			spans = append(spans, span{start: pos + same.hlen, end: end - 2})
			pos = end
			left--
			continue
		}
		// "$", 1 to 4 digits (no leading zero), '\r' and one more byte.
		h := buf[pos : pos+4]
		d := h[1] - '0'
		if h[0] != '$' || d > 9 {
			break
		}
		v, i := int(d), pos+2
		if d != 0 {
			for ; i < pos+5 && i < len(buf); i++ {
				d := buf[i] - '0'
				if d > 9 {
					break
				}
				v = v*10 + int(d)
			}
		}
		start := i + 2
		end := start + v
		if end+2 > len(buf) || buf[i] != '\r' {
			break
		}
		if buf[i+1] != '\n' || buf[end] != '\r' || buf[end+1] != '\n' {
			sloppy = true
		} else if left > 3 { // a multi-key request: more like this may come
			same.set(buf, pos, start, end+2)
		}
		spans = append(spans, span{start: start, end: end})
		pos = end + 2
		left--
	}
	p.pos, p.scan, p.left, p.sloppy, p.spans = pos, pos, left, sloppy, spans
	return left == 0
}

func (p *RequestParser) parseInline(buf []byte) (int, error) {
	nl, err := p.lineEnd(buf, '\n', errTooBigInline)
	if err != nil {
		return p.fail(err)
	}
	if nl < 0 {
		return 0, nil
	}
	end := nl
	if end > 0 && buf[end-1] == '\r' {
		end--
	}
	if err := p.splitInline(buf[:end]); err != nil {
		return p.fail(err)
	}
	p.pos = nl + 1
	return p.done()
}

// lineEnd finds the terminator of the line starting at p.pos: for a header
// line ('\r') it also needs the byte after it to have arrived, as Redis
// does. It returns the terminator's offset, or -1 with a nil error when more
// bytes are needed, or -1 with tooBig when more than 64 KB have arrived
// without a line end. Like Redis's strchr, the search stops at a NUL byte.
func (p *RequestParser) lineEnd(buf []byte, term byte, tooBig error) (int, error) {
	if !p.nul {
		i, limit := p.scan, min(len(buf), p.pos+maxLineSize+1)
		for ; i < limit; i++ {
			if c := buf[i]; c == term {
				p.scan = i
				if term == '\r' && i+2 > len(buf) {
					return -1, nil
				}
				return i, nil
			} else if c == 0 {
				p.nul = true
				break
			}
		}
		p.scan = i
	}
	if len(buf)-p.pos > maxLineSize {
		return -1, tooBig
	}
	return -1, nil
}

// splitInline splits an inline line into arguments as Redis's sdssplitargs
// does. Unquoted arguments are spans of the frame; arguments with quotes are
// unescaped into p.scratch.
func (p *RequestParser) splitInline(line []byte) error {
	at := func(i int) byte { // the line as a C string: NUL at its end
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return nil
		}
		start, end, from := i, 0, len(p.scratch)
		plain, inq, insq := true, false, false
		for done := false; !done; {
			c := at(i)
			switch {
			case inq:
				switch {
				case c == '\\' && at(i+1) == 'x' && isHex(at(i+2)) && isHex(at(i+3)):
					p.scratch = append(p.scratch, unhex(at(i+2))<<4|unhex(at(i+3)))
					i += 3
				case c == '\\' && at(i+1) != 0:
					i++
					p.scratch = append(p.scratch, unescape(line[i]))
				case c == '"':
					if n := at(i + 1); n != 0 && !isSpace(n) {
						return errUnbalancedQuotes
					}
					done = true
				case c == 0:
					return errUnbalancedQuotes
				default:
					p.scratch = append(p.scratch, c)
				}
			case insq:
				switch {
				case c == '\\' && at(i+1) == '\'':
					i++
					p.scratch = append(p.scratch, '\'')
				case c == '\'':
					if n := at(i + 1); n != 0 && !isSpace(n) {
						return errUnbalancedQuotes
					}
					done = true
				case c == 0:
					return errUnbalancedQuotes
				default:
					p.scratch = append(p.scratch, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					end, done = i, true
				case '"', '\'':
					if plain {
						plain = false
						p.scratch = append(p.scratch, line[start:i]...)
					}
					inq, insq = c == '"', c == '\''
				default:
					if !plain {
						p.scratch = append(p.scratch, c)
					}
				}
			}
			if i < len(line) {
				i++
			}
		}
		if plain {
			p.spans = append(p.spans, span{start: start, end: end})
		} else {
			p.spans = append(p.spans, span{start: from, end: len(p.scratch), scratch: true})
		}
	}
}

// isSpace is C's isspace in the "C" locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// unescape maps the character after a backslash inside double quotes.
func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}

func (p *RequestParser) startLine(pos int) {
	p.pos, p.scan = pos, pos
}

func (p *RequestParser) done() (int, error) {
	p.state = reqDone
	return p.pos, nil
}

func (p *RequestParser) fail(err error) (int, error) {
	p.state, p.err = reqFailed, err
	return 0, err
}

// Args returns the arguments of the request Parse has completed, command
// name first, or nil before that. Each is a sub-slice of buf (the same frame
// Parse saw last) or, for an inline argument written with quotes, of a
// parser-owned buffer; capacities are clipped, so appending to one copies
// it. They are valid until the next Parse or Reset.
func (p *RequestParser) Args(buf []byte) [][]byte {
	if p.state != reqDone {
		return nil
	}
	p.args = p.args[:0]
	if len(p.spans) > cap(p.args) {
		p.args = bigArgs.take(p.args, len(p.spans))
	}
	// Filled by index, not appended: a 10,000-key MGET has as many.
	args := slices.Grow(p.args, len(p.spans))[:len(p.spans)]
	spans := p.spans[:len(args)]
	for i := range args {
		src := buf
		if spans[i].scratch {
			src = p.scratch
		}
		args[i] = src[spans[i].start:spans[i].end:spans[i].end]
	}
	p.args = args
	return args
}

// Inline reports whether the request being parsed is an inline command.
func (p *RequestParser) Inline() bool { return p.inline }

// Verbatim reports whether Raw may be used on the request Parse has
// completed: it is a multibulk request whose header lines and bulks all
// end in CRLF (Redis does not check the two bytes after them), so its
// arguments' bytes are exactly as AppendBulk would encode them.
func (p *RequestParser) Verbatim() bool { return p.state == reqDone && !p.inline && !p.sloppy }

// Raw returns arguments i to j-1 (0 < i < j) of the request Parse has
// completed, encoded: the "$len\r\narg\r\n" of each, which lie next to
// each other in buf (the frame Parse saw last). Only when Verbatim.
func (p *RequestParser) Raw(buf []byte, i, j int) []byte {
	return buf[p.spans[i-1].end+2 : p.spans[j-1].end+2]
}

// bigSpans and bigArgs recycle the tables of requests with more than
// maxRetainedArgs arguments (a 10,000-key MGET), which a parser does not
// keep past Reset, so that an idle client holds little. A table is taken
// only from what was given back: a count read from the wire never sizes
// an allocation.
var (
	bigSpans tableStore[span]
	bigArgs  tableStore[[]byte]
)

// maxSpareArgs bounds the table a tableStore keeps outside its pool: 16K
// entries, some 400 KB of each kind, enough for a 10,000-key MGET.
const maxSpareArgs = 16 << 10

// tableStore recycles big tables of one kind. It keeps one of up to
// maxSpareArgs entries aside, the others in a sync.Pool, which two
// collections empty: a proxy whose heap is a few MB collects that often
// between two big requests, and a client sending 10,000-key MGETs one
// after another grew its tables again by doubling for most of them.
type tableStore[T any] struct {
	mu    sync.Mutex
	spare []T       // length 0; nil when taken
	pool  sync.Pool // *[]T, length 0
}

// take returns a recycled table for n entries when one bigger than cur
// is at hand, with cur's entries, else cur.
func (s *tableStore[T]) take(cur []T, n int) []T {
	if n <= maxRetainedArgs {
		return cur
	}
	s.mu.Lock()
	t := s.spare
	s.spare = nil
	s.mu.Unlock()
	if t == nil {
		if p, ok := s.pool.Get().(*[]T); ok {
			t = *p
		}
	}
	if cap(t) <= cap(cur) {
		if t != nil {
			s.give(t)
		}
		return cur
	}
	return append(t, cur...)
}

// give takes t back, emptied.
func (s *tableStore[T]) give(t []T) {
	t = t[:0]
	if cap(t) <= maxSpareArgs {
		s.mu.Lock()
		if cap(s.spare) < cap(t) { // keep the bigger: the smaller goes to the pool
			s.spare, t = t, s.spare
		}
		s.mu.Unlock()
		if t == nil {
			return
		}
	}
	p := new([]T)
	*p = t
	s.pool.Put(p)
}

// Reset prepares the parser for the next request; call it once a frame has
// been consumed, or to start over.
func (p *RequestParser) Reset() {
	spans, scratch, args := p.spans[:0], p.scratch[:0], p.args[:0]
	if cap(spans) > maxRetainedArgs {
		bigSpans.give(spans)
		spans = nil
	}
	if cap(args) > maxRetainedArgs {
		clear(args[:cap(args)]) // no hold on the client's buffer
		bigArgs.give(args)
		args = nil
	}
	if cap(scratch) > maxRetainedScratch {
		scratch = nil
	}
	// Zeroed in place, then given back its buffers: a literal with them
	// is built on the stack and copied over p, and that copy's wide loads
	// wait on the narrow stores that built it.
	*p = RequestParser{}
	p.spans, p.scratch, p.args = spans, scratch, args
}
