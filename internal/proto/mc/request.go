package mc

import "bytes"

// Reset drops slices grown past this many tokens, so that one huge
// multi-get does not pin memory for the rest of the connection's life.
const maxRetainedTokens = 1024

type reqState uint8

const (
	reqLine   reqState = iota // reading the command line
	reqData                   // waiting for the data block and the two bytes after it
	reqDone                   // a request is complete
	reqFailed                 // the request is refused
)

// span locates a token: buf[start:end] of the frame.
type span struct{ start, end int }

// RequestParser parses client requests. The zero value is ready to use; one
// parser serves one connection, request after request.
type RequestParser struct {
	// MaxValueLen bounds data blocks; 0 means DefaultMaxValueLen. Reset
	// keeps it.
	MaxValueLen int

	state   reqState
	scan    int  // frame offset up to which the line has been searched for '\n'
	long    bool // the line is a get line, allowed up to maxRetrievalLine
	lineEnd int  // frame offset just past the line's '\n'
	dataLen int  // length of the data block, without its "\r\n"
	n       int  // frame length, once complete
	cmd     *Command
	noreply bool
	base64  bool
	keys    [2]int // token indexes [keys[0], keys[1]) of the keys
	swallow *Error // refusal to report once the data block has arrived
	err     error  // set in reqFailed

	tokens  []span
	keyBufs [][]byte // returned by Keys
}

// Parse scans buf, which starts at the first byte of a request, and returns
// the frame length n > 0 once the whole request (command line, and data
// block for storage commands) is in buf, or (0, nil) when more bytes are
// needed. Between calls that return 0 the caller passes the same frame
// start with more bytes appended (the slice may have moved); bytes already
// scanned are not scanned again. A refused request is reported as an
// *Error (see the package doc). Once Parse has returned n > 0 or an error
// it returns the same until Reset.
func (p *RequestParser) Parse(buf []byte) (int, error) {
	switch p.state {
	case reqDone:
		return p.n, nil
	case reqFailed:
		return 0, p.err
	case reqLine:
		if len(buf) > 0 && buf[0] == binaryMagic {
			return p.fail(&Error{Fatal: true, text: "a binary protocol request (first byte 0x80); only the text protocol is served"})
		}
		nl, err := p.findLineEnd(buf)
		if err != nil {
			return p.fail(err)
		}
		if nl < 0 {
			return 0, nil
		}
		p.lineEnd = nl + 1
		if err := p.parseLine(buf, nl); err != nil {
			return p.fail(err)
		}
		if p.state != reqData {
			return p.done(p.lineEnd)
		}
	}
	end := p.lineEnd + p.dataLen
	if len(buf) < end+2 {
		return 0, nil
	}
	if p.swallow != nil {
		return p.fail(p.swallow)
	}
	if buf[end] != '\r' || buf[end+1] != '\n' {
		return p.fail(p.refuse(replyBadChunk, end+2))
	}
	return p.done(end + 2)
}

// findLineEnd returns the offset of the '\n' ending the command line, or -1
// when more bytes are needed. Memcached closes the connection once more
// than 2048 bytes without a '\n' are buffered, except for get and gets, so
// a line may hold at most maxLine bytes before its '\n' ('\r' included),
// or maxRetrievalLine for get and gets. A line memcached would take only
// when it arrives in one read is never forwarded, as it may not arrive so.
func (p *RequestParser) findLineEnd(buf []byte) (int, error) {
	for {
		limit := maxLine
		if p.long {
			limit = maxRetrievalLine
		}
		to := min(len(buf), limit+1)
		if i := bytes.IndexByte(buf[p.scan:to], '\n'); i >= 0 {
			return p.scan + i, nil
		}
		p.scan = to
		if len(buf) <= limit {
			return -1, nil
		}
		if p.long {
			return -1, &Error{Reply: replyOutOfMemory, Fatal: true, text: "get line longer than 256 KB"}
		}
		if !isGetLine(buf) {
			return -1, &Error{Fatal: true, text: "command line longer than 2048 bytes"}
		}
		p.long = true
	}
}

