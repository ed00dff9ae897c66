package mc

import (
	"bytes"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

type reqCase struct {
	name    string
	in      string   // the frame, the refused bytes (Len of them), or bytes that are not enough
	rest    string   // bytes after it: the next request
	keys    []string // the keys of a frame; nil when refused or incomplete
	noreply bool
	base64  bool
	err     string // memcached's reply to refused bytes, or what went wrong when it sends none
	silent  bool   // memcached sends no reply
	why     string // Error's text, when it is not err
	fatal   bool
	// notMemcached says why memcached 1.6.18 treats the bytes differently
	// (a deliberate difference, see the package doc), so the case is not
	// compared with a live server.
	notMemcached string
}

func (c reqCase) want() reqResult {
	if c.err != "" {
		e := Error{Reply: c.err, Fatal: c.fatal, Len: len(c.in), text: c.err}
		if c.why != "" {
			e.text = c.why
		}
		if c.silent {
			e.Reply = ""
		}
		if c.fatal {
			e.Len = 0
		}
		return reqResult{err: e}
	}
	if c.keys == nil {
		return reqResult{}
	}
	line, _, _ := strings.Cut(c.in, "\n")
	args := strings.FieldsFunc(strings.TrimSuffix(line, "\r"), func(r rune) bool { return r == ' ' })
	return reqResult{n: len(c.in), cmd: args[0], keys: c.keys, args: args, noreply: c.noreply, base64: c.base64}
}

const (
	tooLong       = "command line longer than 2048 bytes"
	diffControl   = "memcached takes control bytes in tokens"
	diffNumber    = "memcached 1.6.18 cuts <bytes> to 32 bits"
	diffTooLarge  = "memcached swallows a value too large and keeps the connection"
	diffTiming    = "memcached takes a line over 2048 bytes that arrives in one read"
	diffBase64    = "memcached's base64 decoder skips bad characters"
	diffRetrieval = "memcached grows its buffer for a get line without bound"
	diffStats     = "the proxy answers stats itself: its reply is not framed"
)

var (
	none   = []string{}
	k250   = strings.Repeat("k", 250)
	k251   = strings.Repeat("k", 251)
	x2048  = strings.Repeat("x", 2048)
	flags  = func(n int) string { return strings.TrimSpace(strings.Repeat(" x", n)) }
	keys   = func(n int) string { return strings.TrimSpace(strings.Repeat(" key", n)) }
	getBig = "get " + keys(600) // 2403 bytes
)

var reqCases = []reqCase{
	// storage, good
	{name: "set", in: "set k 0 0 1\r\nx\r\n", keys: []string{"k"}},
	{name: "set empty", in: "set k 0 0 0\r\n\r\n", rest: "get k\r\n", keys: []string{"k"}},
	{name: "set noreply", in: "set k 0 0 5 noreply\r\nhello\r\n", keys: []string{"k"}, noreply: true},
	{name: "set any sixth token", in: "set k 0 0 5 junk\r\nhello\r\n", keys: []string{"k"}},
	{name: "add", in: "add k 1 2 3\r\nabc\r\n", keys: []string{"k"}},
	{name: "replace", in: "replace k 1 2 3\r\nabc\r\n", keys: []string{"k"}},
	{name: "append", in: "append k 0 0 1\r\nx\r\n", keys: []string{"k"}},
	{name: "prepend", in: "prepend k 0 0 1 noreply\r\nx\r\n", keys: []string{"k"}, noreply: true},
	{name: "set number edges", in: "set k 4294967295 -2147483648 2\r\nab\r\n", keys: []string{"k"}},
	{name: "set flags over 32 bits", in: "set k 18446744073709551615 9223372036854775807 1\r\nx\r\n", keys: []string{"k"}},
	{name: "set plus signs", in: "set k +1 +0 +1\r\nx\r\n", keys: []string{"k"}},
	{name: "set leading zeros", in: "set k 01 00 01\r\nx\r\n", keys: []string{"k"}},
	{name: "set bytes -0", in: "set k 0 0 -0\r\n\r\n", keys: []string{"k"}},
	{name: "set crlf in data", in: "set k 0 0 4\r\na\r\nb\r\n", keys: []string{"k"}},
	{name: "set spaces", in: "  set   k  0 0 1  \r\nx\r\n", keys: []string{"k"}},
	{name: "set lf", in: "set k 0 0 1\nx\r\n", keys: []string{"k"}},
	{name: "set key 250", in: "set " + k250 + " 0 0 1\r\nx\r\n", keys: []string{k250}},
	{name: "set high bytes", in: "set k\xc3\xa9\xff 0 0 1\r\nx\r\n", keys: []string{"k\xc3\xa9\xff"}},
	{name: "cas", in: "cas k 0 0 1 123\r\nx\r\n", keys: []string{"k"}},
	{name: "cas noreply", in: "cas k 0 0 1 18446744073709551615 noreply\r\nx\r\n", keys: []string{"k"}, noreply: true},

	// storage, incomplete
	{name: "empty", in: ""},
	{name: "set no line end", in: "set k 0 0 1"},
	{name: "set cr", in: "set k 0 0 1\r"},
	{name: "set partial data", in: "set k 0 0 3\r\nab"},
	{name: "set data no crlf", in: "set k 0 0 1\r\nx"},
	{name: "set data cr", in: "set k 0 0 1\r\nx\r"},
	{name: "set max value", in: "set k 0 0 1048576\r\nabc"},
	{name: "control waits for data", in: "set k\x01 0 0 2\r\nx"},

	// storage, refused
	{name: "set too few tokens", in: "set k 0 0\r\n", rest: "x\r\n", err: "ERROR"},
	{name: "set too many tokens", in: "set k 0 0 1 noreply x\r\n", rest: "x\r\n", err: "ERROR"},
	{name: "cas too few tokens", in: "cas k 0 0 1\r\n", rest: "x\r\n", err: "ERROR"},
	{name: "set key 251", in: "set " + k251 + " 0 0 1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set bad flags", in: "set k abc 0 1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set negative flags", in: "set k -1 0 1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set flags over 64 bits", in: "set k 18446744073709551616 0 1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set bad exptime", in: "set k 0 1x 1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set bad bytes", in: "set k 0 0 abc\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set negative bytes", in: "set k 0 0 -1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set bytes int max", in: "set k 0 0 2147483647\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set bytes int max - 1", in: "set k 0 0 2147483646\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "set bytes 2^32+1", in: "set k 0 0 4294967297\r\n", rest: "x\r\n", err: replyBadFormat, notMemcached: diffNumber},
	{name: "set bad bytes noreply", in: "set k 0 0 abc noreply\r\n", rest: "x\r\n", err: replyBadFormat, silent: true},
	{name: "set noreply as bytes", in: "set k 0 0 noreply\r\n", rest: "x\r\n", err: replyBadFormat, silent: true},
	{name: "set bytes tab", in: "set k 0 0 1\t\r\n", rest: "x\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "cas bad unique", in: "cas k 0 0 1 abc\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "cas negative unique", in: "cas k 0 0 1 -1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "bad data chunk", in: "set k 0 0 1\r\nxyz", rest: "\r\n", err: replyBadChunk},
	{name: "bad data chunk lf", in: "set k 0 0 1\r\nx\n\n", err: replyBadChunk},
	{name: "bad data chunk empty", in: "set k 0 0 0\r\nab", rest: "\r\n", err: replyBadChunk},
	{name: "bad data chunk noreply", in: "set k 0 0 1 noreply\r\nxyz", rest: "\r\n", err: replyBadChunk, silent: true},
	{name: "set control in key", in: "set k\x01 0 0 1\r\nx\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "set nul after noreply", in: "set k 0 0 1 noreply\x00\r\nx\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "set control noreply", in: "set k\x7f 0 0 1 noreply\r\nxyz", err: replyBadFormat, silent: true, notMemcached: diffControl},
	{name: "set too large", in: "set k 0 0 1048577\r\n", err: replyTooLarge, fatal: true, notMemcached: diffTooLarge},
	{name: "set too large noreply", in: "set k 0 0 999999999 noreply\r\n", err: replyTooLarge, fatal: true, silent: true, notMemcached: diffTooLarge},
	{name: "set too large control", in: "set k\x01 0 0 2000000\r\n", err: replyTooLarge, fatal: true, notMemcached: diffTooLarge},

	// retrieval, good
	{name: "get", in: "get k\r\n", keys: []string{"k"}},
	{name: "get many", in: "get a b c\r\n", rest: "get d\r\n", keys: []string{"a", "b", "c"}},
	{name: "gets", in: "gets a b\r\n", keys: []string{"a", "b"}},
	{name: "get lf", in: "get k\n", keys: []string{"k"}},
	{name: "get spaces", in: "  get  a  b  \r\n", keys: []string{"a", "b"}},
	{name: "get noreply is a key", in: "get k noreply\r\n", keys: []string{"k", "noreply"}},
	{name: "get key 250", in: "get a " + k250 + "\r\n", keys: []string{"a", k250}},
	{name: "get long line", in: getBig + "\r\n", keys: strings.Fields(keys(600))},
	{name: "gets long line", in: "gets " + keys(600) + "\r\n", keys: strings.Fields(keys(600))},
	{name: "get long line after spaces", in: strings.Repeat(" ", 100) + getBig + "\n", keys: strings.Fields(keys(600))},
	{name: "gat", in: "gat 10 a b\r\n", keys: []string{"a", "b"}},
	{name: "gats", in: "gats -1 a\r\n", keys: []string{"a"}},
	{name: "gat no keys", in: "gat 0\r\n", keys: none},

	// retrieval, incomplete
	{name: "get partial", in: "get k"},
	{name: "get long partial", in: getBig},

	// retrieval, refused
	{name: "get no key", in: "get\r\n", err: "ERROR"},
	{name: "get key 251", in: "get " + k251 + "\r\n", err: replyBadFormat},
	{name: "get second key 251", in: "get a " + k251 + " b\r\n", err: replyBadFormat},
	{name: "get tab in key", in: "get a\tb\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "get nul in key", in: "get a\x00b\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "get cr in key", in: "get a\rb\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "get two cr", in: "get a\r\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "gat no exptime", in: "gat\r\n", err: "ERROR"},
	{name: "gat bad exptime", in: "gat abc k\r\n", err: replyBadExptime},
	{name: "gats bad exptime", in: "gats 1x k\r\n", err: replyBadExptime},
	{name: "gat key 251", in: "gat 0 " + k251 + "\r\n", err: replyBadFormat},
	{name: "get line over 256 KB", in: "get " + keys(256*1024/4), err: replyOutOfMemory, why: "get line longer than 256 KB", fatal: true, notMemcached: diffRetrieval},

	// delete incr decr touch
	{name: "delete", in: "delete k\r\n", keys: []string{"k"}},
	{name: "delete 0", in: "delete k 0\r\n", keys: []string{"k"}},
	{name: "delete noreply", in: "delete k noreply\r\n", keys: []string{"k"}, noreply: true},
	{name: "delete 0 noreply", in: "delete k 0 noreply\r\n", keys: []string{"k"}, noreply: true},
	{name: "delete no key", in: "delete\r\n", err: "ERROR"},
	{name: "delete too many", in: "delete a b c d\r\n", err: "ERROR"},
	{name: "delete time", in: "delete k 1\r\n", err: replyDeleteUsage},
	{name: "delete 0 0", in: "delete k 0 0\r\n", err: replyDeleteUsage},
	{name: "delete time noreply", in: "delete k 1 noreply\r\n", err: replyDeleteUsage, silent: true},
	{name: "delete noreply noreply", in: "delete k noreply noreply\r\n", err: replyDeleteUsage, silent: true},
	{name: "delete key 251", in: "delete " + k251 + "\r\n", err: replyBadFormat},
	{name: "delete key 251 noreply", in: "delete " + k251 + " noreply\r\n", err: replyBadFormat, silent: true},
	{name: "incr", in: "incr k 1\r\n", keys: []string{"k"}},
	{name: "decr", in: "decr k 18446744073709551615 noreply\r\n", keys: []string{"k"}, noreply: true},
	{name: "incr any fourth token", in: "incr k +1 junk\r\n", keys: []string{"k"}},
	{name: "incr no delta", in: "incr k\r\n", err: "ERROR"},
	{name: "incr too many", in: "incr k 1 noreply x\r\n", err: "ERROR"},
	{name: "incr key 251", in: "incr " + k251 + " 1\r\n", err: replyBadFormat},
	{name: "incr bad delta", in: "incr k abc\r\n", err: replyBadDelta},
	{name: "incr negative delta", in: "incr k -1\r\n", err: replyBadDelta},
	{name: "incr delta over 64 bits", in: "incr k 18446744073709551616\r\n", err: replyBadDelta},
	{name: "incr noreply as delta", in: "incr k noreply\r\n", err: replyBadDelta, silent: true},
	{name: "touch", in: "touch k 10\r\n", keys: []string{"k"}},
	{name: "touch noreply", in: "touch k -1 noreply\r\n", keys: []string{"k"}, noreply: true},
	{name: "touch no exptime", in: "touch k\r\n", err: "ERROR"},
	{name: "touch bad exptime", in: "touch k abc\r\n", err: replyBadExptime},
	{name: "touch bad exptime noreply", in: "touch k abc noreply\r\n", err: replyBadExptime, silent: true},
	{name: "touch key 251", in: "touch " + k251 + " 1\r\n", err: replyBadFormat},

	// version, and unknown commands
	{name: "version", in: "version\r\n", keys: none},
	{name: "verbosity", in: "verbosity 1\r\n", keys: none},
	{name: "verbosity two", in: "verbosity 1 2\r\n", keys: none},
	{name: "verbosity noreply", in: "verbosity 1 noreply\r\n", keys: none, noreply: true},
	{name: "verbosity none", in: "verbosity\r\n", err: replyError},
	{name: "verbosity many", in: "verbosity 1 2 3\r\n", err: replyError},
	{name: "verbosity not a number", in: "verbosity a\r\n", err: replyBadFormat},
	{name: "binary protocol", in: "\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		err: "binary", why: "a binary protocol request (first byte 0x80); only the text protocol is served", fatal: true, silent: true,
		notMemcached: "memcached answers the binary protocol too"},
	{name: "version args", in: "version x y\r\n", keys: none},
	{name: "version control", in: "version \x7f\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "empty line", in: "\r\n", rest: "get k\r\n", err: "ERROR"},
	{name: "lf", in: "\n", err: "ERROR"},
	{name: "spaces", in: "   \r\n", err: "ERROR"},
	{name: "unknown", in: "foo\r\n", err: "ERROR"},
	{name: "uppercase", in: "GET k\r\n", err: "ERROR"},
	{name: "one letter", in: "g\r\n", err: "ERROR"},
	{name: "stats", in: "stats\r\n", keys: none, notMemcached: diffStats},
	{name: "stats group", in: "stats items\r\n", keys: none, notMemcached: diffStats},
	{name: "stats unknown", in: "stats foo\r\n", keys: none, notMemcached: diffStats},
	{name: "flush_all", in: "flush_all\r\n", keys: none},
	{name: "flush_all delay", in: "flush_all 10\r\n", keys: none},
	{name: "flush_all negative delay", in: "flush_all -1\r\n", keys: none},
	{name: "flush_all noreply", in: "flush_all noreply\r\n", keys: none, noreply: true},
	{name: "flush_all delay noreply", in: "flush_all 0 noreply\r\n", keys: none, noreply: true},
	{name: "flush_all two numbers", in: "flush_all 1 2\r\n", keys: none},
	{name: "flush_all bad delay", in: "flush_all x\r\n", err: replyBadExptime},
	{name: "flush_all bad delay noreply", in: "flush_all x noreply\r\n", err: replyBadExptime, silent: true},
	{name: "flush_all many", in: "flush_all 0 0 0\r\n", err: replyError},
	{name: "tab after command", in: "get\tk\r\n", err: "ERROR"},

	// line length
	{name: "line of 2048", in: x2048 + "\n", rest: "get k\r\n", err: "ERROR"},
	{name: "line of 2047 and crlf", in: x2048[1:] + "\r\n", err: "ERROR"},
	{name: "line of 2048 waits", in: x2048},
	{name: "line of 2048 and crlf", in: x2048 + "\r\n", err: tooLong, silent: true, fatal: true, notMemcached: diffTiming},
	{name: "line of 2048 and cr", in: x2048 + "\r", err: tooLong, silent: true, fatal: true},
	{name: "line of 2049", in: x2048 + "x", err: tooLong, silent: true, fatal: true},
	{name: "line of 2049 lf", in: x2048 + "x\n", err: tooLong, silent: true, fatal: true, notMemcached: diffTiming},
	{name: "set line of 2049", in: "set " + strings.Repeat("k", 2045), err: tooLong, silent: true, fatal: true},
	{name: "gat line of 2049", in: "gat 0 " + keys(600), err: tooLong, silent: true, fatal: true},
	{name: "get after 101 spaces", in: strings.Repeat(" ", 101) + getBig, err: tooLong, silent: true, fatal: true},
	{name: "get without space", in: "get" + x2048, err: tooLong, silent: true, fatal: true},

	// meta
	{name: "mn", in: "mn\r\n", keys: none},
	{name: "mn args", in: "mn x\r\n", keys: none},
	{name: "mg", in: "mg k\r\n", keys: []string{"k"}},
	{name: "mg flags", in: "mg k v f t c k s O123 T30\r\n", keys: []string{"k"}},
	{name: "mg q", in: "mg k q v\r\n", keys: []string{"k"}, noreply: true},
	{name: "mg q token", in: "mg k qb\r\n", keys: []string{"k"}, noreply: true},
	{name: "mg base64", in: "mg a2V5 b v\r\n", keys: []string{"a2V5"}, base64: true},
	{name: "mg base64 padded", in: "mg a2U= b\r\n", keys: []string{"a2U="}, base64: true},
	{name: "mg 17 flags", in: "mg k " + flags(17) + "\r\n", keys: []string{"k"}},
	{name: "ms", in: "ms k 1\r\nx\r\n", keys: []string{"k"}},
	{name: "ms flags", in: "ms k 3 T0 F5 c k O1 q\r\nabc\r\n", keys: []string{"k"}, noreply: true},
	{name: "ms base64", in: "ms a2V5 1 b\r\ny\r\n", keys: []string{"a2V5"}, base64: true},
	{name: "ms 16 flags", in: "ms k 1 " + flags(16) + "\r\nx\r\n", keys: []string{"k"}},
	{name: "ms bad flag", in: "ms k 1 Z\r\nx\r\n", keys: []string{"k"}},
	{name: "md", in: "md k q\r\n", keys: []string{"k"}, noreply: true},
	{name: "ma", in: "ma k N0 J5 v\r\n", keys: []string{"k"}},
	{name: "me", in: "me k\r\n", keys: []string{"k"}},
	{name: "me b", in: "me a2V5 b\r\n", keys: []string{"a2V5"}, base64: true},
	{name: "me other", in: "me k bb\r\n", keys: []string{"k"}},
	{name: "mg partial", in: "mg k v"},
	{name: "ms partial", in: "ms k 2 q\r\nx"},
	{name: "mg no key", in: "mg\r\n", err: "ERROR"},
	{name: "ms no key", in: "ms\r\n", err: "ERROR"},
	{name: "md no key", in: "md\r\n", err: "ERROR"},
	{name: "ma no key", in: "ma\r\n", err: "ERROR"},
	{name: "me no key", in: "me\r\n", err: replyBadFormat},
	{name: "unknown meta", in: "mz k\r\n", err: "ERROR"},
	{name: "mg key 251", in: "mg " + k251 + " q\r\n", err: replyBadFormat},
	{name: "me key 251", in: "me " + k251 + "\r\n", err: replyBadFormat},
	{name: "mg 18 flags", in: "mg k " + flags(18) + "\r\n", err: replyMgTooManyFlags},
	{name: "md 18 flags", in: "md k q " + flags(17) + "\r\n", err: replyTooManyFlags},
	{name: "ma 18 flags", in: "ma k " + flags(18) + "\r\n", err: replyTooManyFlags},
	{name: "mg bad base64", in: "mg !!!! b v\r\n", err: replyBadKeyEncoding},
	{name: "mg short base64", in: "mg a2V b v\r\n", err: replyBadKeyEncoding},
	{name: "mg base64 one byte", in: "mg k b\r\n", err: replyBadKeyEncoding},
	{name: "mg base64 junk", in: "mg a2V5! b v\r\n", err: replyBadKeyEncoding, notMemcached: diffBase64},
	{name: "mg base64 after padding", in: "mg a2V=a2V5 b v\r\n", err: replyBadKeyEncoding, notMemcached: diffBase64},
	{name: "me bad base64", in: "me a2V b\r\n", err: replyBadFormat},
	{name: "mg control", in: "mg k v\x00 q\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "ms key only", in: "ms k\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "ms key 251", in: "ms " + k251 + " 1\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "ms bad datalen", in: "ms k abc\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "ms negative datalen", in: "ms k -1 q\r\n", rest: "x\r\n", err: replyBadFormat},
	{name: "ms 17 flags", in: "ms k 1 " + flags(17) + "\r\n", rest: "x\r\n", err: replyTooManyFlags},
	{name: "ms 17 flags bad datalen", in: "ms k abc " + flags(17) + "\r\n", rest: "x\r\n", err: replyTooManyFlags},
	{name: "ms bad base64", in: "ms a2V 1 b\r\ny\r\n", err: replyBadKeyEncoding},
	{name: "ms bad data chunk", in: "ms k 1\r\nxyz", rest: "\r\n", err: replyBadChunk},
	{name: "ms bad data chunk q", in: "ms k 1 q\r\nxyz", rest: "\r\n", err: replyBadChunk},
	{name: "ms control", in: "ms k 1 \x01\r\nx\r\n", err: replyBadFormat, notMemcached: diffControl},
	{name: "ms too large", in: "ms k 2000000 T0 q\r\n", err: replyTooLarge, fatal: true, notMemcached: diffTooLarge},
}

func TestRequestParser(t *testing.T) {
	for _, c := range reqCases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.in + c.rest)
			got := parseRequestAllWays(t, data, len(c.in)/2)
			if want := c.want(); !got.equal(want) {
				t.Fatalf("Parse(%q) =\n%+v, want\n%+v", testutil.Trunc(data), got, want)
			}
			// Split at every offset, not just the middle.
			if len(data) < 300 {
				for cut := range len(data) {
					parseRequestAllWays(t, data, cut)
				}
			}
		})
	}
}

