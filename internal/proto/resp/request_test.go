package resp

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

type reqCase struct {
	name   string
	in     string   // the frame, or the bytes that fail or are not enough
	rest   string   // bytes after the frame: the next request
	args   []string // the request's arguments; nil when incomplete or an error
	inline bool
	err    string
	// notRedis says why Redis 7.0 may frame the bytes differently, so the
	// case is not compared with a live server.
	notRedis string
}

func (c reqCase) want() reqResult {
	if c.err != "" || c.args == nil {
		return reqResult{err: c.err}
	}
	return reqResult{n: len(c.in), args: c.args, inline: c.inline}
}

const (
	limitArgs   = "Redis 7.0 accepts up to 2^31-1 arguments"
	limitTiming = "Redis checks the 64 KB line limit only when a read ends without a line end, so a longer line arriving in one read passes"
)

var (
	none  = []string{} // an empty request
	big   = strings.Repeat("1", maxLineSize)
	pings = "*1\r\n$4\r\nPING\r\n"
)

var reqCases = []reqCase{
	// multibulk, good
	{name: "ping", in: pings, args: []string{"PING"}},
	{name: "get", in: "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", args: []string{"GET", "key"}},
	{name: "empty arg", in: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", args: []string{"SET", "k", ""}},
	{name: "crlf in bulk", in: "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", args: []string{"ECHO", "a\r\nb"}},
	{name: "nul in bulk", in: "*2\r\n$4\r\nECHO\r\n$3\r\na\x00b\r\n", args: []string{"ECHO", "a\x00b"}},
	{name: "lowercase", in: "*2\r\n$4\r\necho\r\n$1\r\nx\r\n", args: []string{"echo", "x"}},
	{name: "pipelined", in: pings, rest: pings + pings, args: []string{"PING"}},
	{name: "count 0", in: "*0\r\n", rest: pings, args: none},
	{name: "count -1", in: "*-1\r\n", rest: pings, args: none},
	{name: "count -5", in: "*-5\r\n", rest: pings, args: none},
	{name: "any byte after header cr", in: "*1\rX$4\r\nPING\r\n", args: []string{"PING"}},
	{name: "any byte after bulk header cr", in: "*1\r\n$4\rXPING\r\n", args: []string{"PING"}},
	{name: "any two bytes after bulk", in: "*1\r\n$4\r\nPINGxx", rest: pings, args: []string{"PING"}},

	// multibulk, incomplete
	{name: "partial bulk", in: "*1\r\n$4\r\nPI"},
	{name: "bulk without its crlf", in: "*1\r\n$4\r\nPING"},
	{name: "header without lf", in: "*1\r"},
	{name: "bulk header without lf", in: "*1\r\n$4\r"},
	{name: "max count", in: "*1048576\r\n"},
	{name: "max bulk", in: "*1\r\n$536870912\r\n"},
	{name: "max count and bulk", in: "*1048576\r\n$536870912\r\nabc"},
	{name: "count line just under 64 KB", in: "*" + big[:maxLineSize-1]},
	{name: "bulk line at 64 KB", in: "*1\r\n" + "$" + big[:maxLineSize-1]},
	{name: "nul in header", in: "*1\x00\r\n$4\r\nPING\r\n"},
	{name: "nul in bulk header", in: "*1\r\n$4\x00\r\nPING\r\n"},

	// multibulk, bad
	{name: "count not a number", in: "*x\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count empty", in: "*\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count leading zero", in: "*01\r\n" + pings[3:], err: "Protocol error: invalid multibulk length"},
	{name: "count plus", in: "*+1\r\n" + pings[3:], err: "Protocol error: invalid multibulk length"},
	{name: "count -0", in: "*-0\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count space", in: "*1 \r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count over int64", in: "*9223372036854775808\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count 21 digits", in: "*100000000000000000000\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count over 1M", in: "*1048577\r\n", err: "Protocol error: invalid multibulk length", notRedis: limitArgs},
	{name: "count 2e9", in: "*2000000000\r\n", err: "Protocol error: invalid multibulk length", notRedis: limitArgs},
	{name: "count over int32", in: "*2147483648\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count line cr at 64 KB", in: "*" + big[:maxLineSize-1] + "\r\n", err: "Protocol error: invalid multibulk length"},
	{name: "count line too big", in: "*" + big, err: "Protocol error: too big mbulk count string"},
	{name: "count line cr past 64 KB", in: "*" + big + "\r\n", err: "Protocol error: too big mbulk count string", notRedis: limitTiming},
	{name: "count line nul", in: "*1\x00\r\n" + big, err: "Protocol error: too big mbulk count string"},
	{name: "not dollar", in: "*1\r\nx\r\n", err: "Protocol error: expected '$', got 'x'"},
	{name: "high byte for bulk", in: "*1\r\n\xff\r\n", err: "Protocol error: expected '$', got '\xff'"},
	{name: "integer for bulk", in: "*2\r\n$3\r\nGET\r\n:1\r\n", err: "Protocol error: expected '$', got ':'"},
	{name: "empty bulk header", in: "*1\r\n\r\n", err: "Protocol error: expected '$', got ' '"},
	{name: "lf bulk header", in: "*1\r\n\n\r\n", err: "Protocol error: expected '$', got ' '"},
	{name: "too few bulks", in: "*2\r\n$4\r\nECHO\r\n*1\r\n", err: "Protocol error: expected '$', got '*'"},
	{name: "bulk len empty", in: "*1\r\n$\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk len -1", in: "*1\r\n$-1\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk len -0", in: "*1\r\n$-0\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk len leading zero", in: "*1\r\n$04\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk len junk", in: "*1\r\n$4x\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk len over 512 MB", in: "*1\r\n$536870913\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk len 999999999", in: "*1\r\n$999999999\r\n", err: "Protocol error: invalid bulk length"},
	{name: "bulk line too big", in: "*1\r\n" + "$" + big, err: "Protocol error: too big bulk count string"},
	{name: "bulk line no dollar at 64 KB", in: "*1\r\n" + big + "\r\n", err: "Protocol error: expected '$', got '1'"},
	{name: "bulk line nul", in: "*1\r\n$4\x00" + big, err: "Protocol error: too big bulk count string"},

	// inline, good
	{name: "inline", in: "PING\r\n", args: []string{"PING"}, inline: true},
	{name: "inline lf", in: "PING\n", args: []string{"PING"}, inline: true},
	{name: "inline pipelined", in: "PING\r\n", rest: "PING\r\n", args: []string{"PING"}, inline: true},
	{name: "inline then multibulk", in: "PING\r\n", rest: pings, args: []string{"PING"}, inline: true},
	{name: "inline empty", in: "\r\n", rest: pings, args: none, inline: true},
	{name: "inline empty lf", in: "\n", rest: pings, args: none, inline: true},
	{name: "inline blanks", in: " \t \r\n", rest: pings, args: none, inline: true},
	{name: "inline spaces", in: "  ECHO \t x  \r\n", args: []string{"ECHO", "x"}, inline: true},
	{name: "inline cr inside", in: "ECHO a\rb\r\n", args: []string{"ECHO", "a", "b"}, inline: true},
	{name: "inline two cr", in: "ECHO a\r\r\n", args: []string{"ECHO", "a"}, inline: true},
	{name: "inline vt ff", in: "\vECHO\fa\r\n", args: []string{"ECHO\fa"}, inline: true},
	{name: "inline vt inside", in: "ECHO a\vb\r\n", args: []string{"ECHO", "a\vb"}, inline: true},
	{name: "inline double quotes", in: "ECHO \"a b\"\r\n", args: []string{"ECHO", "a b"}, inline: true},
	{name: "inline escapes", in: `ECHO "a\x41\n\r\t\b\a\\\"\q\x4g\xfF"` + "\r\n", args: []string{"ECHO", "aA\n\r\t\b\a\\\"qx4g\xff"}, inline: true},
	{name: "inline single quotes", in: `ECHO 'a\'b\n"'` + "\r\n", args: []string{"ECHO", `a'b\n"`}, inline: true},
	{name: "inline quote mid token", in: "ECHO ab\"c d\"\r\n", args: []string{"ECHO", "abc d"}, inline: true},
	{name: "inline empty quotes", in: "ECHO \"\"\r\n", args: []string{"ECHO", ""}, inline: true},
	{name: "inline empty single quotes", in: "ECHO ''\r\n", args: []string{"ECHO", ""}, inline: true},
	{name: "inline quote then vt", in: "ECHO \"a\"\vx\r\n", args: []string{"ECHO", "a", "x"}, inline: true},
	{name: "inline quotes at end", in: "ECHO \"a\"\r\n", args: []string{"ECHO", "a"}, inline: true},
	{name: "inline mixed", in: "SET \"k 1\" v 'w'\n", args: []string{"SET", "k 1", "v", "w"}, inline: true},
	{name: "inline line of 64 KB", in: "ECHO " + big[:maxLineSize-5] + "\n", args: []string{"ECHO", big[:maxLineSize-5]}, inline: true},
	{name: "inline line of 64 KB with cr", in: "ECHO " + big[:maxLineSize-6] + "\r\n", args: []string{"ECHO", big[:maxLineSize-6]}, inline: true},

	// inline, incomplete
	{name: "inline partial", in: "PIN"},
	{name: "inline cr only", in: "PING\r"},
	{name: "inline nul", in: "PING\x00\r\n" + pings},
	{name: "inline 64 KB", in: big},

	// inline, bad
	{name: "inline unterminated", in: "ECHO \"abc\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "inline unterminated single", in: "ECHO 'abc\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "inline text after quote", in: "ECHO \"a\"b\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "inline text after single quote", in: "ECHO 'a'b\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "inline escaped last quote", in: "ECHO \"a\\\"\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "inline backslash at end", in: "ECHO \"a\\\r\n", err: "Protocol error: unbalanced quotes in request"},
	{name: "inline too big", in: big + "1", err: "Protocol error: too big inline request"},
	{name: "inline lf past 64 KB", in: big + "1\n", err: "Protocol error: too big inline request", notRedis: limitTiming},
	{name: "inline cr lf past 64 KB", in: big + "\r\n", err: "Protocol error: too big inline request", notRedis: limitTiming},
	{name: "inline nul too big", in: "PING\x00\r\n" + big, err: "Protocol error: too big inline request"},
}

func TestRequestParser(t *testing.T) {
	for _, c := range reqCases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.in + c.rest)
			got := parseRequestAllWays(t, data, len(c.in)/2)
			if want := c.want(); !got.equal(want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", testutil.Trunc(data), got, want)
			}
			// Split at every offset, not just the middle.
			if len(data) < 200 {
				for cut := range len(data) {
					parseRequestAllWays(t, data, cut)
				}
			}
		})
	}
}

