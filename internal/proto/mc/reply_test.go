package mc

import (
	"github.com/nutcracker-go/nutcracker/internal/testutil"
	"strings"
	"testing"
)

type replyCase struct {
	kind Kind
	in   string
	rest string // bytes after the reply
	err  error  // nil: a reply of len(in) bytes, unless more is set
	more bool   // incomplete
}

// Replies of memcached 1.6.18, captured, and broken ones.
var replyCases = []replyCase{
	{kind: KindStorage, in: "STORED\r\n", rest: "STORED\r\n"},
	{kind: KindStorage, in: "NOT_STORED\r\n"},
	{kind: KindCas, in: "EXISTS\r\n"},
	{kind: KindCas, in: "NOT_FOUND\r\n"},
	{kind: KindStorage, in: "SERVER_ERROR object too large for cache\r\n"},
	{kind: KindStorage, in: "CLIENT_ERROR bad data chunk\r\n", rest: "ERROR\r\n"},
	{kind: KindRetrieval, in: "END\r\n", rest: "END\r\n"},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nx\r\nEND\r\n"},
	{kind: KindRetrieval, in: "VALUE k 4294967295 1\r\nx\r\nEND\r\n"},
	{kind: KindRetrieval, in: "VALUE a 5 3 77\r\nabc\r\nVALUE b 0 0 78\r\n\r\nEND\r\n"},
	{kind: KindRetrieval, in: "VALUE k 0 5\r\nEND\r\n\r\nEND\r\n"},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n", rest: "END\r\n"},
	{kind: KindRetrieval, in: "CLIENT_ERROR bad command line format\r\n"},
	{kind: KindGat, in: "VALUE k 0 2 18\r\nab\r\nEND\r\n"},
	{kind: KindGat, in: "CLIENT_ERROR invalid exptime argument\r\n"},
	{kind: KindDelete, in: "DELETED\r\n"},
	{kind: KindDelete, in: "NOT_FOUND\r\n"},
	{kind: KindDelete, in: "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"},
	{kind: KindArith, in: "6\r\n"},
	{kind: KindArith, in: "18446744073709551615\r\n"},
	{kind: KindArith, in: "NOT_FOUND\r\n"},
	{kind: KindArith, in: "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
	{kind: KindTouch, in: "TOUCHED\r\n"},
	{kind: KindTouch, in: "NOT_FOUND\r\n"},
	{kind: KindVersion, in: "VERSION 1.6.18\r\n"},
	{kind: KindVersion, in: "ERROR\r\n"},
	{kind: KindMetaGet, in: "VA 1 f5 c15 kk s1 t-1 O1\r\nx\r\n", rest: "EN\r\n"},
	{kind: KindMetaGet, in: "VA 1 ka2V5 b\r\ny\r\n"},
	{kind: KindMetaGet, in: "VA 0\r\n\r\n"},
	{kind: KindMetaGet, in: "HD\r\n"},
	{kind: KindMetaGet, in: "HD kk\r\n"},
	{kind: KindMetaGet, in: "EN\r\n"},
	{kind: KindMetaGet, in: "CLIENT_ERROR invalid flag\r\n"},
	{kind: KindMetaSet, in: "HD c15 kk O123\r\n"},
	{kind: KindMetaSet, in: "NS\r\n"},
	{kind: KindMetaSet, in: "EX\r\n"},
	{kind: KindMetaSet, in: "NF\r\n"},
	{kind: KindMetaDelete, in: "HD\r\n"},
	{kind: KindMetaDelete, in: "NF\r\n"},
	{kind: KindMetaDelete, in: "EX\r\n"},
	{kind: KindMetaArith, in: "VA 1\r\n5\r\n"},
	{kind: KindMetaArith, in: "HD\r\n"},
	{kind: KindMetaArith, in: "NF\r\n"},
	{kind: KindMetaArith, in: "NS\r\n"},
	{kind: KindMetaNoop, in: "MN\r\n", rest: "MN\r\n"},
	{kind: KindMetaDebug, in: "ME k exp=-1 la=1 cas=18 fetch=no cls=1 size=61\r\n"},
	{kind: KindMetaDebug, in: "EN\r\n"},
	{kind: KindMetaDebug, in: "CLIENT_ERROR bad command line format\r\n"},
	{kind: KindStorage, in: "ERROR\r\n"},
	{kind: KindStorage, in: "ERROR too many connections\r\n"},
	{kind: KindStorage, in: "SERVER_ERROR " + strings.Repeat("x", maxReplyLine-13) + "\r\n"},

	{kind: KindStorage, in: "", more: true},
	{kind: KindStorage, in: "STORED", more: true},
	{kind: KindStorage, in: "STORED\r", more: true},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\n", more: true},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nx\r", more: true},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nx\r\n", more: true},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nx\r\nEND\r", more: true},
	{kind: KindRetrieval, in: "VALUE k 0 1073741824\r\n", more: true},
	{kind: KindMetaGet, in: "VA 5\r\nab", more: true},
	{kind: KindMetaArith, in: "VA 1\r\n5\r", more: true},
	{kind: KindStorage, in: "SERVER_ERROR " + strings.Repeat("x", maxReplyLine-13), more: true},
	{kind: KindStorage, in: "SERVER_ERROR " + strings.Repeat("x", maxReplyLine-13) + "\r", more: true},

	{kind: KindQuit, in: "HD\r\n", err: errReplyUnexpected},
	{kind: KindStorage, in: "STORED\n", err: errReplyCRLF},
	{kind: KindStorage, in: "\n", err: errReplyCRLF},
	{kind: KindStorage, in: "\r\n", err: errReplyUnexpected},
	{kind: KindStorage, in: "STORED \r\n", err: errReplyUnexpected},
	{kind: KindStorage, in: "DELETED\r\n", err: errReplyUnexpected},
	{kind: KindStorage, in: "VALUE k 0 1\r\nx\r\nEND\r\n", err: errReplyUnexpected},
	{kind: KindStorage, in: "ERRORS\r\n", err: errReplyUnexpected},
	{kind: KindStorage, in: "SERVER_ERROR " + strings.Repeat("x", maxReplyLine-12) + "\r\n", err: errReplyLineTooBig},
	{kind: KindRetrieval, in: "STORED\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nxy\r\n", err: errReplyCRLF},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nx\nE", err: errReplyCRLF},
	{kind: KindRetrieval, in: "VALUE k 0\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 1 2 3\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 1 \r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k  0 1\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k x 1\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 -1\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 +1\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 1 x\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 1073741825\r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VALUE k 0 1\r\nx\r\nEND \r\n", err: errReplyUnexpected},
	{kind: KindRetrieval, in: "VA 1\r\nx\r\n", err: errReplyUnexpected},
	{kind: KindArith, in: "-1\r\n", err: errReplyUnexpected},
	{kind: KindArith, in: "18446744073709551616\r\n", err: errReplyUnexpected},
	{kind: KindVersion, in: "VERSION\r\n", err: errReplyUnexpected},
	{kind: KindMetaGet, in: "VA\r\n", err: errReplyUnexpected},
	{kind: KindMetaGet, in: "VA x\r\n", err: errReplyUnexpected},
	{kind: KindMetaGet, in: "VA 1\r\nxyz", err: errReplyCRLF},
	{kind: KindMetaGet, in: "NF\r\n", err: errReplyUnexpected},
	{kind: KindMetaGet, in: "HDX\r\n", err: errReplyUnexpected},
	{kind: KindMetaSet, in: "VA 1\r\nx\r\n", err: errReplyUnexpected},
	{kind: KindMetaSet, in: "EN\r\n", err: errReplyUnexpected},
	{kind: KindMetaDelete, in: "NS\r\n", err: errReplyUnexpected},
	{kind: KindMetaNoop, in: "MN x\r\n", err: errReplyUnexpected},
	{kind: KindMetaDebug, in: "HD\r\n", err: errReplyUnexpected},
	{kind: Kind(200), in: "HD\r\n", err: errReplyUnexpected},
}

