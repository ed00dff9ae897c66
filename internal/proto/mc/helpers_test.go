package mc

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// mover is a growing buffer that moves to a new backing array before most
// appends (always while small, on growth when large) and poisons the old
// one, so a parser that kept a pointer into an old buffer is caught.
type mover struct{ buf []byte }

func (m *mover) add(b ...byte) []byte {
	if len(m.buf)+len(b) > cap(m.buf) || len(m.buf) < 128 {
		nb := make([]byte, len(m.buf), 2*(len(m.buf)+len(b))+1)
		copy(nb, m.buf)
		for i := range m.buf {
			m.buf[i] = 0xEE
		}
		m.buf = nb
	}
	m.buf = append(m.buf, b...)
	return m.buf
}

// feedBytes feeds data to parse one byte at a time, in a moving buffer,
// until it reports a frame or an error; it returns that result and the
// buffer it was given last.
func feedBytes(data []byte, parse func([]byte) (int, error)) (int, []byte, error) {
	var m mover
	for i := range data {
		buf := m.add(data[i])
		n, err := parse(buf)
		if n > 0 || err != nil {
			return n, buf, err
		}
	}
	return 0, m.buf, nil
}

// feedTwo feeds data[:cut] and then, unless that decided already, all of
// data in a fresh buffer.
func feedTwo(data []byte, cut int, parse func([]byte) (int, error)) (int, []byte, error) {
	first := bytes.Clone(data[:cut])
	if n, err := parse(first); n > 0 || err != nil {
		return n, first, err
	}
	for i := range first {
		first[i] = 0xEE
	}
	all := bytes.Clone(data)
	n, err := parse(all)
	return n, all, err
}

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
		t.Fatalf("%q: n = %d, Len = %d, len %d", trunc(data), n, whole.err.Len, len(data))
	}
	if err != nil && !whole.err.Fatal && whole.err.Len == 0 {
		t.Fatalf("%q: non-fatal error %v with Len 0", trunc(data), err)
	}
	// Parsing again without Reset repeats the result.
	if n2, err2 := p.Parse(data); n2 != n || err2 != err {
		t.Fatalf("%q: second Parse gave (%d, %v), first (%d, %v)", trunc(data), n2, err2, n, err)
	}

	p.Reset()
	n, buf, err := feedBytes(data, p.Parse)
	if bytewise := reqResultOf(t, &p, n, err, buf); !bytewise.equal(whole) {
		t.Fatalf("%q: byte by byte %+v, whole %+v", trunc(data), bytewise, whole)
	}

	if len(data) > 0 {
		cut %= len(data) + 1
		p.Reset()
		n, buf, err = feedTwo(data, cut, p.Parse)
		if two := reqResultOf(t, &p, n, err, buf); !two.equal(whole) {
			t.Fatalf("%q cut at %d: %+v, whole %+v", trunc(data), cut, two, whole)
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
		t.Fatalf("%q: n = %d > len %d", trunc(data), n, len(data))
	}
	if n2, err2 := parse(data); n2 != n || err2 != err {
		t.Fatalf("%q: second Parse gave (%d, %v), first (%d, %v)", trunc(data), n2, err2, n, err)
	}
	check := func(how string, n2 int, err2 error) {
		t.Helper()
		if n2 != n || err2 != err {
			t.Fatalf("kind %d %q %s: (%d, %v), whole (%d, %v)", k, trunc(data), how, n2, err2, n, err)
		}
	}
	p.Reset()
	n2, _, err2 := feedBytes(data, parse)
	check("byte by byte", n2, err2)
	if len(data) > 0 {
		cut %= len(data) + 1
		p.Reset()
		n2, _, err2 = feedTwo(data, cut, parse)
		check("in two pieces", n2, err2)
	}
	return n, err
}

func trunc(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