// TestRequestParserPipeline parses every table frame back to back through
// one parser, the way a connection does.
func TestRequestParserPipeline(t *testing.T) {
	var stream []byte
	var want [][]string
	for _, c := range reqCases {
		if c.err == "" && c.args != nil {
			stream = append(stream, c.in...)
			want = append(want, c.args)
		}
	}
	var p RequestParser
	buf := stream
	for i, w := range want {
		n, err := p.Parse(buf)
		if n == 0 || err != nil {
			t.Fatalf("request %d: (%d, %v)", i, n, err)
		}
		got := p.Args(buf)
		if len(got) != len(w) {
			t.Fatalf("request %d: %q, want %q", i, got, w)
		}
		for j := range w {
			if string(got[j]) != w[j] {
				t.Fatalf("request %d: %q, want %q", i, got, w)
			}
		}
		buf = buf[n:]
		p.Reset()
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left", len(buf))
	}
}

func TestArgsClipped(t *testing.T) {
	var p RequestParser
	buf := []byte("*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n")
	if n, err := p.Parse(buf); n != len(buf) || err != nil {
		t.Fatalf("Parse = (%d, %v)", n, err)
	}
	args := p.Args(buf)
	_ = append(args[0], "XYZ"...)
	if string(buf) != "*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n" {
		t.Fatalf("appending to an argument wrote into the frame: %q", buf)
	}
	p.Reset()
	if p.Args(buf) != nil {
		t.Fatal("Args after Reset is not nil")
	}
}

