package resp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto"
)

// fixedRouter is a pool of n servers whose keys all go to server 0.
type fixedRouter int

func (fixedRouter) ServerOf([]byte) int { return 0 }
func (r fixedRouter) NumServers() int   { return int(r) }

// fixedStatus is a proxy of two servers, one of them ejected.
type fixedStatus struct{}

func (fixedStatus) Status(st *proto.Status) {
	*st = proto.Status{Version: "0.1", PID: 42, Start: time.Now().Add(-90 * time.Second), Pool: "alpha",
		Clients: 3, TotalConnections: 9, DB: 2, Servers: []proto.ServerStatus{
			{Name: "s1", Addr: "127.0.0.1:1", Connections: 1, Requests: 10},
			{Name: "s2", Addr: "127.0.0.1:2", Ejected: true, Requests: 5, Errors: 4},
		}}
}

// decodeArgs decodes the command args as a client of a pool of two
// servers would send it.
func decodeArgs(t testing.TB, s *proto.Settings, args ...string) (*proto.Msg, proto.Action) {
	t.Helper()
	c, frame := parsedClient(t, s, args...)
	m := &proto.Msg{}
	act := c.Decode(frame, m, s)
	if act == proto.FanOut || act == proto.ForwardTo {
		c.Encode(m, frame)
	}
	return m, act
}

var twoServers = &proto.Settings{Router: fixedRouter(2), Status: fixedStatus{}}

// fanOutMerge decodes args and merges the replies of its fragments ("":
// the server failed) for a RESP2 client.
func fanOutMerge(t *testing.T, args []string, replies ...string) string {
	t.Helper()
	return fanOutMergeIn(t, 0, args, replies...)
}

// fanOutMergeIn is fanOutMerge for a client of the dialect.
func fanOutMergeIn(t *testing.T, dialect uint8, args []string, replies ...string) string {
	t.Helper()
	m, act := decodeArgs(t, twoServers, args...)
	if act != proto.FanOut {
		t.Fatalf("%q: action %v, local %q", args, act, m.Local)
	}
	m.Dialect = dialect
	fr := Protocol{}.NewFramer()
	for i, reply := range replies {
		f := &proto.Frag{Server: "s" + string(rune('1'+i))}
		f.Wire, f.Hint = m.Wire, m.Hint
		if reply == "" {
			f.Err = errors.New("Connection refused")
		} else {
			frame(t, fr, &f.Request, reply)
		}
		m.Frags = append(m.Frags, f)
	}
	return string(Protocol{}.Merge(nil, m))
}

// TestFanOutMerge merges every fan-out command's replies, and the errors
// of failed servers.
func TestFanOutMerge(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		replies []string
		want    string
	}{
		{[]string{"DBSIZE"}, []string{":2\r\n", ":3\r\n"}, ":5\r\n"},
		{[]string{"dbsize"}, []string{":2\r\n", ""}, "-ERR server s2: Connection refused\r\n"},
		{[]string{"DBSIZE"}, []string{"+OK\r\n", ":3\r\n"}, "-ERR server s1: resp: invalid integer reply\r\n"},
		{[]string{"KEYS", "*"}, []string{"*1\r\n$1\r\na\r\n", "*2\r\n$1\r\nb\r\n$2\r\ncc\r\n"}, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$2\r\ncc\r\n"},
		{[]string{"KEYS", "*"}, []string{"*0\r\n", "*0\r\n"}, "*0\r\n"},
		{[]string{"KEYS", "*"}, []string{"*0\r\n", "-LOADING Redis is loading\r\n"}, "-ERR server s2: LOADING Redis is loading\r\n"},
		{[]string{"RANDOMKEY"}, []string{"$-1\r\n", "$-1\r\n"}, "$-1\r\n"},
		{[]string{"RANDOMKEY"}, []string{"$-1\r\n", "$1\r\nk\r\n"}, "$1\r\nk\r\n"},
		{[]string{"FLUSHALL"}, []string{"+OK\r\n", "+OK\r\n"}, "+OK\r\n"},
		{[]string{"FLUSHDB", "ASYNC"}, []string{"+OK\r\n", ":1\r\n"}, "-ERR server s2: unexpected reply\r\n"},
		// An error every server gives is the client's: passed on as Redis says it.
		{[]string{"FLUSHALL", "x"}, []string{"-ERR syntax error\r\n", "-ERR syntax error\r\n"}, "-ERR syntax error\r\n"},
		{[]string{"SCRIPT", "LOAD", "return 1"}, []string{"$2\r\nab\r\n", "$2\r\nab\r\n"}, "$2\r\nab\r\n"},
		{[]string{"SCRIPT", "LOAD", "return 1"}, []string{"$2\r\nab\r\n", "$2\r\nxy\r\n"}, "-ERR server s2: its reply differs from s1's\r\n"},
		{[]string{"script", "exists", "a", "b", "c"}, []string{"*3\r\n:1\r\n:1\r\n:0\r\n", "*3\r\n:1\r\n:0\r\n:0\r\n"}, "*3\r\n:1\r\n:0\r\n:0\r\n"},
		{[]string{"SCRIPT", "EXISTS", "a"}, []string{"*1\r\n:1\r\n", "*2\r\n:1\r\n:1\r\n"}, "-ERR server s2: reply has the wrong number of elements\r\n"},
		{[]string{"SCRIPT", "FLUSH"}, []string{"+OK\r\n", "+OK\r\n"}, "+OK\r\n"},
	} {
		if got := fanOutMerge(t, tc.args, tc.replies...); got != tc.want {
			t.Errorf("%q with %q: %q, want %q", tc.args, tc.replies, got, tc.want)
		}
	}
	// RANDOMKEY picks among the servers that have a key.
	seen := map[string]bool{}
	for i := 0; i < 100 && len(seen) < 2; i++ {
		seen[fanOutMerge(t, []string{"RANDOMKEY"}, "$1\r\na\r\n", "$-1\r\n", "$1\r\nb\r\n")] = true
	}
	if !seen["$1\r\na\r\n"] || !seen["$1\r\nb\r\n"] || len(seen) != 2 {
		t.Errorf("RANDOMKEY picked %v", seen)
	}
}

