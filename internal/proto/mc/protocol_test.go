package mc

import (
	"errors"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// frameAll runs a framer over reply as a server connection does, for r,
// the reply arriving in two pieces.
func frameAll(t *testing.T, fr proto.Framer, r *proto.Request, reply string) {
	t.Helper()
	cut := len(reply) / 2
	if n, err := fr.Frame(r, []byte(reply[:cut])); n != 0 || err != nil {
		t.Fatalf("Frame(first half of %q) = %d, %v", reply, n, err)
	}
	n, err := fr.Frame(r, []byte(reply))
	if err != nil || n != len(reply) {
		t.Fatalf("Frame(%q) = %d, %v", reply, n, err)
	}
	r.Reply = []byte(reply)
}

// TestMergeFragments: the framer marks the VALUE blocks of each
// fragment's reply, and Merge joins them in request key order, matching
// keys to blocks (misses and repeated keys included), under one END.
func TestMergeFragments(t *testing.T) {
	var c Client
	frame := "gets a b c a d\r\n"
	if n, err := c.Parse([]byte(frame)); n != len(frame) || err != nil {
		t.Fatalf("Parse = %d, %v", n, err)
	}
	m := &proto.Msg{}
	if act := c.Decode([]byte(frame), m, &proto.Settings{}); act != proto.Split {
		t.Fatalf("Decode: %v", act)
	}
	// a (twice) and c on server 0, b and d on server 1.
	m.KeyFrag = []uint32{0, 1, 0, 0, 1}
	m.Frags = []*proto.Frag{{Server: "s0", NKeys: 3}, {Server: "s1", NKeys: 2}}
	c.Encode(m, []byte(frame))
	if got := string(m.Frags[0].Wire); got != "gets a c a\r\n" {
		t.Fatalf("fragment 0: %q", got)
	}
	if got := string(m.Frags[1].Wire); got != "gets b d\r\n" {
		t.Fatalf("fragment 1: %q", got)
	}
	fr := Protocol{}.NewFramer()
	frameAll(t, fr, &m.Frags[0].Request, "VALUE a 0 1 7\r\nA\r\nEND\r\n")                        // c missed
	frameAll(t, fr, &m.Frags[1].Request, "VALUE b 0 2 8\r\nBB\r\nVALUE d 1 1 9\r\nD\r\nEND\r\n") // a missed
	want := "VALUE a 0 1 7\r\nA\r\nVALUE b 0 2 8\r\nBB\r\nVALUE d 1 1 9\r\nD\r\nEND\r\n"
	if got := string(Protocol{}.Merge(nil, m)); got != want {
		t.Fatalf("merged %q, want %q", got, want)
	}
	if got := string(Protocol{}.Merge(nil, m)); got != want {
		t.Fatalf("merged again %q: the cursors are not reset", got)
	}

	frameAll(t, fr, &m.Frags[1].Request, "SERVER_ERROR out of memory\r\n")
	if len(m.Frags[1].Marks) != 0 {
		t.Fatalf("marks %v for an error line", m.Frags[1].Marks)
	}
	if got := string(Protocol{}.Merge(nil, m)); got != "SERVER_ERROR out of memory\r\n" {
		t.Fatalf("with a server error: %q", got)
	}
	m.Frags[1].Err = errors.New("Connection refused")
	if got := string(Protocol{}.Merge(nil, m)); got != "SERVER_ERROR Connection refused\r\n" {
		t.Fatalf("with a failed fragment: %q", got)
	}
}

// TestQuietRequest: a quiet meta request goes out fenced with mn, its
// reply is framed up to MN, and the client gets the reply without it.
func TestQuietRequest(t *testing.T) {
	var c Client
	frame := "ms k 1 q\r\nx\r\n"
	if n, err := c.Parse([]byte(frame)); n != len(frame) || err != nil {
		t.Fatalf("Parse = %d, %v", n, err)
	}
	m := &proto.Msg{}
	if act := c.Decode([]byte(frame), m, &proto.Settings{}); act != proto.Forward || string(m.Key) != "k" {
		t.Fatalf("Decode: %v, key %q", act, m.Key)
	}
	c.Encode(m, []byte(frame))
	if string(m.Wire) != frame+"mn\r\n" {
		t.Fatalf("wire %q", m.Wire)
	}
	fr := Protocol{}.NewFramer()
	for _, tc := range []struct{ reply, client string }{
		{"MN\r\n", ""},             // stored: nothing
		{"NS\r\nMN\r\n", "NS\r\n"}, // not stored: said
		{"CLIENT_ERROR bad\r\nMN\r\n", "CLIENT_ERROR bad\r\n"},
	} {
		frameAll(t, fr, &m.Request, tc.reply)
		if got := string(Protocol{}.Reply(m)); got != tc.client {
			t.Fatalf("reply %q: client gets %q, want %q", tc.reply, got, tc.client)
		}
	}
}
