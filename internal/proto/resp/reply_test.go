package resp

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

type replyCase struct {
	in   string
	rest string // bytes after the reply
	err  error  // nil: a reply of len(in) bytes, unless more is set
	more bool   // incomplete
}

var replyCases = []replyCase{
	{in: "+OK\r\n"},
	{in: "+\r\n"},
	{in: "-ERR unknown command\r\n"},
	{in: ":0\r\n"},
	{in: ":-12\r\n", rest: "+OK\r\n"},
	{in: ":9223372036854775807\r\n"},
	{in: ":-9223372036854775808\r\n"},
	{in: "$3\r\nfoo\r\n"},
	{in: "$0\r\n\r\n"},
	{in: "$4\r\na\r\nb\r\n"},
	{in: "$-1\r\n", rest: "$-1\r\n"},
	{in: "*-1\r\n"},
	{in: "*0\r\n", rest: "*0\r\n"},
	{in: "*2\r\n$1\r\na\r\n$-1\r\n", rest: ":1\r\n"},
	{in: "*2\r\n*1\r\n:1\r\n*0\r\n"},
	{in: "*3\r\n*2\r\n+a\r\n-b\r\n:3\r\n$2\r\nxy\r\n"},
	{in: "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*-1\r\n"},
	{in: "*2\r\n*2\r\n*2\r\n:1\r\n:2\r\n*0\r\n$-1\r\n", rest: "*1\r\n"},

	{in: "+OK", more: true},
	{in: "+OK\r", more: true},
	{in: "$5\r\nab", more: true},
	{in: "$2\r\nab", more: true},
	{in: "$2\r\nab\r", more: true},
	{in: "*2\r\n:1\r\n", more: true},
	{in: "*2\r\n*1\r\n:1\r\n", more: true},
	{in: "*3\r\n", more: true},
	{in: "$536870912\r\n", more: true},
	{in: "*2147483647\r\n*2147483647\r\n", more: true},
	{in: ":" + strings.Repeat("1", maxNumLine), more: true},
	{in: "+" + strings.Repeat("x", 100000), more: true},

	{in: "x\r\n", err: errReplyType},
	{in: "\r\n", err: errReplyType},
	{in: "*1\r\nx", err: errReplyType},
	{in: "*2\r\n:1\r\n\r\n", err: errReplyType},
	{in: "+OK\rX", err: errReplyCRLF},
	{in: "$3\r\nfooXY", err: errReplyCRLF},
	{in: "$3\r\nfoo\rX", err: errReplyCRLF},
	{in: "$3\rX", err: errReplyCRLF},
	{in: ":abc\r\n", err: errReplyInt},
	{in: ":\r\n", err: errReplyInt},
	{in: ":01\r\n", err: errReplyInt},
	{in: ":9223372036854775808\r\n", err: errReplyInt},
	{in: ":" + strings.Repeat("1", maxNumLine+1), err: errReplyLineTooBig},
	{in: "$" + strings.Repeat("1", maxNumLine+1) + "\r\n", err: errReplyLineTooBig},
	{in: "$-2\r\n", err: errReplyBulkLen},
	{in: "$\r\n", err: errReplyBulkLen},
	{in: "$536870913\r\n", err: errReplyBulkLen},
	{in: "*-2\r\n", err: errReplyArrayLen},
	{in: "*2147483648\r\n", err: errReplyArrayLen},
	{in: "*x\r\n", err: errReplyArrayLen},

	// RESP3, as Redis 7.0 sends it after HELLO 3 (DEBUG PROTOCOL, Lua, HGETALL...).
	{in: "_\r\n", rest: "_\r\n"},
	{in: "#t\r\n"},
	{in: "#f\r\n", rest: "#t\r\n"},
	{in: ",3.141\r\n"},
	{in: ",1.5\r\n", rest: ",1.5\r\n"},
	{in: ",-nan\r\n"},
	{in: ",nan\r\n"},
	{in: ",inf\r\n"},
	{in: ",-inf\r\n"},
	{in: ",1e+308\r\n"},
	{in: ",-1.2345678901234567e-308\r\n"},
	{in: ",0\r\n"},
	{in: ",+2.5E3\r\n"},
	{in: ",1" + strings.Repeat("0", maxDoubleLine-1) + "\r\n"},
	{in: "(1234567999999999999999999999999999999\r\n"},
	{in: "(-1\r\n"},
	{in: "(0\r\n", rest: ":0\r\n"},
	{in: "!21\r\nSYNTAX invalid syntax\r\n"},
	{in: "!0\r\n\r\n"},
	{in: "=29\r\ntxt:This is a verbatim\nstring\r\n"},
	{in: "=4\r\nmkd:\r\n", rest: "=4\r\ntxt:\r\n"},
	{in: "%0\r\n"},
	{in: "~0\r\n"},
	{in: ">0\r\n"},
	{in: "%1\r\n$1\r\na\r\n$1\r\n1\r\n"},
	{in: "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n", rest: "%0\r\n"},
	{in: "~3\r\n:0\r\n:1\r\n:2\r\n"},
	{in: ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", rest: "_\r\n"},
	{in: "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n"},
	{in: "|0\r\n:1\r\n", rest: ":2\r\n"},
	{in: "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n#t\r\n"},
	{in: "|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n_\r\n"},
	{in: "*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n_\r\n"},
	{in: "*3\r\n$1\r\na\r\n_\r\n$1\r\nb\r\n", rest: "_\r\n"},
	{in: "*4\r\n#t\r\n,1.5\r\n(12\r\n=5\r\ntxt:x\r\n"},
	{in: "*2\r\n!3\r\nERR\r\n_\r\n"},
	{in: "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n"},
	{in: "%1\r\n~1\r\n%1\r\n>1\r\n*1\r\n_\r\n,1.5\r\n#f\r\n", rest: "*1\r\n"},
	{in: "~2\r\n%1\r\n+a\r\n~0\r\n|1\r\n+x\r\n+y\r\n>1\r\n_\r\n"},

	{in: "_", more: true},
	{in: "_\r", more: true},
	{in: "#t", more: true},
	{in: ",3.14", more: true},
	{in: "(123\r", more: true},
	{in: "!3\r\nER", more: true},
	{in: "=29\r\ntxt:", more: true},
	{in: "=4\r\ntx", more: true},
	{in: "%1\r\n+a\r\n", more: true},
	{in: "~2\r\n_\r\n", more: true},
	{in: ">1\r\n", more: true},
	{in: "|1\r\n+a\r\n+b\r\n", more: true},
	{in: "|0\r\n|0\r\n", more: true},
	{in: "*1\r\n|1\r\n+a\r\n+b\r\n", more: true},
	{in: "%2147483647\r\n|2147483647\r\n~2147483647\r\n", more: true},
	{in: "!536870912\r\n", more: true},
	{in: "," + strings.Repeat("1", maxDoubleLine), more: true},
	{in: "(" + strings.Repeat("1", 100000), more: true},

	{in: "_x\r\n", err: errReplyNull},
	{in: "_ \r\n", err: errReplyNull},
	{in: "#\r\n", err: errReplyBool},
	{in: "#x\r\n", err: errReplyBool},
	{in: "#tt\r\n", err: errReplyBool},
	{in: "#T\r\n", err: errReplyBool},
	{in: "#t\rX", err: errReplyCRLF},
	{in: ",\r\n", err: errReplyDouble},
	{in: ",abc\r\n", err: errReplyDouble},
	{in: ",1.\r\n", err: errReplyDouble},
	{in: ",.5\r\n", err: errReplyDouble},
	{in: ",1e\r\n", err: errReplyDouble},
	{in: ",1e+\r\n", err: errReplyDouble},
	{in: ",1.5x\r\n", err: errReplyDouble},
	{in: ",--1\r\n", err: errReplyDouble},
	{in: ",-\r\n", err: errReplyDouble},
	{in: ",infinity\r\n", err: errReplyDouble},
	{in: ",0x1p3\r\n", err: errReplyDouble},
	{in: ",1 \r\n", err: errReplyDouble},
	{in: "," + strings.Repeat("1", maxDoubleLine+1), err: errReplyLineTooBig},
	{in: "(\r\n", err: errReplyBigNum},
	{in: "(-\r\n", err: errReplyBigNum},
	{in: "(1.5\r\n", err: errReplyBigNum},
	{in: "(12a\r\n", err: errReplyBigNum},
	{in: "!-1\r\n", err: errReplyBulkLen},
	{in: "=-1\r\n", err: errReplyBulkLen},
	{in: "!-2\r\n", err: errReplyBulkLen},
	{in: "!536870913\r\n", err: errReplyBulkLen},
	{in: "=x\r\n", err: errReplyBulkLen},
	{in: "=" + strings.Repeat("1", maxNumLine+1), err: errReplyLineTooBig},
	{in: "!3\r\nERRxy", err: errReplyCRLF},
	{in: "=3\r\ntxt\r\n", err: errReplyVerbatim},
	{in: "=0\r\n\r\n", err: errReplyVerbatim},
	{in: "=5\r\ntxtx:\r\n", err: errReplyVerbatim},
	{in: "%-1\r\n", err: errReplyArrayLen},
	{in: "~-1\r\n", err: errReplyArrayLen},
	{in: ">-1\r\n", err: errReplyArrayLen},
	{in: "|-1\r\n", err: errReplyArrayLen},
	{in: "%-2\r\n", err: errReplyArrayLen},
	{in: "%2147483648\r\n", err: errReplyArrayLen},
	{in: "|2147483648\r\n", err: errReplyArrayLen},
	{in: "~99999999999999999999\r\n", err: errReplyArrayLen},
	{in: "~999999999999999999999\r\n", err: errReplyLineTooBig},
	{in: "%1\r\n+a\r\n%x\r\n", err: errReplyArrayLen},
	{in: "$?\r\n", err: errReplyStreamed},
	{in: "*?\r\n", err: errReplyStreamed},
	{in: "%?\r\n", err: errReplyStreamed},
	{in: "~?\r\n", err: errReplyStreamed},
	{in: "*1\r\n$?\r\n;3\r\nabc\r\n;0\r\n", err: errReplyStreamed},
	{in: ";3\r\nabc\r\n", err: errReplyType},
	{in: ".\r\n", err: errReplyType},
	{in: "%1\r\n+a\r\n.\r\n", err: errReplyType},
}

func TestReplyParser(t *testing.T) {
	for _, c := range replyCases {
		data := []byte(c.in + c.rest)
		want := len(c.in)
		if c.err != nil || c.more {
			want = 0
		}
		n, err := parseReplyAllWays(t, data, len(c.in)/2)
		if n != want || err != c.err {
			t.Fatalf("Parse(%q) = (%d, %v), want (%d, %v)", testutil.Trunc(data), n, err, want, c.err)
		}
		// Split at every offset, not just the middle.
		if len(data) < 200 {
			for cut := range len(data) {
				parseReplyAllWays(t, data, cut)
			}
		}
	}
}

func TestReplyParserPipeline(t *testing.T) {
	var stream []byte
	var lens []int
	for _, c := range replyCases {
		if c.err == nil && !c.more {
			stream = append(stream, c.in...)
			lens = append(lens, len(c.in))
		}
	}
	var p ReplyParser
	buf := stream
	for i, l := range lens {
		if n, err := p.Parse(buf); n != l || err != nil {
			t.Fatalf("reply %d: (%d, %v), want %d", i, n, err, l)
		}
		buf = buf[l:]
		p.Reset()
	}
}

func TestArrayElems(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  error
	}{
		{in: "*0\r\n", want: []string{}},
		{in: "*2\r\n$1\r\na\r\n$-1\r\n", want: []string{"$1\r\na\r\n", "$-1\r\n"}},
		{in: "*3\r\n*2\r\n:1\r\n+x\r\n-e\r\n$0\r\n\r\n", want: []string{"*2\r\n:1\r\n+x\r\n", "-e\r\n", "$0\r\n\r\n"}},
		{in: "*3\r\n$1\r\na\r\n_\r\n$-1\r\n", want: []string{"$1\r\na\r\n", "_\r\n", "$-1\r\n"}},
		{in: "*3\r\n%1\r\n+k\r\n_\r\n|1\r\n+a\r\n+b\r\n#t\r\n,1.5\r\n", want: []string{"%1\r\n+k\r\n_\r\n", "|1\r\n+a\r\n+b\r\n#t\r\n", ",1.5\r\n"}},
		{in: "~1\r\n:1\r\n", err: errNotArray},
		{in: "_\r\n", err: errNotArray},
		{in: "*1\r\n#x\r\n", err: errReplyBool},
		{in: "*-1\r\n", err: errNotArray},
		{in: ":1\r\n", err: errNotArray},
		{in: "", err: errNotArray},
		{in: "*x\r\n", err: errNotArray},
		{in: "*1\rx", err: errNotArray},
		{in: "*1", err: errIncomplete},
		{in: "*1\r", err: errIncomplete},
		{in: "*2\r\n$1\r\na\r\n", err: errIncomplete},
		{in: "*1\r\n$1\r\na", err: errIncomplete},
		{in: "*1\r\n?\r\n", err: errReplyType},
		{in: "*1\r\n:1\r\n:2\r\n", err: errTrailing},
	} {
		dst := [][]byte{[]byte("keep")}
		got, err := ArrayElems([]byte(c.in), dst)
		if err != c.err {
			t.Errorf("ArrayElems(%q) error %v, want %v", c.in, err, c.err)
			continue
		}
		if err != nil {
			continue
		}
		if len(got) != len(c.want)+1 || string(got[0]) != "keep" {
			t.Errorf("ArrayElems(%q) = %q, want keep + %q", c.in, got, c.want)
			continue
		}
		for i, w := range c.want {
			if string(got[i+1]) != w {
				t.Errorf("ArrayElems(%q) = %q, want keep + %q", c.in, got, c.want)
			}
		}
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int64{
		":0\r\n": 0, ":12\r\n": 12, ":-3\r\n": -3,
		":9223372036854775807\r\n": 1<<63 - 1, ":-9223372036854775808\r\n": -1 << 63,
	} {
		if got, err := ParseInt([]byte(in)); got != want || err != nil {
			t.Errorf("ParseInt(%q) = (%d, %v), want %d", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", ":1", ":1\r", ":\r\n", "+1\r\n", "$1\r\n1\r\n", ":1\r\n:2\r\n", ":1 \r\n", ":01\r\n",
		":9223372036854775808\r\n", ":-9223372036854775809\r\n", ":1\n\r\n",
	} {
		if got, err := ParseInt([]byte(in)); err == nil {
			t.Errorf("ParseInt(%q) = %d, want an error", in, got)
		}
	}
}

// TestParseIntString2ll pins parseInt to the inputs Redis's string2ll
// accepts and rejects.
func TestParseIntString2ll(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1": 1, "9": 9, "-1": -1, "-9": -9, "10": 10, "32": 32, "99": 99, "100": 100, "536870912": 536870912,
		"9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63,
	} {
		if got, ok := parseInt([]byte(in)); !ok || got != want {
			t.Errorf("parseInt(%q) = (%d, %v), want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "-", "+", "a", "/", ":", "+1", "01", "09", "-0", "00", " 1", "1 ", "1a", "a1", "1:", "1/", "9223372036854775808",
		"-9223372036854775809", "18446744073709551616", "99999999999999999999", "100000000000000000000",
	} {
		if got, ok := parseInt([]byte(in)); ok {
			t.Errorf("parseInt(%q) = %d, want failure", in, got)
		}
	}
}

// TestBulkLen: the fast path of ArrayElems takes well-formed bulks and
// nulls only, and leaves everything else (0) to ReplyLen.
func TestBulkLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"$3\r\nfoo\r\n", 9},
		{"$3\r\nfoo\r\n$1\r\nx\r\n", 9},
		{"$0\r\n\r\n", 6},
		{"$-1\r\n", 5},
		{"$-1\r\n:1\r\n", 5},
		{"$03\r\nfoo\r\n", 0},
		{"$3\r\nfo", 0},
		{"$3\r\nfoox\r\n", 0},
		{"$-2\r\n", 0},
		{"$3\nfoo\r\n", 0},
		{":1\r\n", 0},
		{"$", 0},
		{"$99999999999999999999999\r\n", 0},
	} {
		if got := bulkLen([]byte(tc.in)); got != tc.want {
			t.Errorf("bulkLen(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestReplyParserDeepNesting frames a reply nested 100,000 deep in every
// kind of aggregate and attribute: the parser keeps no stack, so depth
// costs neither stack nor heap.
func TestReplyParserDeepNesting(t *testing.T) {
	const depth = 100000
	var b strings.Builder
	levels := []string{"*1\r\n", "~1\r\n", ">1\r\n", "%1\r\n_\r\n", "|1\r\n+k\r\n+v\r\n"}
	for i := range depth {
		b.WriteString(levels[i%len(levels)])
	}
	open := b.String()
	reply := []byte(open + ":1\r\n")
	if n, err := parseReplyAllWays(t, reply, len(reply)/2); n != len(reply) || err != nil {
		t.Fatalf("Parse = (%d, %v), want %d", n, err, len(reply))
	}
	if n, err := ReplyLen([]byte(open)); n != 0 || err != nil {
		t.Fatalf("without its innermost value: (%d, %v), want more bytes", n, err)
	}
	var p ReplyParser
	if a := testing.AllocsPerRun(10, func() { p.Reset(); p.Parse(reply) }); a != 0 {
		t.Fatalf("%v allocations per parse", a)
	}
}

// TestReplyParserTooManyDue: the count of elements still due stops at
// maxPending, where a map or attribute count would push it on towards
// overflow. Reaching it from the wire takes gigabytes of headers, so the
// parser is put there directly.
func TestReplyParserTooManyDue(t *testing.T) {
	for _, header := range []string{"%2147483647\r\n", "|2147483647\r\n", "*2147483647\r\n"} {
		p := ReplyParser{state: replyLine, pending: maxPending - 1<<30}
		if n, err := p.Parse([]byte(header)); n != 0 || err != errReplyTooMany {
			t.Errorf("%q: (%d, %v), want %v", header, n, err, errReplyTooMany)
		}
	}
	p := ReplyParser{state: replyLine, pending: maxPending - 1<<32}
	if n, err := p.Parse([]byte("%2147483647\r\n")); n != 0 || err != nil {
		t.Errorf("up to the bound: (%d, %v), want more bytes", n, err)
	}
}

// TestReplyMarksRESP3: an MGET reply from a RESP3 connection, whose nulls
// are "_", is marked like a RESP2 one; a map, set or push is not.
func TestReplyMarksRESP3(t *testing.T) {
	for in, want := range map[string][]int32{
		"*3\r\n$1\r\na\r\n_\r\n$2\r\nbc\r\n": {4, 11, 14, 22},
		"*2\r\n_\r\n_\r\n":                   {4, 7, 10},
		"%1\r\n$1\r\na\r\n_\r\n":             nil,
		"~2\r\n$1\r\na\r\n_\r\n":             nil,
		">2\r\n$1\r\na\r\n_\r\n":             nil,
		"|1\r\n+a\r\n+b\r\n*1\r\n_\r\n":      nil,
		"*2\r\n%0\r\n_\r\n":                  nil,
	} {
		var p ReplyParser
		p.MarkElems(nil)
		if n, err := p.Parse([]byte(in)); n != len(in) || err != nil {
			t.Fatalf("%q: (%d, %v)", in, n, err)
		}
		if marks, ok := p.Elems(); ok != (want != nil) || !slices.Equal(marks, want) {
			t.Errorf("%q: marks %v %v, want %v", in, marks, ok, want)
		}
	}
}

// TestReplyParserRedisRESP3 frames what a real Redis 7.0 sends after
// HELLO 3 for replies of every RESP3 type (DEBUG PROTOCOL sends each one,
// a push and an attribute among them; Lua and client tracking add NaN,
// infinities and an invalidation push): the replies, framed one after the
// other, must be exactly the bytes read, each as expected.
func TestReplyParserRedisRESP3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	srv := testutil.StartRedis(t, "--enable-debug-command", "yes")
	type step struct {
		cmd   []string
		reply []string // the frames it brings, in order
	}
	// Replies that vary, checked by what does not.
	const helloReply, nanReply = "HELLO's map", "NaN"
	steps := []step{
		{[]string{"HELLO", "3"}, []string{helloReply}},
		{[]string{"DEBUG", "PROTOCOL", "string"}, []string{"$11\r\nHello World\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "integer"}, []string{":12345\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "double"}, []string{",3.141\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "bignum"}, []string{"(1234567999999999999999999999999999999\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "null"}, []string{"_\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "array"}, []string{"*3\r\n:0\r\n:1\r\n:2\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "set"}, []string{"~3\r\n:0\r\n:1\r\n:2\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "map"}, []string{"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "attrib"}, []string{"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" +
			"$39\r\nSome real reply following the attribute\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "push"}, []string{">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n",
			"$40\r\nSome real reply following the push reply\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "verbatim"}, []string{"=29\r\ntxt:This is a verbatim\nstring\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "true"}, []string{"#t\r\n"}},
		{[]string{"DEBUG", "PROTOCOL", "false"}, []string{"#f\r\n"}},
		{[]string{"HSET", "h", "f", "v"}, []string{":1\r\n"}},
		{[]string{"HGETALL", "h"}, []string{"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"}},
		{[]string{"SADD", "s", "m"}, []string{":1\r\n"}},
		{[]string{"SMEMBERS", "s"}, []string{"~1\r\n$1\r\nm\r\n"}},
		{[]string{"ZADD", "z", "1.5", "m"}, []string{":1\r\n"}},
		{[]string{"ZSCORE", "z", "m"}, []string{",1.5\r\n"}},
		{[]string{"ZRANGE", "z", "0", "-1", "WITHSCORES"}, []string{"*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n"}},
		{[]string{"EXISTS", "h"}, []string{":1\r\n"}},
		{[]string{"MGET", "h", "nokey"}, []string{"*2\r\n_\r\n_\r\n"}},
		{[]string{"EVAL", "return {double=0/0}", "0"}, []string{nanReply}},
		{[]string{"EVAL", "return {double=-1/0}", "0"}, []string{",-inf\r\n"}},
		{[]string{"EVAL", "return {double=1e308}", "0"}, []string{",1e+308\r\n"}},
		{[]string{"EVAL", "return redis.error_reply('MY err')", "0"}, []string{"-MY err\r\n"}},
		{[]string{"LPOP", "nolist", "2"}, []string{"_\r\n"}},
		{[]string{"CLIENT", "TRACKING", "on"}, []string{"+OK\r\n"}},
		{[]string{"GET", "k"}, []string{"_\r\n"}},
		{[]string{"SET", "k", "v"}, []string{"+OK\r\n", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"}},
		{[]string{"ECHO", "end of the RESP3 replies"}, []string{"$24\r\nend of the RESP3 replies\r\n"}},
	}
	var send strings.Builder
	var want []string
	for _, s := range steps {
		send.WriteString(testutil.EncodeCmd(s.cmd...))
		want = append(want, s.reply...)
	}
	cl := testutil.Dial(t, srv.Addr)
	cl.Send(send.String())
	last := []byte(want[len(want)-1])
	var stream []byte
	cl.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !bytes.HasSuffix(stream, last) {
		chunk := make([]byte, 4096)
		n, err := cl.R.Read(chunk)
		if err != nil {
			t.Fatalf("read after %q: %v", stream, err)
		}
		stream = append(stream, chunk[:n]...)
	}

	var p ReplyParser
	rest := stream
	for i, w := range want {
		n, err := parseReplyAllWays(t, rest, i)
		if n == 0 || err != nil {
			t.Fatalf("frame %d of %q: (%d, %v)", i, rest, n, err)
		}
		got := string(rest[:n])
		switch w {
		case helloReply:
			if !strings.HasPrefix(got, "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n") {
				t.Fatalf("HELLO 3: %q", got)
			}
		case nanReply: // as the libc prints it
			if got != ",nan\r\n" && got != ",-nan\r\n" {
				t.Fatalf("frame %d: %q, want a NaN", i, got)
			}
		default:
			if got != w {
				t.Fatalf("frame %d: %q, want %q", i, got, w)
			}
		}
		p.Reset()
		if n2, err := p.Parse(rest); n2 != n || err != nil {
			t.Fatalf("frame %d: reused parser (%d, %v), want %d", i, n2, err, n)
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left after %d frames: %q", len(rest), len(want), rest)
	}
}
