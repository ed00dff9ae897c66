package resp

import (
	"bytes"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// moveBelow: the buffer fed byte by byte moves on every append while shorter.
const moveBelow = 4096

// reqResult is what a RequestParser made of some bytes.
type reqResult struct {
	n      int
	err    string
	args   []string // nil unless n > 0
	inline bool
	raw    string // Raw of all the arguments after the first, when Verbatim (not in equal)
}

func reqResultOf(p *RequestParser, n int, err error, buf []byte) reqResult {
	r := reqResult{n: n}
	if err != nil {
		r.err = err.Error()
		return r
	}
	if n > 0 {
		r.inline = p.Inline()
		r.args = []string{}
		for _, a := range p.Args(buf) {
			r.args = append(r.args, string(a))
		}
		if p.Verbatim() && len(r.args) > 1 {
			r.raw = string(p.Raw(buf, 1, len(r.args)))
		}
	}
	return r
}

func (r reqResult) equal(o reqResult) bool {
	if r.n != o.n || r.err != o.err || r.inline != o.inline || len(r.args) != len(o.args) || (r.args == nil) != (o.args == nil) {
		return false
	}
	for i := range r.args {
		if r.args[i] != o.args[i] {
			return false
		}
	}
	return true
}

// parseRequestAllWays parses data whole, byte by byte and in two pieces cut
// at cut, and fails t unless all agree; it returns the whole result.
func parseRequestAllWays(t testing.TB, data []byte, cut int) reqResult {
	t.Helper()
	var p RequestParser
	n, err := p.Parse(data)
	whole := reqResultOf(&p, n, err, data)
	if n > len(data) {
		t.Fatalf("%q: n = %d > len %d", testutil.Trunc(data), n, len(data))
	}
	if whole.raw != "" {
		// Verbatim bytes are exactly the arguments encoded.
		var enc []byte
		for _, a := range whole.args[1:] {
			enc = AppendBulkString(enc, a)
		}
		if whole.raw != string(enc) {
			t.Fatalf("%q: Raw %q, encoded arguments %q", testutil.Trunc(data), whole.raw, enc)
		}
	}
	// Parsing again without Reset repeats the result.
	if n2, err2 := p.Parse(data); n2 != n || err2 != err {
		t.Fatalf("%q: second Parse gave (%d, %v), first (%d, %v)", testutil.Trunc(data), n2, err2, n, err)
	}

	p.Reset()
	n, buf, err := testutil.FeedBytes(data, moveBelow, p.Parse)
	if bytewise := reqResultOf(&p, n, err, buf); !bytewise.equal(whole) || bytewise.raw != whole.raw {
		t.Fatalf("%q: byte by byte %+v, whole %+v", testutil.Trunc(data), bytewise, whole)
	}

	if len(data) > 0 {
		cut %= len(data) + 1
		p.Reset()
		n, buf, err = testutil.FeedTwo(data, cut, p.Parse)
		if two := reqResultOf(&p, n, err, buf); !two.equal(whole) || two.raw != whole.raw {
			t.Fatalf("%q cut at %d: %+v, whole %+v", testutil.Trunc(data), cut, two, whole)
		}
	}
	return whole
}

// parseReplyAllWays is parseRequestAllWays for a ReplyParser. Each way
// also records the element marks (MarkElems), which must agree, and match
// ArrayElems when there are any.
func parseReplyAllWays(t testing.TB, data []byte, cut int) (int, error) {
	t.Helper()
	var p ReplyParser
	p.MarkElems(nil)
	n, err := p.Parse(data)
	if n > len(data) {
		t.Fatalf("%q: n = %d > len %d", testutil.Trunc(data), n, len(data))
	}
	if n2, err2 := p.Parse(data); n2 != n || err2 != err {
		t.Fatalf("%q: second Parse gave (%d, %v), first (%d, %v)", testutil.Trunc(data), n2, err2, n, err)
	}
	if l, lerr := ReplyLen(data); l != n || lerr != err {
		t.Fatalf("%q: ReplyLen (%d, %v), Parse (%d, %v)", testutil.Trunc(data), l, lerr, n, err)
	}
	if ref := refReplyLen(data); max(ref, 0) != n || (ref < 0) != (err != nil) {
		t.Fatalf("%q: Parse (%d, %v), by recursion %d", testutil.Trunc(data), n, err, ref)
	}
	marks, ok := p.Elems()
	checkMarks(t, data[:n], marks, ok)
	marks = slices.Clone(marks)
	check := func(how string, n2 int, err2 error) {
		t.Helper()
		if n2 != n || err2 != err {
			t.Fatalf("%q %s: (%d, %v), whole (%d, %v)", testutil.Trunc(data), how, n2, err2, n, err)
		}
		if m2, ok2 := p.Elems(); ok2 != ok || !slices.Equal(m2, marks) {
			t.Fatalf("%q %s: marks %v %v, whole %v %v", testutil.Trunc(data), how, m2, ok2, marks, ok)
		}
	}
	p.Reset()
	p.MarkElems(nil)
	n2, _, err2 := testutil.FeedBytes(data, moveBelow, p.Parse)
	check("byte by byte", n2, err2)
	if len(data) > 0 {
		cut %= len(data) + 1
		p.Reset()
		p.MarkElems(make([]int32, 0, 1))
		n2, _, err2 = testutil.FeedTwo(data, cut, p.Parse)
		check("in two pieces", n2, err2)
	}
	return n, err
}

// refReplyLen frames the reply at the start of b the plain way, by
// recursion, as a check on ReplyParser: it returns the reply's length, 0
// when more bytes are needed, or -1 when b cannot start a reply.
func refReplyLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	typ := b[0]
	maxLine := maxNumLine
	switch typ {
	case '+', '-', '(':
		maxLine = maxBulkLen
	case ',':
		maxLine = maxDoubleLine
	case ':', '$', '*', '_', '#', '!', '=', '%', '~', '>', '|':
	default:
		return -1
	}
	cr := bytes.IndexByte(b[1:min(len(b), maxLine+2)], '\r') + 1
	switch {
	case cr == 0 && len(b) > maxLine+1:
		return -1
	case cr == 0 || cr+1 == len(b):
		return 0
	case b[cr+1] != '\n':
		return -1
	}
	line, n := b[1:cr], cr+2
	v, isInt := parseInt(line)
	valid := true
	switch typ {
	case ':':
		valid = isInt
	case '_':
		valid = len(line) == 0
	case '#':
		valid = string(line) == "t" || string(line) == "f"
	case ',':
		valid = doubleText.Match(line)
	case '(':
		valid = bigNumText.Match(line)
	case '$', '!', '=':
		switch {
		case !isInt || v < -1 || v > maxBulkLen || v == -1 && typ != '$' || typ == '=' && v < 4:
			return -1
		case v == -1:
			return n
		case len(b) < n+int(v)+2:
			return 0
		}
		end := n + int(v)
		valid = b[end] == '\r' && b[end+1] == '\n' && (typ != '=' || b[n+3] == ':')
		n = end + 2
	case '*', '%', '~', '>', '|':
		if !isInt || v < -1 || v > math.MaxInt32 || v == -1 && typ != '*' {
			return -1
		}
		switch typ {
		case '%':
			v *= 2
		case '|':
			v = 2*v + 1 // the pairs, then the value they describe
		}
		for range v {
			l := refReplyLen(b[n:])
			if l <= 0 {
				return l
			}
			n += l
		}
	}
	if !valid {
		return -1
	}
	return n
}