// TestRequestMatchesRedis sends every table frame to a real Redis 7 and
// checks that Redis frames it the same: the same error reply, or the reply
// to the arguments the parser found.
func TestRequestMatchesRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	srv := testutil.StartRedis(t)
	for _, c := range reqCases {
		if c.notRedis != "" || (c.err == "" && c.args == nil) {
			continue
		}
		var send, want string
		switch {
		case c.err != "":
			send, want = c.in, "-ERR "+c.err+"\r\n"
		case len(c.args) == 0:
			send, want = c.in+"PING\r\n", "+PONG\r\n"
		case c.args[0] == "PING" && len(c.args) == 1:
			send, want = c.in, "+PONG\r\n"
		case c.args[0] == "ECHO" && len(c.args) == 2:
			send, want = c.in, string(AppendBulkString(nil, c.args[1]))
		case c.args[0] == "ECHO":
			send, want = c.in, "-ERR wrong number of arguments for 'echo' command\r\n"
		default:
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			cl := testutil.Dial(t, srv.Addr)
			cl.Send(send)
			if got := cl.Reply(); got != want {
				t.Fatalf("redis replied %q, want %q", testutil.Trunc([]byte(got)), testutil.Trunc([]byte(want)))
			}
			if c.err != "" && !cl.Closed(5*time.Second) {
				t.Fatal("redis did not close the connection")
			}
		})
	}
}

