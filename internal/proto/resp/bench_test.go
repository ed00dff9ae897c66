package resp

import (
	"bytes"
	"strconv"
	"testing"
)

func benchRequest(b *testing.B, frame []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	var p RequestParser
	for b.Loop() {
		p.Reset()
		if n, err := p.Parse(frame); n != len(frame) || err != nil {
			b.Fatalf("Parse = (%d, %v)", n, err)
		}
		p.Args(frame)
	}
}

func BenchmarkParseGet(b *testing.B) {
	benchRequest(b, []byte("*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n"))
}

func BenchmarkParseSet100(b *testing.B) { benchRequest(b, setFrame(100)) }

func BenchmarkParseMGet100(b *testing.B) { benchRequest(b, mgetFrame(100)) }

func BenchmarkParseInline(b *testing.B) { benchRequest(b, []byte("SET key:1 \"a value\"\r\n")) }

// benchChunked feeds frame in 16 KB reads, as a connection would.
func benchChunked(b *testing.B, frame []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	var p RequestParser
	for b.Loop() {
		p.Reset()
		for end := 16 << 10; ; end += 16 << 10 {
			n, err := p.Parse(frame[:min(end, len(frame))])
			if err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				break
			}
		}
		p.Args(frame)
	}
}

func BenchmarkParseSet1MBChunked(b *testing.B) { benchChunked(b, setFrame(1<<20)) }

func BenchmarkParseMGet10kChunked(b *testing.B) { benchChunked(b, mgetFrame(10000)) }

func BenchmarkLookup(b *testing.B) {
	b.ReportAllocs()
	names := [][]byte{[]byte("GET"), []byte("set"), []byte("MGet"), []byte("zrangebyscore")}
	for b.Loop() {
		for _, n := range names {
			if Lookup(n) == nil {
				b.Fatal("not found")
			}
		}
	}
}

func benchReply(b *testing.B, reply []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(reply)))
	var p ReplyParser
	for b.Loop() {
		p.Reset()
		if n, err := p.Parse(reply); n != len(reply) || err != nil {
			b.Fatalf("Parse = (%d, %v)", n, err)
		}
	}
}

func BenchmarkReplyBulk(b *testing.B) {
	benchReply(b, AppendBulk(nil, make([]byte, 100)))
}

func array100() []byte {
	r := AppendArrayHeader(nil, 100)
	for i := range 100 {
		if i%10 == 0 {
			r = AppendNullBulk(r)
		} else {
			r = AppendBulkString(r, "value:"+strconv.Itoa(i))
		}
	}
	return r
}

func BenchmarkReplyArray100(b *testing.B) { benchReply(b, array100()) }

// BenchmarkReplyArray100RESP3 is BenchmarkReplyArray100 as a RESP3
// connection sends it: its nulls are "_".
func BenchmarkReplyArray100RESP3(b *testing.B) {
	benchReply(b, bytes.ReplaceAll(array100(), []byte("$-1\r\n"), []byte("_\r\n")))
}

// BenchmarkReplyMap50 frames a RESP3 map of 50 fields and values, an
// HGETALL reply.
func BenchmarkReplyMap50(b *testing.B) {
	r := []byte("%50\r\n")
	for i := range 50 {
		r = AppendBulkString(r, "field:"+strconv.Itoa(i))
		r = AppendBulkString(r, "value:"+strconv.Itoa(i))
	}
	benchReply(b, r)
}

// BenchmarkReplyMGet10k frames an MGET reply of 10,000 "xxx" values and
// marks its elements, as the proxy does for a fragment of a split MGET.
func BenchmarkReplyMGet10k(b *testing.B) {
	reply := AppendArrayHeader(nil, 10000)
	for range 10000 {
		reply = AppendBulkString(reply, "xxx")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(reply)))
	var p ReplyParser
	var marks []int32
	for b.Loop() {
		p.Reset()
		p.MarkElems(marks[:0])
		if n, err := p.Parse(reply); n != len(reply) || err != nil {
			b.Fatalf("Parse = (%d, %v)", n, err)
		}
		marks, _ = p.Elems()
	}
}

func BenchmarkArrayElems100(b *testing.B) {
	b.ReportAllocs()
	reply := array100()
	dst := make([][]byte, 0, 100)
	for b.Loop() {
		var err error
		if dst, err = ArrayElems(reply, dst[:0]); err != nil || len(dst) != 100 {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMGetReply100(b *testing.B) {
	b.ReportAllocs()
	v := []byte("value:12")
	dst := make([]byte, 0, 2048)
	for b.Loop() {
		d := AppendArrayHeader(dst[:0], 100)
		for range 100 {
			d = AppendBulk(d, v)
		}
	}
}

// BenchmarkParseInt parses the lengths most frequent on the wire.
func BenchmarkParseInt(b *testing.B) {
	ins := [][]byte{[]byte("9"), []byte("32"), []byte("10"), []byte("5000"), []byte("-1")}
	var sum int64
	for b.Loop() {
		for _, in := range ins {
			v, _ := parseInt(in)
			sum += v
		}
	}
	if sum == 0 {
		b.Fatal("nothing parsed")
	}
}
