package resp

import (
	"github.com/nutcracker-go/nutcracker/internal/testutil"
	"strings"
	"testing"
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
