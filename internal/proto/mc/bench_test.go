package mc

import (
	"bytes"
	"testing"
)

func benchRequest(b *testing.B, buf []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	var p RequestParser
	for b.Loop() {
		p.Reset()
		if n, err := p.Parse(buf); n != len(buf) || err != nil {
			b.Fatalf("Parse = (%d, %v)", n, err)
		}
		p.Keys(buf)
	}
}

func BenchmarkParseGet(b *testing.B)    { benchRequest(b, []byte("get key:1\r\n")) }
func BenchmarkParseSet(b *testing.B)    { benchRequest(b, setFrame(100)) }
func BenchmarkParseGet100(b *testing.B) { benchRequest(b, multiGet(100)) }

func BenchmarkReplyValue(b *testing.B) {
	buf := append([]byte("VALUE key:1 0 100\r\n"), bytes.Repeat([]byte{'v'}, 100)...)
	buf = append(buf, "\r\nEND\r\n"...)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	var p ReplyParser
	for b.Loop() {
		p.Reset()
		if n, err := p.Parse(KindRetrieval, buf); n != len(buf) || err != nil {
			b.Fatalf("Parse = (%d, %v)", n, err)
		}
	}
}