// TestRequestParserPipeline parses every complete table frame, and every
// non-fatal refusal, back to back through one parser, as a connection does.
func TestRequestParserPipeline(t *testing.T) {
	var stream []byte
	var want []reqResult
	for _, c := range reqCases {
		if w := c.want(); w.n > 0 || w.err.Len > 0 {
			stream = append(stream, c.in...)
			want = append(want, w)
		}
	}
	var p RequestParser
	buf := stream
	for i, w := range want {
		n, err := p.Parse(buf)
		got := reqResultOf(t, &p, n, err, buf)
		if !got.equal(w) {
			t.Fatalf("request %d: %+v, want %+v", i, got, w)
		}
		buf = buf[n+got.err.Len:]
		p.Reset()
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left", len(buf))
	}
}

func TestMaxValueLen(t *testing.T) {
	p := RequestParser{MaxValueLen: 10}
	if n, err := p.Parse([]byte("set k 0 0 10\r\n0123456789\r\n")); n != 26 || err != nil {
		t.Fatalf("10 bytes: (%d, %v)", n, err)
	}
	p.Reset()
	if p.MaxValueLen != 10 {
		t.Fatalf("Reset dropped MaxValueLen")
	}
	if _, err := p.Parse([]byte("ms k 11\r\n")); err == nil || !err.(*Error).Fatal || err.(*Error).Reply != replyTooLarge {
		t.Fatalf("11 bytes: %v", err)
	}
}

