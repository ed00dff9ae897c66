package resp

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// TestMGetNestedReply: a fragment reply the framer does not mark (not an
// array of non-array elements) is still merged, by parsing it.
func TestMGetNestedReply(t *testing.T) {
	f := &proto.Frag{NKeys: 3}
	f.Reply = []byte("*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n$-1\r\n")
	marks, err := appendElemMarks(nil, f)
	if err != nil || fmt.Sprint(marks) != "[4 11 24 29]" {
		t.Fatalf("marks %v, err %v", marks, err)
	}
	for _, reply := range []string{"*2\r\n$1\r\na\r\n$-1\r\n", "*0\r\n", "+OK\r\n"} {
		f.Reply = []byte(reply)
		if _, err := appendElemMarks(nil, f); err == nil {
			t.Fatalf("%q: no error for 3 keys", reply)
		}
	}
	if !bytes.Equal(f.Reply, []byte("+OK\r\n")) {
		t.Fatal("reply changed")
	}
}

// frame runs a framer over reply as a server connection does, for r.
func frame(t *testing.T, fr proto.Framer, r *proto.Request, reply string) {
	t.Helper()
	n, err := fr.Frame(r, []byte(reply))
	if err != nil || n != len(reply) {
		t.Fatalf("Frame(%q) = %d, %v", reply, n, err)
	}
	r.Reply = []byte(reply)
}

// TestMerge builds split replies from fragments as a server connection
// leaves them (framed, marked), in key order, and one error for the whole
// command when a fragment failed.
func TestMerge(t *testing.T) {
	fr := Protocol{}.NewFramer()
	frag := func(server, reply string, nkeys int, hint uint8) *proto.Frag {
		f := &proto.Frag{Server: server, NKeys: nkeys}
		f.Hint = hint
		frame(t, fr, &f.Request, reply)
		return f
	}
	mget := func(frags ...*proto.Frag) *proto.Msg {
		return &proto.Msg{Op: opMGet, Frags: frags}
	}
	// Keys a b c d: a and c on s1, b and d on s2.
	m := mget(frag("s1", "*2\r\n$2\r\nva\r\n$-1\r\n", 2, hintMarks), frag("s2", "*2\r\n$2\r\nvb\r\n$3\r\nvdd\r\n", 2, hintMarks))
	m.KeyFrag = []uint32{0, 1, 0, 1}
	if len(m.Frags[0].Marks) != 3 {
		t.Fatalf("marks %v", m.Frags[0].Marks)
	}
	if got := string(Protocol{}.Merge(nil, m)); got != "*4\r\n$2\r\nva\r\n$2\r\nvb\r\n$-1\r\n$3\r\nvdd\r\n" {
		t.Fatalf("MGET merged %q", got)
	}
	// Unmarked (nested) replies are merged by parsing them.
	m = mget(frag("s1", "*1\r\n*1\r\n:1\r\n", 1, 0), frag("s2", "*1\r\n$1\r\nx\r\n", 1, 0))
	m.KeyFrag = []uint32{1, 0}
	if got := string(Protocol{}.Merge(nil, m)); got != "*2\r\n$1\r\nx\r\n*1\r\n:1\r\n" {
		t.Fatalf("nested MGET merged %q", got)
	}
	m = mget(frag("s1", "*1\r\n$1\r\na\r\n", 2, hintMarks), frag("s2", "*1\r\n$1\r\nb\r\n", 1, hintMarks))
	m.KeyFrag = []uint32{0, 1, 0}
	if got := string(Protocol{}.Merge(nil, m)); got != "-ERR Invalid argument: s1: reply has the wrong number of elements\r\n" {
		t.Fatalf("short MGET reply: %q", got)
	}

	sum := &proto.Msg{Op: opSum, Frags: []*proto.Frag{frag("s1", ":2\r\n", 2, 0), frag("s2", ":1\r\n", 3, 0)}}
	if got := string(Protocol{}.Merge(nil, sum)); got != ":3\r\n" {
		t.Fatalf("DEL merged %q", got)
	}
	mset := &proto.Msg{Op: opMSet, Frags: []*proto.Frag{frag("s1", "+OK\r\n", 1, 0), frag("s2", "+OK\r\n", 1, 0)}}
	if got := string(Protocol{}.Merge(nil, mset)); got != "+OK\r\n" {
		t.Fatalf("MSET merged %q", got)
	}
	mset.Frags[1] = frag("s2", "-OOM command not allowed\r\n", 1, 0)
	if got := string(Protocol{}.Merge(nil, mset)); got != "-ERR Invalid argument: s2: OOM command not allowed\r\n" {
		t.Fatalf("MSET with a server error: %q", got)
	}
	mset.Frags[1] = &proto.Frag{Server: "s2"}
	mset.Frags[1].Err = errors.New("Connection refused")
	if got := string(Protocol{}.Merge(nil, mset)); got != "-ERR Invalid argument: s2: Connection refused\r\n" {
		t.Fatalf("MSET with a failed fragment: %q", got)
	}
}

// TestFramePair: a request sent with the MULTI that opens its transaction
// has its two replies framed as one, however the bytes arrive, and the
// client gets the second; the next reply is framed alone.
func TestFramePair(t *testing.T) {
	pair := "+OK\r\n*2\r\n$1\r\na\r\n+QUEUED\r\n"
	next := ":5\r\n"
	stream := pair + next
	for cut := 1; cut < len(stream); cut++ {
		fr := Protocol{}.NewFramer()
		r := &proto.Request{Hint: hintPreamble}
		n, err := fr.Frame(r, []byte(stream[:cut]))
		if err == nil && n == 0 {
			n, err = fr.Frame(r, []byte(stream))
		}
		if err != nil || n != len(pair) || r.Preamble != 5 {
			t.Fatalf("cut %d: Frame = %d, %v, preamble %d, want %d and MULTI's 5", cut, n, err, r.Preamble, len(pair))
		}
		r2 := &proto.Request{}
		if n, err := fr.Frame(r2, []byte(stream[n:])); err != nil || n != len(next) {
			t.Fatalf("cut %d: next reply framed as %d, %v", cut, n, err)
		}
	}
	m := &proto.Msg{Op: opTx, Aux: auxMulti}
	m.Reply, m.Preamble = []byte(pair), 5
	if got := string(Protocol{}.Reply(m)); got != pair[5:] {
		t.Errorf("Reply = %q, want %q", got, pair[5:])
	}
	m.Aux = auxMulti | auxAbort
	if got := string(Protocol{}.Reply(m)); got != "-"+errExecAbort+"\r\n" {
		t.Errorf("aborted Reply = %q", got)
	}
}
