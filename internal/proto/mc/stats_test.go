package mc

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// twoServers is a proxy with a pool of two servers, one ejected.
type twoServers struct{}

func (twoServers) Status(st *proto.Status) {
	*st = proto.Status{Version: "0.1", PID: 42, Start: time.Now().Add(-90 * time.Second), Pool: "mc",
		Clients: 3, TotalConnections: 9, Servers: []proto.ServerStatus{
			{Name: "s1", Addr: "127.0.0.1:1", Connections: 1, Requests: 10},
			{Name: "s2", Addr: "127.0.0.1:2", Ejected: true, Requests: 5, Errors: 4},
		}}
}

// decodeLine parses and decodes one request line.
func decodeLine(t *testing.T, s *proto.Settings, line string) (*Client, *proto.Msg, proto.Action) {
	t.Helper()
	c := &Client{}
	if n, err := c.Parse([]byte(line)); n != len(line) || err != nil {
		t.Fatalf("Parse(%q) = %d, %v", line, n, err)
	}
	m := &proto.Msg{}
	return c, m, c.Decode([]byte(line), m, s)
}

// TestStats: plain stats is the proxy's own document, in memcached's
// form; stats with a group is refused.
func TestStats(t *testing.T) {
	s := &proto.Settings{Status: twoServers{}}
	_, m, act := decodeLine(t, s, "stats\r\n")
	if act != proto.Answer {
		t.Fatalf("stats: %v", act)
	}
	doc := string(m.Local)
	if !regexp.MustCompile(`^(STAT [a-z_0-9]+ [^\r\n]*\r\n)+END\r\n$`).MatchString(doc) {
		t.Fatalf("stats is not STAT lines and END:\n%s", doc)
	}
	for _, want := range []string{
		"STAT pid 42\r\n", "STAT uptime 9", "STAT version 0.1\r\n", "STAT curr_connections 3\r\n",
		"STAT total_connections 9\r\n", "STAT pool mc\r\n", "STAT servers 2\r\n",
		"STAT server0 name=s1,addr=127.0.0.1:1,state=up,connections=1,requests=10,errors=0\r\n",
		"STAT server1 name=s2,addr=127.0.0.1:2,state=ejected,connections=0,requests=5,errors=4\r\n",
	} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(doc) {
			t.Errorf("stats lacks %q:\n%s", want, doc)
		}
	}
	_, m, act = decodeLine(t, s, "stats slabs\r\n")
	if act != proto.Answer || string(m.Local) != errStatsArgs+"\r\n" {
		t.Errorf("stats slabs: %v %q", act, m.Local)
	}
}

// TestFlushAll: flush_all goes to every server without noreply, whose
// OK the client then does not get, and is OK when every server said it.
func TestFlushAll(t *testing.T) {
	for _, tc := range []struct{ line, wire string }{
		{"flush_all\r\n", "flush_all\r\n"},
		{"flush_all 10\r\n", "flush_all 10\r\n"},
		{"flush_all noreply\r\n", "flush_all\r\n"},
		{"flush_all 0 noreply\r\n", "flush_all 0\r\n"},
	} {
		c, m, act := decodeLine(t, &proto.Settings{}, tc.line)
		if act != proto.FanOut {
			t.Fatalf("%q: %v", tc.line, act)
		}
		c.Encode(m, []byte(tc.line))
		if string(m.Wire) != tc.wire || m.Silent != (tc.wire != tc.line) {
			t.Errorf("%q: sent %q, silent %v", tc.line, m.Wire, m.Silent)
		}
	}
	merge := func(replies ...string) string {
		m := &proto.Msg{Op: uint16(KindFlushAll)}
		fr := Protocol{}.NewFramer()
		for i, reply := range replies {
			f := &proto.Frag{Server: "s" + string(rune('1'+i))}
			f.Hint = uint8(KindFlushAll)
			if reply == "" {
				f.Err = errors.New("Connection refused")
			} else {
				frameAll(t, fr, &f.Request, reply)
			}
			m.Frags = append(m.Frags, f)
		}
		return string(Protocol{}.Merge(nil, m))
	}
	for _, tc := range []struct {
		replies []string
		want    string
	}{
		{[]string{"OK\r\n", "OK\r\n"}, "OK\r\n"},
		{[]string{"OK\r\n", ""}, "SERVER_ERROR server s2: Connection refused\r\n"},
		{[]string{"SERVER_ERROR busy\r\n", "OK\r\n"}, "SERVER_ERROR server s1: SERVER_ERROR busy\r\n"},
		{nil, "SERVER_ERROR Connection refused\r\n"},
	} {
		if got := merge(tc.replies...); got != tc.want {
			t.Errorf("flush_all with %q: %q, want %q", tc.replies, got, tc.want)
		}
	}
}

// TestDenyCommands: a command the pool's deny_commands lists is refused.
func TestDenyCommands(t *testing.T) {
	s := &proto.Settings{Denied: []string{"flush_all"}}
	_, m, act := decodeLine(t, s, "flush_all\r\n")
	if want := "SERVER_ERROR command 'flush_all' is denied on this pool (deny_commands)\r\n"; act != proto.Answer || string(m.Local) != want {
		t.Errorf("denied flush_all: %v %q", act, m.Local)
	}
	if _, _, act := decodeLine(t, s, "get k\r\n"); act != proto.Forward {
		t.Errorf("get on a pool that denies flush_all: %v", act)
	}
}
