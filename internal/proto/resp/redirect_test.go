package resp

import (
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// TestRedirection reads a cluster's redirections, and only those.
func TestRedirection(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  proto.Redirect
	}{
		{"-MOVED 3999 127.0.0.1:6381\r\n", proto.Redirect{Kind: proto.RedirectMoved, Slot: 3999, Addr: "127.0.0.1:6381"}},
		{"-ASK 0 [::1]:7000\r\n", proto.Redirect{Kind: proto.RedirectAsk, Slot: 0, Addr: "[::1]:7000"}},
		{"-TRYAGAIN Multiple keys request during rehashing of slot\r\n", proto.Redirect{Kind: proto.RedirectRetry}},
		{"-CLUSTERDOWN The cluster is down\r\n", proto.Redirect{Kind: proto.RedirectRetry}},
		{"-MOVED 16384 127.0.0.1:6381\r\n", proto.Redirect{}},
		{"-MOVED x 127.0.0.1:6381\r\n", proto.Redirect{}},
		{"-MOVED 1 nohost\r\n", proto.Redirect{}},
		{"-MOVED 1\r\n", proto.Redirect{}},
		{"-ERR MOVED 1 127.0.0.1:1\r\n", proto.Redirect{}},
		{"$5\r\nMOVED\r\n", proto.Redirect{}},
		{"+OK\r\n", proto.Redirect{}},
	} {
		if got := (Protocol{}).Redirection([]byte(tc.reply)); got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.reply, got, tc.want)
		}
	}
}

// TestAsking: ASKING goes before the request, and the framer takes their
// replies as one, the request's after the preamble.
func TestAsking(t *testing.T) {
	get := appendCommand(nil, [][]byte{[]byte("GET"), []byte("k")})
	wire, hint := Protocol{}.Asking(nil, get)
	if string(wire) != "*1\r\n$6\r\nASKING\r\n"+string(get) {
		t.Fatalf("wire %q", wire)
	}
	r := &proto.Request{Wire: wire, Hint: hint}
	replies := "+OK\r\n$1\r\nv\r\n"
	if n, err := (Protocol{}).NewFramer().Frame(r, []byte(replies)); n != len(replies) || err != nil || r.Preamble != 5 {
		t.Fatalf("Frame = %d, %v, preamble %d", n, err, r.Preamble)
	}
}