var (
	doubleText = regexp.MustCompile(`^[-+]?(inf|nan|[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$`)
	bigNumText = regexp.MustCompile(`^[-+]?[0-9]+$`)
)

// checkMarks fails t unless marks (ok) are what ArrayElems makes of reply,
// an array of elements that are neither aggregates nor attributed; any
// other reply has no marks.
func checkMarks(t testing.TB, reply []byte, marks []int32, ok bool) {
	t.Helper()
	elems, err := ArrayElems(reply, nil)
	flat := err == nil && len(elems) > 0
	for _, e := range elems {
		flat = flat && strings.IndexByte("*%~>|", e[0]) < 0
	}
	if ok != flat || !ok && len(marks) != 0 {
		t.Fatalf("%q: marks %v %v; ArrayElems %d elements, %v", testutil.Trunc(reply), marks, ok, len(elems), err)
	}
	if !ok {
		return
	}
	if len(marks) != len(elems)+1 || int(marks[len(elems)]) != len(reply) {
		t.Fatalf("%q: marks %v for %d elements", testutil.Trunc(reply), marks, len(elems))
	}
	for i, e := range elems {
		if got := reply[marks[i]:marks[i+1]]; string(got) != string(e) {
			t.Fatalf("%q: element %d marked %q, ArrayElems %q", testutil.Trunc(reply), i, got, e)
		}
	}
}

// parsedClient returns a new client of a pool with settings s that has
// just parsed the request args, and the request's frame.
func parsedClient(t testing.TB, s *proto.Settings, args ...string) (proto.Client, []byte) {
	t.Helper()
	c := Protocol{}.NewClient(s)
	frame := AppendArrayHeader(nil, len(args))
	for _, a := range args {
		frame = AppendBulkString(frame, a)
	}
	if n, err := c.Parse(frame); n != len(frame) || err != nil {
		t.Fatalf("Parse(%q) = %d, %v", frame, n, err)
	}
	return c, frame
}