// isGetLine reports whether the line starting buf, which holds more than
// maxLine bytes, is one memcached lets grow: "get " or "gets " after at
// most 100 spaces.
func isGetLine(buf []byte) bool {
	i := 0
	for buf[i] == ' ' {
		if i++; i > maxLeadingSpaces {
			return false
		}
	}
	return bytes.HasPrefix(buf[i:], []byte("get ")) || bytes.HasPrefix(buf[i:], []byte("gets "))
}

// parseLine checks the command line ending at nl and sets up the request,
// moving to reqData for a storage command.
func (p *RequestParser) parseLine(buf []byte, nl int) error {
	end := nl
	if end > 0 && buf[end-1] == '\r' {
		end--
	}
	control := p.tokenize(buf[:end])
	ntok := len(p.tokens)
	if ntok == 0 {
		return p.refuse(replyError, p.lineEnd)
	}
	p.cmd = byName[string(p.token(buf, 0))]
	if p.cmd == nil {
		return p.refuse(replyError, p.lineEnd)
	}
	// Memcached's checks, in memcached's order, for each kind.
	switch k := p.cmd.Kind; k {
	case KindStorage, KindCas:
		want := 5
		if k == KindCas {
			want = 6
		}
		if ntok != want && ntok != want+1 {
			return p.refuse(replyError, p.lineEnd)
		}
		p.noreply = p.tokenIs(buf, ntok-1, "noreply")
		p.keys = [2]int{1, 2}
		_, okFlags := parseUint(p.token(buf, 2))
		_, okExp := parseInt(p.token(buf, 3))
		n, okLen := parseInt(p.token(buf, 4))
		okCas := true
		if k == KindCas {
			_, okCas = parseUint(p.token(buf, 5))
		}
		if p.tokenLen(1) > maxKeyLen || !okFlags || !okExp || !okLen || !okCas || n < 0 || n > maxDataLen {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
		if err := p.expectData(int(n)); err != nil {
			return err
		}

	case KindRetrieval, KindGat:
		if ntok < 2 {
			return p.refuse(replyError, p.lineEnd)
		}
		p.keys = [2]int{1, ntok}
		if k == KindGat {
			if _, ok := parseInt(p.token(buf, 1)); !ok {
				return p.refuse(replyBadExptime, p.lineEnd)
			}
			p.keys[0] = 2
		}
		for i := p.keys[0]; i < ntok; i++ {
			if p.tokenLen(i) > maxKeyLen {
				return p.refuse(replyBadFormat, p.lineEnd)
			}
		}

	case KindDelete:
		if ntok < 2 || ntok > 4 {
			return p.refuse(replyError, p.lineEnd)
		}
		p.keys = [2]int{1, 2}
		if ntok > 2 {
			zero := p.tokenIs(buf, 2, "0")
			p.noreply = p.tokenIs(buf, ntok-1, "noreply")
			if ntok == 3 && !zero && !p.noreply || ntok == 4 && !(zero && p.noreply) {
				return p.refuse(replyDeleteUsage, p.lineEnd)
			}
		}
		if p.tokenLen(1) > maxKeyLen {
			return p.refuse(replyBadFormat, p.lineEnd)
		}

	case KindArith, KindTouch:
		if ntok != 3 && ntok != 4 {
			return p.refuse(replyError, p.lineEnd)
		}
		p.noreply = p.tokenIs(buf, ntok-1, "noreply")
		p.keys = [2]int{1, 2}
		if p.tokenLen(1) > maxKeyLen {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
		if k == KindArith {
			if _, ok := parseUint(p.token(buf, 2)); !ok {
				return p.refuse(replyBadDelta, p.lineEnd)
			}
		} else if _, ok := parseInt(p.token(buf, 2)); !ok {
			return p.refuse(replyBadExptime, p.lineEnd)
		}

	case KindQuit, KindVersion, KindMetaNoop:
		// Memcached ignores any further tokens.

	case KindVerbosity:
		if ntok != 2 && ntok != 3 {
			return p.refuse(replyError, p.lineEnd)
		}
		if _, ok := parseUint(p.token(buf, 1)); !ok {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
		p.noreply = ntok == 3 && p.tokenIs(buf, 2, "noreply")

	case KindStats:
		// Any arguments: the client refuses them (see stats.go).

	case KindFlushAll:
		if ntok > 3 {
			return p.refuse(replyError, p.lineEnd)
		}
		p.noreply = p.tokenIs(buf, ntok-1, "noreply")
		if ntok == 3 || ntok == 2 && !p.noreply {
			if _, ok := parseInt(p.token(buf, 1)); !ok {
				return p.refuse(replyBadExptime, p.lineEnd)
			}
		}

	case KindMetaGet, KindMetaDelete, KindMetaArith:
		if ntok < 2 {
			return p.refuse(replyError, p.lineEnd)
		}
		p.keys = [2]int{1, 2}
		if p.tokenLen(1) > maxKeyLen {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
		if ntok >= maxMetaTokens {
			if k == KindMetaGet {
				return p.refuse(replyMgTooManyFlags, p.lineEnd)
			}
			return p.refuse(replyTooManyFlags, p.lineEnd)
		}
		p.metaFlags(buf, 2)
		if p.base64 && !validBase64(p.token(buf, 1)) {
			return p.refuse(replyBadKeyEncoding, p.lineEnd)
		}

	case KindMetaSet:
		if ntok < 2 {
			return p.refuse(replyError, p.lineEnd)
		}
		p.keys = [2]int{1, 2}
		if p.tokenLen(1) > maxKeyLen || ntok == 2 {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
		if ntok >= maxMetaTokens {
			return p.refuse(replyTooManyFlags, p.lineEnd)
		}
		n, ok := parseInt(p.token(buf, 2))
		if !ok || n < 0 || n > maxDataLen {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
		p.metaFlags(buf, 3)
		if err := p.expectData(int(n)); err != nil {
			return err
		}
		if p.base64 && !validBase64(p.token(buf, 1)) {
			p.swallow = p.refuse(replyBadKeyEncoding, p.lineEnd+int(n)+2)
			return nil
		}

	case KindMetaDebug:
		if ntok < 2 || p.tokenLen(1) > maxKeyLen {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
		p.keys = [2]int{1, 2}
		p.base64 = ntok >= 3 && p.tokenIs(buf, 2, "b")
		if p.base64 && !validBase64(p.token(buf, 1)) {
			return p.refuse(replyBadFormat, p.lineEnd)
		}
	}
	if !control {
		return nil
	}
	if p.state == reqData {
		p.swallow = p.refuse(replyBadFormat, p.lineEnd+p.dataLen+2)
		return nil
	}
	return p.refuse(replyBadFormat, p.lineEnd)
}

// expectData moves to reqData for a data block of n bytes, or refuses one
// over MaxValueLen.
func (p *RequestParser) expectData(n int) error {
	maxValue := p.MaxValueLen
	if maxValue <= 0 {
		maxValue = DefaultMaxValueLen
	}
	if n > maxValue {
		e := p.refuse(replyTooLarge, 0)
		e.Fatal = true
		return e
	}
	p.dataLen, p.state = n, reqData
	return nil
}

// metaFlags notes the q and b flags among the tokens from first on: a flag
// is named by its first byte, as in memcached's _meta_flag_preparse.
func (p *RequestParser) metaFlags(buf []byte, first int) {
	for _, s := range p.tokens[first:] {
		switch buf[s.start] {
		case 'q':
			p.noreply = true
		case 'b':
			p.base64 = true
		}
	}
}

// tokenize splits line at spaces into p.tokens and reports whether it holds
// a control byte.
func (p *RequestParser) tokenize(line []byte) bool {
	control := false
	start := -1
	for i, c := range line {
		if c == ' ' {
			if start >= 0 {
				p.tokens = append(p.tokens, span{start, i})
				start = -1
			}
			continue
		}
		if c < ' ' || c == 0x7f {
			control = true
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		p.tokens = append(p.tokens, span{start, len(line)})
	}
	return control
}

func (p *RequestParser) token(buf []byte, i int) []byte {
	s := p.tokens[i]
	return buf[s.start:s.end:s.end]
}

func (p *RequestParser) tokenLen(i int) int { return p.tokens[i].end - p.tokens[i].start }

func (p *RequestParser) tokenIs(buf []byte, i int, s string) bool {
	return string(p.token(buf, i)) == s
}

// refuse returns the Error for a request memcached answers with reply after
// consuming n bytes. With noreply (only ever set after the checks that
// answer ERROR) memcached keeps quiet, except for meta commands.
func (p *RequestParser) refuse(reply string, n int) *Error {
	e := &Error{Reply: reply, Len: n, text: reply}
	if p.noreply && !p.cmd.Kind.meta() {
		e.Reply = ""
	}
	return e
}

func (p *RequestParser) done(n int) (int, error) {
	p.state, p.n = reqDone, n
	return n, nil
}

func (p *RequestParser) fail(err error) (int, error) {
	p.state, p.err = reqFailed, err
	return 0, err
}

// Command returns the command of the request being parsed, once its line
// is complete and names a supported command; otherwise nil.
func (p *RequestParser) Command() *Command { return p.cmd }

// NoReply reports whether the request asks memcached not to reply: a last
// token "noreply" (set add replace append prepend cas delete incr decr
// touch), or the q flag of a meta command, under which memcached omits
// only some replies (see the package doc).
func (p *RequestParser) NoReply() bool { return p.noreply }

// KeyIsBase64 reports whether the key of a meta request is base64 (the b
// flag): the proxy hashes the key DecodeKey returns.
func (p *RequestParser) KeyIsBase64() bool { return p.base64 }

// Keys returns the keys of the request Parse has completed, as sub-slices of
// buf (the frame Parse saw last) with clipped capacities: many for get gets
// gat gats (none for a gat without keys, which memcached answers with
// END), none for quit version mn, one otherwise. The slice is reused by the
// next call; it is nil before the request is complete.
func (p *RequestParser) Keys(buf []byte) [][]byte {
	if p.state != reqDone {
		return nil
	}
	p.keyBufs = p.keyBufs[:0]
	for i := p.keys[0]; i < p.keys[1]; i++ {
		p.keyBufs = append(p.keyBufs, p.token(buf, i))
	}
	return p.keyBufs
}

// NArgs returns the number of tokens of the completed request's command
// line, the command name included, or 0 before the request is complete.
func (p *RequestParser) NArgs() int {
	if p.state != reqDone {
		return 0
	}
	return len(p.tokens)
}

// Arg returns token i of the completed request's command line (0 is the
// command name) as a sub-slice of buf, or nil if there is no such token.
// The proxy uses it to rebuild a multi-get per server: the exptime of gat
// and gats is Arg(buf, 1).
func (p *RequestParser) Arg(buf []byte, i int) []byte {
	if p.state != reqDone || i < 0 || i >= len(p.tokens) {
		return nil
	}
	return p.token(buf, i)
}

// Reset prepares the parser for the next request; call it once a frame has
// been consumed, or to start over.
func (p *RequestParser) Reset() {
	tokens, keyBufs := p.tokens[:0], p.keyBufs[:0]
	if cap(tokens) > maxRetainedTokens {
		tokens, keyBufs = nil, nil
	}
	clear(p.keyBufs) // drop references into the old buffer
	maxValueLen := p.MaxValueLen
	*p = RequestParser{} // in place, then the kept fields: see resp.RequestParser.Reset
	p.MaxValueLen, p.tokens, p.keyBufs = maxValueLen, tokens, keyBufs
}