// TestNoAllocFromWireLength checks that lengths read off the wire reserve
// nothing: only bytes that arrived cost memory.
func TestNoAllocFromWireLength(t *testing.T) {
	frames := []string{
		"*1\r\n$999999999\r\n",
		"*2000000000\r\n",
		"*1048576\r\n",
		"*1\r\n$536870912\r\n",
		"*1048576\r\n$536870912\r\nabc",
	}
	for _, f := range frames {
		buf := []byte(f)
		var p RequestParser
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 100 {
			p.Reset()
			p.Parse(buf)
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d >= 1024 {
			t.Errorf("%q: parsing 100 times allocated %d bytes", f, d)
		}
		if a := testing.AllocsPerRun(100, func() { p.Reset(); p.Parse(buf) }); a != 0 {
			t.Errorf("%q: %v allocations per parse", f, a)
		}
	}
	for _, f := range []string{
		"$536870912\r\n", "*2147483647\r\n", "*2147483647\r\n*2147483647\r\n$536870912\r\n",
		"%2147483647\r\n|2147483647\r\n~2147483647\r\n>2147483647\r\n!536870912\r\n", "=536870912\r\n",
	} {
		buf := []byte(f)
		var p ReplyParser
		if a := testing.AllocsPerRun(100, func() { p.Reset(); p.Parse(buf) }); a != 0 {
			t.Errorf("reply %q: %v allocations per parse", f, a)
		}
	}
}

func mgetFrame(keys int) []byte {
	b := AppendArrayHeader(nil, keys+1)
	b = AppendBulkString(b, "MGET")
	for i := range keys {
		b = AppendBulkString(b, "key:"+strconv.Itoa(i))
	}
	return b
}

func setFrame(valueLen int) []byte {
	b := AppendArrayHeader(nil, 3)
	b = AppendBulkString(b, "SET")
	b = AppendBulkString(b, "key:1")
	return AppendBulk(b, bytes.Repeat([]byte{'v'}, valueLen))
}

func TestNoAllocAfterWarmUp(t *testing.T) {
	frames := map[string][]byte{
		"get":    []byte("*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n"),
		"set":    setFrame(100),
		"mget":   mgetFrame(100),
		"inline": []byte("SET \"a key\" 'v\\'x' plain\r\n"),
	}
	for name, buf := range frames {
		var p RequestParser
		a := testing.AllocsPerRun(100, func() {
			p.Reset()
			if n, err := p.Parse(buf); n != len(buf) || err != nil {
				t.Fatalf("%s: Parse = (%d, %v)", name, n, err)
			}
			p.Args(buf)
		})
		if a != 0 {
			t.Errorf("%s: %v allocations per request", name, a)
		}
	}
}

// BenchmarkParseByteByByte: see testutil.BenchByteByByte (4x the bytes
// should take about 4x the time).
func BenchmarkParseByteByByte(b *testing.B) {
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"mget-5000", mgetFrame(5000)},
		{"mget-20000", mgetFrame(20000)},
		{"set-256KB", setFrame(1 << 18)},
		{"set-1MB", setFrame(1 << 20)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			testutil.BenchByteByByte(b, tc.frame, func() func([]byte) (int, error) {
				var p RequestParser
				return p.Parse
			})
		})
	}
}