func TestDecodeKey(t *testing.T) {
	got, err := DecodeKey([]byte("x"), []byte("a2V5"))
	if string(got) != "xkey" || err != nil {
		t.Fatalf("DecodeKey = (%q, %v)", got, err)
	}
	for _, bad := range []string{"", "====", "a2V", "a2V5!", "a2V=a2V5", "a 2V"} {
		if got, err := DecodeKey([]byte("x"), []byte(bad)); err == nil || string(got) != "x" {
			t.Errorf("DecodeKey(%q) = (%q, %v), want an error and dst unchanged", bad, got, err)
		}
	}
}

func TestLookup(t *testing.T) {
	for i := range commands {
		if c := byName[commands[i].Name]; c != &commands[i] {
			t.Errorf("%s: %v", commands[i].Name, c)
		}
		if c := commands[i]; c.MultiKey != (c.Kind == KindRetrieval || c.Kind == KindGat) {
			t.Errorf("%s: MultiKey %v", c.Name, c.MultiKey)
		}
	}
}

func TestParseNumbers(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "-0": 0, "+7": 7, "007": 7, "-12": -12,
		"9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64,
	} {
		if got, ok := parseInt([]byte(in)); !ok || got != want {
			t.Errorf("parseInt(%q) = (%d, %v), want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-", "+", "+-1", "-+1", "--1", "1x", " 1", "1 ", "9223372036854775808", "-9223372036854775809"} {
		if got, ok := parseInt([]byte(in)); ok {
			t.Errorf("parseInt(%q) = %d, want failure", in, got)
		}
	}
	if got, ok := parseUint([]byte("18446744073709551615")); !ok || got != math.MaxUint64 {
		t.Errorf("parseUint(max) = (%d, %v)", got, ok)
	}
	for _, in := range []string{"", "+", "-1", "-0", "18446744073709551616", "99999999999999999999"} {
		if got, ok := parseUint([]byte(in)); ok {
			t.Errorf("parseUint(%q) = %d, want failure", in, got)
		}
	}
}

// TestNoAllocFromWireLength checks that lengths read off the wire reserve
// nothing: only bytes that arrived cost memory.
func TestNoAllocFromWireLength(t *testing.T) {
	for _, c := range []struct {
		frame    string
		maxValue int
	}{
		{"set k 0 0 999999999\r\n", 0},
		{"set k 0 0 999999999\r\n", math.MaxInt32},
		{"ms k 999999999\r\n", math.MaxInt32},
		{"set k 0 0 1048576\r\n", 0},
		{"cas k 0 0 2147483645 1\r\nabc", math.MaxInt32},
	} {
		buf := []byte(c.frame)
		p := RequestParser{MaxValueLen: c.maxValue}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p.Parse(buf)
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d >= 4096 {
			t.Errorf("%q: parsing allocated %d bytes", c.frame, d)
		}
		if c.maxValue != 0 {
			if a := testing.AllocsPerRun(100, func() { p.Reset(); p.Parse(buf) }); a != 0 {
				t.Errorf("%q: %v allocations per parse", c.frame, a)
			}
		}
	}
	for _, f := range []string{"VALUE k 0 1073741824\r\n", "VA 1073741824 f\r\n"} {
		buf := []byte(f)
		var p ReplyParser
		if a := testing.AllocsPerRun(100, func() { p.Reset(); p.Parse(KindMetaGet, buf); p.Reset(); p.Parse(KindRetrieval, buf) }); a != 0 {
			t.Errorf("reply %q: %v allocations per parse", f, a)
		}
	}
}

func multiGet(keys int) []byte {
	b := []byte("get")
	for i := range keys {
		b = append(b, " key:"...)
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return append(b, "\r\n"...)
}

func setFrame(valueLen int) []byte {
	b := []byte("set key:1 0 0 " + strconv.Itoa(valueLen) + "\r\n")
	b = append(b, bytes.Repeat([]byte{'v'}, valueLen)...)
	return append(b, "\r\n"...)
}

func TestNoAllocAfterWarmUp(t *testing.T) {
	for _, c := range []struct {
		name   string
		buf    []byte
		allocs float64 // a refusal allocates its *Error
	}{
		{"get", []byte("get key:1\r\n"), 0},
		{"set", setFrame(100), 0},
		{"get100", multiGet(100), 0},
		{"gat", []byte("gat 10 a b c\r\n"), 0},
		{"mg b", []byte("mg a2V5 b v q\r\n"), 0},
		{"ms b", []byte("ms a2V5 2 b T0\r\nab\r\n"), 0},
		{"delete", []byte("delete k noreply\r\n"), 0},
		{"incr", []byte("incr k 10\r\n"), 0},
		{"refused", []byte("get\r\n"), 1},
		{"control", []byte("set k\x01 0 0 1\r\nx\r\n"), 1},
		{"too long", []byte(x2048 + "x"), 1},
	} {
		var p RequestParser
		a := testing.AllocsPerRun(100, func() {
			p.Reset()
			if n, err := p.Parse(c.buf); n != len(c.buf) && err == nil {
				t.Fatalf("%s: Parse = (%d, %v)", c.name, n, err)
			}
			for i, k := range p.Keys(c.buf) {
				if p.KeyIsBase64() {
					var b [maxKeyLen]byte
					DecodeKey(b[:0], k)
				}
				_ = p.Arg(c.buf, i)
			}
		})
		if a != c.allocs {
			t.Errorf("%s: %v allocations per request, want %v", c.name, a, c.allocs)
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
		{"get-2000", multiGet(2000)},
		{"get-8000", multiGet(8000)},
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

func TestAccessors(t *testing.T) {
	var p RequestParser
	buf := []byte("get a b")
	if n, err := p.Parse(buf); n != 0 || err != nil || p.Keys(buf) != nil || p.NArgs() != 0 || p.Arg(buf, 0) != nil {
		t.Fatalf("incomplete request: (%d, %v), Keys %q, NArgs %d", n, err, p.Keys(buf), p.NArgs())
	}
	buf = append(buf, "\r\n"...)
	p.Parse(buf)
	if p.NArgs() != 3 || p.Arg(buf, -1) != nil || p.Arg(buf, 3) != nil || string(p.Arg(buf, 2)) != "b" {
		t.Fatalf("NArgs %d, Arg(2) %q", p.NArgs(), p.Arg(buf, 2))
	}

	// Reset drops token slices grown by a huge multi-get, keeps small ones.
	big := multiGet(maxRetainedTokens)
	p.Reset()
	if n, _ := p.Parse(big); n != len(big) || len(p.Keys(big)) != maxRetainedTokens {
		t.Fatalf("big get: n = %d", n)
	}
	p.Reset()
	if p.tokens != nil || p.keyBufs != nil {
		t.Fatal("Reset kept the slices of a huge request")
	}
	p.Parse(buf)
	p.Keys(buf)
	p.Reset()
	if cap(p.tokens) == 0 || cap(p.keyBufs) == 0 || p.keyBufs[:1][0] != nil {
		t.Fatal("Reset dropped small slices, or kept references into the buffer")
	}

	_, err := p.Parse([]byte("get\r\n"))
	if got := err.Error(); got != "mc: refused: ERROR" {
		t.Fatalf("Error() = %q", got)
	}
}
