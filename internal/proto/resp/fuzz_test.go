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
	f.Add([]byte("%1\r\n~2\r\n,1.5\r\n(-12\r\n|1\r\n+a\r\n#t\r\n>1\r\n=5\r\ntxt:x\r\n*2\r\n_\r\n!1\r\nE\r\n"), uint16(20))
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

// FuzzMerge feeds two servers' replies to the fragments of an MGET, or
// of a command of every server (which picks): whatever the servers send,
// replies the framer accepts merge without a crash into one reply, an
// array of the keys' values or an error for MGET.
func FuzzMerge(f *testing.F) {
	f.Add(uint8(0), []byte("*2\r\n$1\r\na\r\n$-1\r\n"), []byte("*1\r\n$2\r\nbb\r\n"))
	f.Add(uint8(0), []byte("*2\r\n*1\r\n:1\r\n$-1\r\n"), []byte("-ERR no\r\n"))
	f.Add(uint8(0), []byte("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"), []byte(":1\r\n"))
	f.Add(uint8(0), []byte("*2\r\n_\r\n$1\r\na\r\n"), []byte("*1\r\n_\r\n"))
	f.Add(uint8(0), []byte("*2\r\n|1\r\n+a\r\n+b\r\n_\r\n,1.5\r\n"), []byte("*1\r\n#t\r\n"))
	f.Add(uint8(1), []byte(":1\r\n"), []byte(":2\r\n"))
	f.Add(uint8(2), []byte("*1\r\n$1\r\na\r\n"), []byte("*0\r\n"))
	f.Add(uint8(3), []byte("$1\r\na\r\n"), []byte("$-1\r\n"))
	f.Add(uint8(4), []byte("+OK\r\n"), []byte("-ERR syntax error\r\n"))
	f.Add(uint8(5), []byte("$2\r\nab\r\n"), []byte("$2\r\nab\r\n"))
	f.Add(uint8(6), []byte("*2\r\n:1\r\n:0\r\n"), []byte("*2\r\n:1\r\n:1\r\n"))
	f.Add(uint8(7), []byte("$43\r\n# Server\r\nredis_version:7.0.1\r\ndb0:keys=1,expires=0\r\n\r\n"), []byte("$0\r\n\r\n"))
	// A RESP3 client's (the bit 0x80 of which): nulls, verbatim strings, blob errors.
	f.Add(uint8(0x83), []byte("_\r\n"), []byte("_\r\n"))
	f.Add(uint8(0x87), []byte("=24\r\ntxt:redis_version:7.0.1\r\n\r\n"), []byte("=3\r\ntxt\r\n"))
	f.Add(uint8(0x81), []byte("!5\r\nERR x\r\n"), []byte(":2\r\n"))
	commands := [][]string{
		{"MGET", "a", "b", "c"}, {"DBSIZE"}, {"KEYS", "*"}, {"RANDOMKEY"}, {"FLUSHALL"},
		{"SCRIPT", "LOAD", "return 1"}, {"SCRIPT", "EXISTS", "a", "b"}, {"INFO"},
	}
	f.Fuzz(func(t *testing.T, which uint8, reply0, reply1 []byte) {
		args := commands[int(which)%len(commands)]
		s := &proto.Settings{Router: fixedRouter(2), Status: fixedStatus{}}
		c, frame := parsedClient(t, s, args...)
		m := &proto.Msg{}
		act := c.Decode(frame, m, s)
		if which&0x80 != 0 {
			m.Dialect = dialectRESP3
		}
		switch {
		case args[0] == "MGET" && act == proto.Split:
			m.KeyFrag = []uint32{0, 1, 0}
			m.Frags = []*proto.Frag{{NKeys: 2}, {NKeys: 1}}
			c.Encode(m, frame)
		case args[0] != "MGET" && act == proto.FanOut:
			c.Encode(m, frame) // the request whole, as the proxy copies it to each fragment
			m.Frags = []*proto.Frag{{}, {}}
		default:
			t.Fatalf("Decode %q: %v", args, act)
		}
		fr := Protocol{}.NewFramer()
		for i, reply := range [][]byte{reply0, reply1} {
			r := &m.Frags[i].Request
			if args[0] != "MGET" {
				r.Wire = m.Wire
			}
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
		if args[0] == "MGET" && out[0] != '*' && out[0] != '-' {
			t.Fatalf("merged %q: neither an array nor an error", out)
		}
	})
}

// FuzzScanReply feeds a server's reply to a SCAN whose cursor names
// server 1 of 3: whatever the server sends, a reply the framer accepts
// becomes one reply for the client.
func FuzzScanReply(f *testing.F) {
	f.Add([]byte("*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n"))
	f.Add([]byte("*2\r\n$2\r\n17\r\n*0\r\n"))
	f.Add([]byte("*2\r\n$15\r\n281474976710656\r\n*0\r\n"))
	f.Add([]byte("-ERR syntax error\r\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		s := &proto.Settings{Router: fixedRouter(3)}
		m, act := decodeArgs(t, s, "SCAN", "281474976710656", "COUNT", "5")
		if act != proto.ForwardTo || m.Target != 1 {
			t.Fatalf("SCAN: %v to %d", act, m.Target)
		}
		n, err := Protocol{}.NewFramer().Frame(&m.Request, reply)
		if n == 0 || err != nil {
			return
		}
		m.Reply = reply[:n]
		out := Protocol{}.Reply(m)
		if n, err := ReplyLen(out); n != len(out) || err != nil {
			t.Fatalf("reply %q for %q: not one reply (%d, %v)", out, m.Reply, n, err)
		}
	})
}