// TestFanOutRefused: subcommands and arguments the proxy refuses itself.
func TestFanOutRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SCRIPT", "KILL"}, "-ERR SCRIPT KILL is not supported by the proxy: send it to the server that runs the script\r\n"},
		{[]string{"SCRIPT", "foo"}, "-ERR unknown subcommand 'foo'. Try SCRIPT HELP.\r\n"},
		{[]string{"SCRIPT", "LOAD"}, "-ERR wrong number of arguments for 'script|load' command\r\n"},
		{[]string{"SCRIPT", "EXISTS"}, "-ERR wrong number of arguments for 'script|exists' command\r\n"},
		{[]string{"SCAN", "x"}, "-ERR invalid cursor\r\n"},
		{[]string{"SCAN", "-1"}, "-ERR invalid cursor\r\n"},
		{[]string{"SCAN", "562949953421312"}, "-ERR invalid cursor\r\n"}, // server 2 of 2
		{[]string{"FLUSHALL"}, "-ERR command 'flushall' is denied on this pool (deny_commands)\r\n"},
	} {
		s := &proto.Settings{Router: fixedRouter(2), Denied: []string{"keys", "flushall"}}
		m, act := decodeArgs(t, s, tc.args...)
		if act != proto.Answer || string(m.Local) != tc.want {
			t.Errorf("%q: %v %q, want %q", tc.args, act, m.Local, tc.want)
		}
	}
}

