package resp

import "testing"

func TestEncoders(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{string(AppendArrayHeader([]byte("x"), 3)), "x*3\r\n"},
		{string(AppendArrayHeader(nil, 0)), "*0\r\n"},
		{string(AppendBulk(nil, []byte("a\r\nb"))), "$4\r\na\r\nb\r\n"},
		{string(AppendBulk(nil, nil)), "$0\r\n\r\n"},
		{string(AppendBulkString(nil, "get")), "$3\r\nget\r\n"},
		{string(AppendNullBulk([]byte(":1\r\n"))), ":1\r\n$-1\r\n"},
		{string(AppendInt(nil, 0)), ":0\r\n"},
		{string(AppendInt(nil, -1<<63)), ":-9223372036854775808\r\n"},
		{string(AppendError(nil, "ERR Connection refused")), "-ERR Connection refused\r\n"},
		{string(AppendError(nil, "ERR a\r\nb\nc")), "-ERR a  b c\r\n"},
		{string(AppendSimple(nil, "OK")), "+OK\r\n"},
		{string(AppendSimple(nil, "a\rb")), "+a b\r\n"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestEncodedRequestParses checks the encoders against the parsers.
func TestEncodedRequestParses(t *testing.T) {
	args := []string{"mset", "", "a\r\nb", "\x00\xff"}
	b := AppendArrayHeader(nil, len(args))
	for _, a := range args {
		b = AppendBulkString(b, a)
	}
	r := parseRequestAllWays(t, b, len(b)/2)
	if !r.equal(reqResult{n: len(b), args: args}) {
		t.Fatalf("parsed %+v", r)
	}
	reply := AppendArrayHeader(nil, 5)
	reply = AppendBulk(reply, []byte("v"))
	reply = AppendNullBulk(reply)
	reply = AppendInt(reply, 7)
	reply = AppendError(reply, "ERR x")
	reply = AppendSimple(reply, "OK")
	if n, err := ReplyLen(reply); n != len(reply) || err != nil {
		t.Fatalf("ReplyLen = (%d, %v), want %d", n, err, len(reply))
	}
}

func TestEncodersNoAlloc(t *testing.T) {
	dst := make([]byte, 0, 256)
	v := []byte("value")
	a := testing.AllocsPerRun(100, func() {
		d := AppendArrayHeader(dst[:0], 3)
		d = AppendBulkString(d, "get")
		d = AppendBulk(d, v)
		d = AppendNullBulk(d)
		d = AppendInt(d, -42)
		d = AppendError(d, "ERR x")
		AppendSimple(d, "OK")
	})
	if a != 0 {
		t.Fatalf("%v allocations", a)
	}
}