func TestExpectedDollarError(t *testing.T) {
	for c, want := range map[byte]string{'x': "'x'", '\r': "' '", '\n': "' '", ':': "':'", 0xff: "'\xff'"} {
		if got := expectedDollarError(c).Error(); got != fmt.Sprintf("Protocol error: expected '$', got %s", want) {
			t.Errorf("%q: %q", c, got)
		}
	}
}

// TestBigRequestTables parses requests with more arguments than a parser
// keeps tables for, one after another on one parser and on two: tables
// recycled between them never leak an argument of an earlier request.
func TestBigRequestTables(t *testing.T) {
	var p, q RequestParser
	for i, n := range []int{5000, 3000, 6000, 1500, 5000} {
		args := []string{"MGET"}
		for k := range n {
			args = append(args, fmt.Sprintf("key:%d:%d", i, k))
		}
		frame := []byte(testutil.EncodeCmd(args...))
		for _, parser := range []*RequestParser{&p, &q} {
			if got, err := parser.Parse(frame); got != len(frame) || err != nil {
				t.Fatalf("request %d: Parse = %d, %v", i, got, err)
			}
			got := parser.Args(frame)
			if len(got) != len(args) {
				t.Fatalf("request %d: %d args, want %d", i, len(got), len(args))
			}
			for k := range got {
				if string(got[k]) != args[k] {
					t.Fatalf("request %d: arg %d = %q, want %q", i, k, got[k], args[k])
				}
			}
			parser.Reset()
		}
	}
}

// TestBigTablesKeptAcrossCollections: a client sending 10,000-key MGETs
// one after another gets the tables of the one before back, whatever the
// collector did to the pools meanwhile; a table past maxSpareArgs is not
// kept aside.
func TestBigTablesKeptAcrossCollections(t *testing.T) {
	frame := mgetFrame(10000)
	var p RequestParser
	request := func() {
		if n, err := p.Parse(frame); n != len(frame) || err != nil {
			t.Fatalf("Parse = (%d, %v)", n, err)
		}
		if args := p.Args(frame); len(args) != 10001 {
			t.Fatalf("%d args", len(args))
		}
		p.Reset()
	}
	request()
	if a := testing.AllocsPerRun(5, func() {
		runtime.GC() // twice: a sync.Pool keeps what it holds through one
		runtime.GC()
		request()
	}); a != 0 {
		t.Errorf("%v allocations per request", a)
	}

	huge := mgetFrame(maxSpareArgs + 1)
	if n, err := p.Parse(huge); n != len(huge) || err != nil {
		t.Fatalf("Parse = (%d, %v)", n, err)
	}
	p.Args(huge)
	p.Reset()
	bigSpans.mu.Lock()
	defer bigSpans.mu.Unlock()
	if cap(bigSpans.spare) > maxSpareArgs {
		t.Errorf("a table of %d spans kept aside, past maxSpareArgs", cap(bigSpans.spare))
	}
}