// TestScanCursor: the cursor names the server, the server gets its own
// cursor, and the reply's cursor moves on to the next server when the
// server's scan ends, and to 0 after the last.
func TestScanCursor(t *testing.T) {
	server1 := "281474976710656" // 1<<48
	for _, tc := range []struct {
		cursor     string
		target     int
		wire       string
		reply      string
		wantCursor string
	}{
		{"0", 0, "0", "*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n", "17"},
		{"17", 0, "17", "*2\r\n$1\r\n0\r\n*0\r\n", server1},
		{server1, 1, "0", "*2\r\n$1\r\n5\r\n*0\r\n", "281474976710661"},
		{"281474976710661", 1, "5", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nb\r\n", "0"},
	} {
		m, act := decodeArgs(t, twoServers, "SCAN", tc.cursor, "MATCH", "k*", "COUNT", "2")
		if act != proto.ForwardTo || m.Target != tc.target {
			t.Fatalf("SCAN %s: %v to %d, want server %d", tc.cursor, act, m.Target, tc.target)
		}
		wantWire := string(appendCommand(nil, [][]byte{[]byte("SCAN"), []byte(tc.wire), []byte("MATCH"), []byte("k*"), []byte("COUNT"), []byte("2")}))
		if string(m.Wire) != wantWire {
			t.Errorf("SCAN %s: sent %q, want %q", tc.cursor, m.Wire, wantWire)
		}
		m.Reply = []byte(tc.reply)
		got := string(Protocol{}.Reply(m))
		elems, err := ArrayElems([]byte(got), nil)
		if err != nil || len(elems) != 2 || string(elems[0]) != string(AppendBulkString(nil, tc.wantCursor)) ||
			!strings.HasSuffix(tc.reply, string(elems[1])) {
			t.Errorf("SCAN %s: reply %q for %q, want cursor %s", tc.cursor, got, tc.reply, tc.wantCursor)
		}
	}
	m, _ := decodeArgs(t, twoServers, "SCAN", "0")
	for _, reply := range []string{"-ERR syntax error\r\n", "*2\r\n:1\r\n*0\r\n"} {
		m.Reply = []byte(reply)
		if got := string(Protocol{}.Reply(m)); got != reply {
			t.Errorf("SCAN reply %q passed on as %q", reply, got)
		}
	}
	m.Reply = []byte("*2\r\n$15\r\n281474976710656\r\n*0\r\n")
	if got := string(Protocol{}.Reply(m)); !strings.HasPrefix(got, "-ERR") {
		t.Errorf("a server cursor of 49 bits: %q", got)
	}
}

// TestInfo: the proxy's document, with the lowest version of the
// servers and their keyspace of the pool's database (redis_db 2) as db0.
func TestInfo(t *testing.T) {
	s1 := "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Keyspace\r\ndb0:keys=9,expires=9,avg_ttl=9\r\ndb2:keys=3,expires=1,avg_ttl=1000\r\n"
	s2 := "# Server\r\nredis_version:7.0.9\r\n\r\n# Keyspace\r\ndb2:keys=4,expires=3,avg_ttl=2000\r\n"
	bulk := func(s string) string { return string(AppendBulkString(nil, s)) }
	got := fanOutMerge(t, []string{"INFO"}, bulk(s1), bulk(s2))
	body, ok := blobBody([]byte(got), '$')
	if !ok {
		t.Fatalf("INFO: not a bulk string: %q", got)
	}
	doc := string(body)
	for _, want := range []string{
		"# Server\r\nredis_version:7.0.9\r\nredis_mode:standalone\r\n", "process_id:42\r\n", "uptime_in_seconds:9",
		"\r\n\r\n# Clients\r\nconnected_clients:3\r\n", "# Persistence\r\nloading:0\r\n",
		"total_commands_processed:15\r\n", "# Proxy\r\npool:alpha\r\nservers:2\r\n",
		"server0:name=s1,addr=127.0.0.1:1,state=up,connections=1,requests=10,errors=0\r\n",
		"server1:name=s2,addr=127.0.0.1:2,state=ejected,connections=0,requests=5,errors=4\r\n",
		"\r\n\r\n# Keyspace\r\ndb0:keys=7,expires=4,avg_ttl=1750\r\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("INFO lacks %q:\n%s", want, doc)
		}
	}
	if !strings.HasSuffix(doc, "avg_ttl=1750\r\n") {
		t.Errorf("INFO does not end with the keyspace:\n%s", doc)
	}
	if got := fanOutMerge(t, []string{"INFO", "keyspace"}, bulk(s2), bulk(s2)); got != bulk("# Keyspace\r\ndb0:keys=8,expires=6,avg_ttl=2000\r\n") {
		t.Errorf("INFO keyspace: %q", got)
	}
	// A server that does not answer is left out, and named.
	got = fanOutMerge(t, []string{"INFO"}, bulk(s1), "-ERR x\r\n")
	if !strings.Contains(got, "redis_version:7.0.15\r\n") || !strings.Contains(got, "\r\nunanswered:s2\r\n\r\n# Keyspace\r\n") {
		t.Errorf("INFO with an error from s2: %q", got)
	}
	got = fanOutMerge(t, []string{"INFO", "server"}, "-ERR x\r\n", "-ERR y\r\n")
	if want := "# Server\r\nredis_version:" + helloVersion + "\r\n"; !strings.HasPrefix(got[strings.Index(got, "\n")+1:], want) || strings.Contains(got, "unanswered") {
		t.Errorf("INFO server with no server answering: %q", got)
	}
	// The sections the proxy knows alone are answered at once.
	m, act := decodeArgs(t, twoServers, "INFO", "clients", "persistence")
	if act != proto.Answer || string(m.Local) != bulk("# Clients\r\nconnected_clients:3\r\n\r\n# Persistence\r\nloading:0\r\n") {
		t.Errorf("INFO clients persistence: %v %q", act, m.Local)
	}
	m, act = decodeArgs(t, twoServers, "INFO", "nosuch")
	if act != proto.Answer || string(m.Local) != "$0\r\n\r\n" {
		t.Errorf("INFO nosuch: %v %q", act, m.Local)
	}
}

func TestVersionLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"7.0.9", "7.0.15", true}, {"7.0.15", "7.0.9", false}, {"6.2", "6.2.1", true}, {"7.0.0", "7.0.0", false}} {
		if got := versionLess([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("versionLess(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}
