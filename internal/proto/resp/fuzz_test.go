package resp

import (
	"bytes"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

func FuzzRequestParser(f *testing.F) {
	for _, c := range reqCases {
		if s := c.in + c.rest; len(s) < 4096 {
			f.Add([]byte(s), uint16(len(c.in)/2))
		}
	}
	f.Add(mgetFrame(20), uint16(100))
	f.Add(setFrame(300), uint16(30))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		// Parse the requests in data back to back, each in three ways (a
		// bounded number: each way copies the rest of data).
		for range 64 {
			r := parseRequestAllWays(t, data, int(cut))
			if r.n == 0 {
				return
			}
			if len(r.args) > 0 {
				// The arguments, re-encoded as a multibulk, parse the same.
				b := AppendArrayHeader(nil, len(r.args))
				for _, a := range r.args {
					b = AppendBulkString(b, a)
				}
				var p RequestParser
				n, err := p.Parse(b)
				if again := reqResultOf(&p, n, err, b); !again.equal(reqResult{n: len(b), args: r.args}) {
					t.Fatalf("%q re-encoded as %q parsed as %+v", r.args, b, again)
				}
			}
			data = data[r.n:]
			if len(data) == 0 {
				return
			}
		}
	})
}

func FuzzReplyParser(f *testing.F) {
	for _, c := range replyCases {
		if s := c.in + c.rest; len(s) < 4096 {
			f.Add([]byte(s), uint16(len(c.in)/2))
		}
	}
	f.Add([]byte("*3\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n:1\r\n-ERR x\r\n"), uint16(9))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		for range 64 {
			n, err := parseReplyAllWays(t, data, int(cut))
			if n == 0 || err != nil {
				return
			}
			reply := data[:n]
			switch reply[0] {
			case '*':
				elems, err := ArrayElems(reply, nil)
				if bytes.HasPrefix(reply, []byte("*-1\r\n")) {
					if err != errNotArray {
						t.Fatalf("ArrayElems(%q): %v, want errNotArray", reply, err)
					}
					break
				}
				if err != nil {
					t.Fatalf("ArrayElems(%q): %v", reply, err)
				}
				body := reply[bytes.IndexByte(reply, '\n')+1:]
				if joined := bytes.Join(elems, nil); !bytes.Equal(joined, body) {
					t.Fatalf("ArrayElems(%q) = %q", reply, elems)
				}
			case ':':
				if _, err := ParseInt(reply); err != nil {
					t.Fatalf("ParseInt(%q): %v", reply, err)
				}
			}
			data = data[n:]
			if len(data) == 0 {
				return
			}
		}
	})
}

// FuzzMerge feeds two servers' replies to the fragments of an MGET:
// whatever the servers send, replies the framer accepts merge without a
// crash into one reply, an array of the keys' values or an error.
func FuzzMerge(f *testing.F) {
	f.Add([]byte("*2\r\n$1\r\na\r\n$-1\r\n"), []byte("*1\r\n$2\r\nbb\r\n"))
	f.Add([]byte("*2\r\n*1\r\n:1\r\n$-1\r\n"), []byte("-ERR no\r\n"))
	f.Add([]byte("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"), []byte(":1\r\n"))
	f.Fuzz(func(t *testing.T, reply0, reply1 []byte) {
		c := Protocol{}.NewClient(&proto.Settings{})
		frame := []byte("*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
		if n, err := c.Parse(frame); n != len(frame) || err != nil {
			t.Fatalf("Parse = %d, %v", n, err)
		}
		m := &proto.Msg{}
		if act := c.Decode(frame, m, &proto.Settings{}); act != proto.Split {
			t.Fatalf("Decode: %v", act)
		}
		m.KeyFrag = []uint32{0, 1, 0}
		m.Frags = []*proto.Frag{{NKeys: 2}, {NKeys: 1}}
		c.Encode(m, frame)
		fr := Protocol{}.NewFramer()
		for i, reply := range [][]byte{reply0, reply1} {
			r := &m.Frags[i].Request
			n, err := fr.Frame(r, reply)
			if n == 0 || err != nil {
				return // more bytes wanted, or out of step: the connection closes
			}
			r.Reply = reply[:n]
		}
		out := Protocol{}.Merge(nil, m)
		if n, err := ReplyLen(out); n != len(out) || err != nil {
			t.Fatalf("merged %q: not one reply (%d, %v)", out, n, err)
		}
		if out[0] != '*' && out[0] != '-' {
			t.Fatalf("merged %q: neither an array nor an error", out)
		}
	})
}
