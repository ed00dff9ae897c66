package mc

import (
	"errors"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
	"slices"
	"testing"
)

// moveBelow: the buffer fed byte by byte moves on every append while shorter.
const moveBelow = 128

// reqResult is what a RequestParser made of some bytes.
type reqResult struct {
	n       int
	err     Error // zero unless refused
	cmd     string
	keys    []string // nil unless n > 0
	args    []string
	noreply bool
	base64  bool
}

func reqResultOf(t testing.TB, p *RequestParser, n int, err error, buf []byte) reqResult {
	t.Helper()
	r := reqResult{n: n}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not an *Error", err)
		}
		r.err = *e
		return r
	}
	if n == 0 {
		return r
	}
	r.cmd = p.Command().Name
	r.noreply, r.base64 = p.NoReply(), p.KeyIsBase64()
	r.keys = []string{}
	for _, k := range p.Keys(buf) {
		if cap(k) != len(k) {
			t.Fatalf("key %q not clipped", k)
		}
		r.keys = append(r.keys, string(k))
	}
	for i := range p.NArgs() {
		r.args = append(r.args, string(p.Arg(buf, i)))
	}
	return r
}

func (r reqResult) equal(o reqResult) bool {
	return r.n == o.n && r.err == o.err && r.cmd == o.cmd && r.noreply == o.noreply && r.base64 == o.base64 &&
		(r.keys == nil) == (o.keys == nil) && slices.Equal(r.keys, o.keys) && slices.Equal(r.args, o.args)
}

// parseRequestAllWays parses data whole, byte by byte and in two pieces cut
// at cut, and fails t unless all agree; it returns the whole result.
func parseRequestAllWays(t testing.TB, data []byte, cut int) reqResult {
	t.Helper()
	var p RequestParser
	n, err := p.Parse(data)
	whole := reqResultOf(t, &p, n, err, data)
	if n > len(data) || whole.err.Len > len(data) {
		t.Fatalf("%q: n = %d, Len = %d, len %d", testutil.Trunc(data), n, whole.err.Len, len(data))
	}
	if err != nil && !whole.err.Fatal && whole.err.Len == 0 {
		t.Fatalf("%q: non-fatal error %v with Len 0", testutil.Trunc(data), err)
	}
	// Parsing again without Reset repeats the result.
	if n2, err2 := p.Parse(data); n2 != n || err2 != err {
		t.Fatalf("%q: second Parse gave (%d, %v), first (%d, %v)", testutil.Trunc(data), n2, err2, n, err)
	}

	p.Reset()
	n, buf, err := testutil.FeedBytes(data, moveBelow, p.Parse)
	if bytewise := reqResultOf(t, &p, n, err, buf); !bytewise.equal(whole) {
		t.Fatalf("%q: byte by byte %+v, whole %+v", testutil.Trunc(data), bytewise, whole)
	}

	if len(data) > 0 {
		cut %= len(data) + 1
		p.Reset()
		n, buf, err = testutil.FeedTwo(data, cut, p.Parse)
		if two := reqResultOf(t, &p, n, err, buf); !two.equal(whole) {
			t.Fatalf("%q cut at %d: %+v, whole %+v", testutil.Trunc(data), cut, two, whole)
		}
	}
	return whole
}

// parseReplyAllWays is parseRequestAllWays for a ReplyParser.
func parseReplyAllWays(t testing.TB, k Kind, data []byte, cut int) (int, error) {
	t.Helper()
	var p ReplyParser
	parse := func(b []byte) (int, error) { return p.Parse(k, b) }
	n, err := parse(data)
	if n > len(data) {
		t.Fatalf("%q: n = %d > len %d", testutil.Trunc(data), n, len(data))
	}
	if n2, err2 := parse(data); n2 != n || err2 != err {
		t.Fatalf("%q: second Parse gave (%d, %v), first (%d, %v)", testutil.Trunc(data), n2, err2, n, err)
	}
	check := func(how string, n2 int, err2 error) {
		t.Helper()
		if n2 != n || err2 != err {
			t.Fatalf("kind %d %q %s: (%d, %v), whole (%d, %v)", k, testutil.Trunc(data), how, n2, err2, n, err)
		}
	}
	p.Reset()
	n2, _, err2 := testutil.FeedBytes(data, moveBelow, parse)
	check("byte by byte", n2, err2)
	if len(data) > 0 {
		cut %= len(data) + 1
		p.Reset()
		n2, _, err2 = testutil.FeedTwo(data, cut, parse)
		check("in two pieces", n2, err2)
	}
	return n, err
}
