package mc

import (
	"bytes"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

func FuzzRequestParser(f *testing.F) {
	for _, c := range reqCases {
		if data := c.in + c.rest; len(data) < 4096 {
			f.Add([]byte(data), uint16(len(c.in)/2))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		r := parseRequestAllWays(t, data, int(cut))
		if r.n == 0 {
			return
		}
		if len(r.args) == 0 || r.args[0] != r.cmd {
			t.Fatalf("%q: args %q, command %q", testutil.Trunc(data), r.args, r.cmd)
		}
		line, _, _ := bytes.Cut(data[:r.n], []byte("\n"))
		if bytes.ContainsFunc(bytes.TrimSuffix(line, []byte("\r")), func(c rune) bool { return c < ' ' || c == 0x7f }) {
			t.Fatalf("%q: accepted a line with a control byte", testutil.Trunc(data))
		}
		for _, k := range r.keys {
			if len(k) == 0 || len(k) > maxKeyLen || bytes.ContainsAny([]byte(k), " \r\n\x00") {
				t.Fatalf("%q: bad key %q", testutil.Trunc(data), k)
			}
		}
		if r.base64 {
			if _, err := DecodeKey(nil, []byte(r.keys[0])); err != nil {
				t.Fatalf("%q: accepted base64 key %q: %v", testutil.Trunc(data), r.keys[0], err)
			}
		}
	})
}

func FuzzReplyParser(f *testing.F) {
	for _, c := range replyCases {
		f.Add(uint8(c.kind), []byte(c.in+c.rest), uint16(len(c.in)/2))
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte, cut uint16) {
		k := Kind(kind % uint8(KindMetaDebug+2)) // every kind, and one unknown
		n, err := parseReplyAllWays(t, k, data, int(cut))
		if err != nil || n == 0 || k != KindRetrieval && k != KindGat {
			return
		}
		// The reply is values when it ends with an END line and what comes
		// before that line is VALUE blocks only, which frame as incomplete.
		reply := data[:n]
		head, isEnd := bytes.CutSuffix(reply, []byte("END\r\n"))
		values := isEnd && (len(head) == 0 || head[len(head)-1] == '\n')
		if values {
			var p ReplyParser
			hn, herr := p.Parse(k, head)
			values = hn == 0 && herr == nil
		}
		v, err := ValuesEnd(reply)
		if values != (err == nil) || err == nil && v != len(head) {
			t.Fatalf("ValuesEnd(%q) = (%d, %v)", testutil.Trunc(reply), v, err)
		}
	})
}

// FuzzMerge feeds two servers' replies to the fragments of a multi-get,
// or of a flush_all (when flush is set): whatever the servers send,
// replies the framer accepts merge without a crash into one reply: VALUE
// blocks under one END, or one error line; OK or one error line.
func FuzzMerge(f *testing.F) {
	f.Add(false, []byte("VALUE a 0 1\r\nA\r\nEND\r\n"), []byte("VALUE b 1 2 3\r\nBB\r\nVALUE d 0 0\r\n\r\nEND\r\n"))
	f.Add(false, []byte("END\r\n"), []byte("SERVER_ERROR out of memory\r\n"))
	f.Add(false, []byte("VALUE c 0 1\r\nC\r\nVALUE a 0 1\r\nA\r\nEND\r\n"), []byte("ERROR\r\n"))
	f.Add(true, []byte("OK\r\n"), []byte("OK\r\n"))
	f.Add(true, []byte("OK\r\n"), []byte("SERVER_ERROR busy\r\n"))
	f.Fuzz(func(t *testing.T, flush bool, reply0, reply1 []byte) {
		var c Client
		frame := []byte("get a b c a d\r\n")
		want := proto.Split
		if flush {
			frame, want = []byte("flush_all 0\r\n"), proto.FanOut
		}
		if n, err := c.Parse(frame); n != len(frame) || err != nil {
			t.Fatalf("Parse = %d, %v", n, err)
		}
		m := &proto.Msg{}
		if act := c.Decode(frame, m, &proto.Settings{}); act != want {
			t.Fatalf("Decode: %v", act)
		}
		if flush {
			c.Encode(m, frame)
			m.Frags = []*proto.Frag{{}, {}}
			for _, fr := range m.Frags {
				fr.Wire, fr.Hint = m.Wire, m.Hint
			}
		} else {
			m.KeyFrag = []uint32{0, 1, 0, 0, 1}
			m.Frags = []*proto.Frag{{NKeys: 3}, {NKeys: 2}}
			c.Encode(m, frame)
		}
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
		kind := KindRetrieval // VALUE blocks under one END, or one error line
		if flush {
			kind = KindFlushAll // OK, or one error line
		}
		var p ReplyParser
		if n, err := p.Parse(kind, out); n != len(out) || err != nil {
			t.Fatalf("merged %q: not one reply (%d, %v)", out, n, err)
		}
	})
}