func TestReplyParser(t *testing.T) {
	for _, c := range replyCases {
		data := []byte(c.in + c.rest)
		want := len(c.in)
		if c.err != nil || c.more {
			want = 0
		}
		for cut := range len(data) + 1 {
			n, err := parseReplyAllWays(t, c.kind, data, cut)
			if n != want || err != c.err {
				t.Fatalf("kind %d: Parse(%q) = (%d, %v), want (%d, %v)", c.kind, testutil.Trunc(data), n, err, want, c.err)
			}
			if len(data) > 300 {
				break
			}
		}
	}
}

func TestReplyParserPipeline(t *testing.T) {
	var stream []byte
	var kinds []Kind
	var lens []int
	for _, c := range replyCases {
		if c.err == nil && !c.more {
			stream = append(stream, c.in...)
			kinds = append(kinds, c.kind)
			lens = append(lens, len(c.in))
		}
	}
	var p ReplyParser
	buf := stream
	for i, l := range lens {
		if n, err := p.Parse(kinds[i], buf); n != l || err != nil {
			t.Fatalf("reply %d: (%d, %v), want %d", i, n, err, l)
		}
		buf = buf[l:]
		p.Reset()
	}
}

func TestValuesEnd(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int // -1: an error
	}{
		{"END\r\n", 0},
		{"VALUE k 0 1\r\nx\r\nEND\r\n", 16},
		{"VALUE a 0 1\r\nx\r\nVALUE b 0 2 5\r\nxy\r\nEND\r\n", 35},
		{"VALUE k 0 5\r\nEND\r\n\r\nEND\r\n", 20},
		{"SERVER_ERROR out of memory\r\n", -1},
		{"CLIENT_ERROR xEND\r\n", -1},
		{"ERROR\r\n", -1},
		{"VALUE k 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n", -1},
		{"VALUE k 0 5\r\nEND\r\n\r\nSERVER_ERROR x\r\n", -1},
	} {
		n, err := ValuesEnd([]byte(c.in))
		if c.want < 0 && err == nil || c.want >= 0 && (err != nil || n != c.want) {
			t.Errorf("ValuesEnd(%q) = (%d, %v), want %d", c.in, n, err, c.want)
		}
		if rn, rerr := parseReplyAllWays(t, KindRetrieval, []byte(c.in), 0); rn != len(c.in) || rerr != nil {
			t.Errorf("%q is not a complete retrieval reply: (%d, %v)", c.in, rn, rerr)
		}
	}
}
