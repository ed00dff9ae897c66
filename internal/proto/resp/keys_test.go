package resp

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// keysCases are requests of every shape of key spec, and their keys.
var keysCases = []struct {
	line  string
	keys  string // space-separated
	found keysFound
}{
	{"RENAME a b", "a b", keysOK},
	{"COPY a b DB 0 REPLACE", "a b", keysOK},
	{"LMOVE a b LEFT RIGHT", "a b", keysOK},
	{"SUNION a", "a", keysOK},
	{"SUNIONSTORE d a b c", "d a b c", keysOK},
	{"PFCOUNT a b", "a b", keysOK},
	{"BITOP AND d a b", "d a b", keysOK},
	{"MSETNX a 1 b 2", "a b", keysOK},
	{"MSETNX a 1 b", "a", keysMalformed},
	{"ZUNION 2 a b WEIGHTS 1 2", "a b", keysOK},
	{"ZUNIONSTORE d 2 a b AGGREGATE MAX", "d a b", keysOK},
	{"ZINTERCARD 1 a LIMIT 3", "a", keysOK},
	{"LMPOP 2 a b LEFT COUNT 2", "a b", keysOK},
	{"ZMPOP 1 a MIN", "a", keysOK},
	{"SINTERCARD 3 a b", "", keysMalformed},
	{"ZUNION x a", "", keysMalformed},
	{"ZUNION -1 a", "", keysMalformed},
	{"ZUNION 0 a", "", keysMalformed},
	{"ZUNIONSTORE d 0 a", "d", keysMalformed},
	{"EVAL s 0", "", keysOK},
	{"EVAL s 0 a", "", keysOK},
	{"EVAL s 2 a b c", "a b", keysOK},
	{"FCALL f 1 a x", "a", keysOK},
	{"EVALSHA s 3 a b", "", keysMalformed},
	{"SORT l", "l", keysOK},
	{"SORT l LIMIT 0 10 ALPHA DESC STORE d", "l d", keysOK},
	{"SORT l STORE d1 store d2", "l d2", keysOK},
	{"SORT l LIMIT store 1", "l", keysOK},
	{"SORT l BY nosort GET # STORE d", "l d", keysOK},
	{"SORT l BY w_*", "l", keysPattern},
	{"SORT l GET h_*->f", "l", keysPattern},
	{"SORT_RO l BY w_* ", "l", keysPattern},
	{"SORT l BY {u}w_* GET {u}h_*->f STORE d", "l {u}w_* {u}h_*->f d", keysOK},
	{"SORT l BY w_{u}*", "l w_{u}*", keysOK},
	{"SORT l BY {}w_*", "l", keysPattern},
	{"SORT l BY {u*}", "l", keysPattern},
	{"SORT l BY w*{u}", "l", keysPattern},
	{"SORT l GET {u", "l", keysOK},
	{"GEORADIUS g 1 2 3 km", "g", keysOK},
	{"GEORADIUS g 1 2 3 km COUNT 3 STORE d", "g d", keysOK},
	{"GEORADIUS g 1 2 3 km STORE d1 STOREDIST d2", "g d1 d2", keysOK},
	{"GEORADIUSBYMEMBER g store 3 km", "g", keysOK},
	{"GEORADIUSBYMEMBER g m 3 km storedist d", "g d", keysOK},
	{"GEOSEARCHSTORE d g FROMMEMBER m BYRADIUS 1 km", "d g", keysOK},
	{"XREAD STREAMS a b 0 0", "a b", keysOK},
	{"XREAD COUNT 2 streams a 0", "a", keysOK},
	{"XREAD BLOCK 0 STREAMS a 0", "", keysBlocking},
	{"XREAD STREAMS a b 0", "", keysMalformed},
	{"XREAD COUNT 2 a 0", "", keysMalformed},
	{"XREADGROUP GROUP g c NOACK COUNT 1 STREAMS a b > >", "a b", keysOK},
	{"XREADGROUP GROUP g c BLOCK 10 STREAMS a >", "", keysBlocking},
	{"LCS a b", "a b", keysOK},
	{"RPOPLPUSH a b", "a b", keysOK},
	{"RENAMENX a b", "a b", keysOK},
	{"SMOVE a b m", "a b", keysOK},
	{"ZRANGESTORE d a 0 -1", "d a", keysOK},
	{"SDIFF a b", "a b", keysOK},
	{"SDIFFSTORE d a b", "d a b", keysOK},
	{"SINTER a b", "a b", keysOK},
	{"SINTERSTORE d a", "d a", keysOK},
	{"SUNIONSTORE d a", "d a", keysOK},
	{"PFMERGE d a b", "d a b", keysOK},
	{"ZDIFF 2 a b", "a b", keysOK},
	{"ZINTER 2 a b", "a b", keysOK},
	{"ZDIFFSTORE d 1 a", "d a", keysOK},
	{"ZINTERSTORE d 2 a b WEIGHTS 1 2", "d a b", keysOK},
	{"EVAL_RO s 1 a", "a", keysOK},
	{"EVALSHA_RO s 2 a b", "a b", keysOK},
	{"FCALL_RO f 2 a b x", "a b", keysOK},
	{"SORT_RO l ALPHA", "l", keysOK},
}

// TestKeysOf checks where every shape of key spec finds its keys, for
// every command with a key spec.
func TestKeysOf(t *testing.T) {
	tried := map[string]bool{}
	for _, c := range keysCases {
		tried[strings.ToLower(strings.Fields(c.line)[0])] = true
		args := splitArgs(c.line)
		spec, ok := keySpecs[strings.ToLower(string(args[0]))]
		if !ok {
			t.Fatalf("%s: no key spec", c.line)
		}
		keys, found := keysOf(nil, &spec, args, "{}")
		if got := string(joinArgs(keys)); found != c.found || found != keysMalformed && got != c.keys {
			t.Errorf("%s: keys %q (%d), want %q (%d)", c.line, got, found, c.keys, c.found)
		}
	}
	for name := range keySpecs {
		if !tried[name] {
			t.Errorf("%s: no case", name)
		}
	}
}

// TestKeysOfMatchesRedis compares the keys found with those COMMAND
// GETKEYS of a live Redis 7 finds.
func TestKeysOfMatchesRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	cl := testutil.Dial(t, testutil.StartRedis(t).Addr)
	lines := map[string]string{}
	for _, c := range keysCases {
		// Redis refuses the command, finds no key, or none of SORT's patterns.
		if c.found == keysOK && c.keys != "" && !strings.Contains(c.line, "*") {
			lines[c.line] = c.keys
		}
	}
	for _, line := range []string{"OBJECT ENCODING k", "XINFO STREAM k FULL", "XGROUP SETID k g $", "MEMORY USAGE k SAMPLES 5"} {
		args := splitArgs(line)
		key, _ := subcommandKey(Lookup(args[0]), args)
		lines[line] = string(key)
	}
	for line, want := range lines {
		reply := cl.Do(append([]string{"COMMAND", "GETKEYS"}, strings.Fields(line)...)...)
		elems, err := ArrayElems([]byte(reply), nil)
		if err != nil {
			t.Errorf("%s: COMMAND GETKEYS replied %q", line, reply)
			continue
		}
		var keys [][]byte
		for _, e := range elems {
			keys = append(keys, e[bytes.IndexByte(e, '\n')+1:len(e)-2]) // $n\r\nkey\r\n
		}
		if got := string(joinArgs(keys)); got != want {
			t.Errorf("%s: redis finds keys %q, the proxy %q", line, got, want)
		}
	}
}

func TestSubcommandKey(t *testing.T) {
	for _, c := range []struct{ line, key, err string }{
		{"OBJECT ENCODING k", "k", ""},
		{"object freq k", "k", ""},
		{"OBJECT HELP", "", ""},
		{"OBJECT ENCODING", "", ""},
		{"OBJECT BOGUS k", "", ""},
		{"XINFO STREAM k FULL", "k", ""},
		{"XGROUP CREATE k g $ MKSTREAM", "k", ""},
		{"MEMORY USAGE k SAMPLES 5", "k", ""},
		{"MEMORY DOCTOR", "", "ERR 'memory doctor' is a Redis command this proxy does not serve"},
		{"MEMORY malloc-STATS", "", "ERR 'memory malloc-stats' is a Redis command this proxy does not serve"},
	} {
		args := splitArgs(c.line)
		key, err := subcommandKey(Lookup(args[0]), args)
		if string(key) != c.key || err != c.err {
			t.Errorf("%s: key %q, error %q; want %q, %q", c.line, key, err, c.key, c.err)
		}
	}
}

// letterRouter places a key on the server its first letter says: "a..."
// on 0, "b..." on 1; no server is live for a key starting with "x".
type letterRouter struct{}

func (letterRouter) ServerOf(key []byte) int {
	if len(key) == 0 || key[0] == 'x' {
		return -1
	}
	return int(key[0]-'a') % 2
}
func (letterRouter) NumServers() int { return 2 }

// decodeLine parses and decodes one request written as words.
func decodeLine(t testing.TB, c *Client, m *proto.Msg, s *proto.Settings, line string) proto.Action {
	t.Helper()
	frame := appendCommand(nil, splitArgs(line))
	if n, err := c.Parse(frame); n != len(frame) || err != nil {
		t.Fatalf("%s: Parse = %d, %v", line, n, err)
	}
	return c.Decode(frame, m, s)
}

// TestDecodeTogether checks how commands with several keys, subcommands,
// blocking and pub/sub commands are routed or refused.
func TestDecodeTogether(t *testing.T) {
	s := &proto.Settings{Router: letterRouter{}, KeyLimit: 10, HashTag: "{}"}
	apart := "-" + errApart("sunion") + "\r\n"
	for _, c := range []struct {
		line   string
		act    proto.Action
		target int    // of ForwardTo
		local  string // of Answer
	}{
		{line: "SUNION a1 a2 c3", act: proto.ForwardTo, target: 0},
		{line: "SUNION b1 d2", act: proto.ForwardTo, target: 1},
		{line: "SUNION a1 b2", act: proto.Answer, local: apart},
		{line: "SUNION a1 x2", act: proto.Answer, local: "-ERR Connection refused\r\n"},
		{line: "SUNION a1 a123456789", act: proto.Answer,
			local: "-ERR key too long for 'sunion' command: 10 bytes, the limit is 9\r\n"},
		{line: "EVAL s 2 b1 d1 a1", act: proto.ForwardTo, target: 1},
		{line: "EVAL s 0", act: proto.Answer, local: "-ERR eval with no keys cannot be routed by the proxy\r\n"},
		{line: "EVAL s -1", act: proto.ForwardAny},
		{line: "ZUNIONSTORE a 2 c e", act: proto.ForwardTo, target: 0},
		{line: "ZUNIONSTORE a 2 c f", act: proto.Answer, local: "-" + errApart("zunionstore") + "\r\n"},
		{line: "MSETNX a 1 b", act: proto.ForwardAny},
		{line: "XREAD COUNT 1 STREAMS b d 0 0", act: proto.ForwardTo, target: 1},
		{line: "XREAD BLOCK 0 STREAMS b 0", act: proto.Answer, local: "-" + errBlocking("'xread' with BLOCK") + "\r\n"},
		{line: "SORT a BY w_*", act: proto.Answer, local: "-ERR 'sort' with a BY or GET pattern reads keys " +
			"made from its elements, which may live on any server: a pattern with a hash tag before its '*' keeps them on one\r\n"},
		{line: "SORT b BY d{t}_* STORE f", act: proto.ForwardTo, target: 1},
		{line: "SORT b BY c{t}_* STORE d", act: proto.Answer, local: "-" + errApart("sort") + "\r\n"},
		{line: "OBJECT ENCODING b", act: proto.Forward},
		{line: "OBJECT HELP", act: proto.ForwardAny},
		{line: "BLPOP a 0", act: proto.Answer, local: "-ERR 'blpop' blocks, which the proxy does not serve yet: " +
			"a blocking command needs a server connection of its own\r\n"},
		{line: "SUBSCRIBE ch", act: proto.Answer, local: "-ERR 'subscribe' is pub/sub, which the proxy does not " +
			"serve yet: pub/sub needs a server connection of its own\r\n"},
		{line: "XADD a * f v", act: proto.Forward},
	} {
		cl := &Client{authed: true}
		m := &proto.Msg{}
		act := decodeLine(t, cl, m, s, c.line)
		if act != c.act || act == proto.ForwardTo && m.Target != c.target || string(m.Local) != c.local {
			t.Errorf("%s: action %d target %d local %q; want %d %d %q", c.line, act, m.Target, m.Local, c.act, c.target, c.local)
		}
		if slices.ContainsFunc(cl.keys[:cap(cl.keys)], func(k []byte) bool { return k != nil }) {
			t.Errorf("%s: the scratch keeps keys", c.line)
		}
	}
}

// oneServer is a pool of one server.
type oneServer struct{}

func (oneServer) ServerOf([]byte) int { return 0 }
func (oneServer) NumServers() int     { return 1 }

// TestSortPatternOneServer: in a pool of one server, the keys of any SORT
// pattern live there.
func TestSortPatternOneServer(t *testing.T) {
	m := &proto.Msg{}
	if act := decodeLine(t, &Client{authed: true}, m, &proto.Settings{Router: oneServer{}}, "SORT l BY w_* STORE d"); act != proto.ForwardTo || m.Target != 0 {
		t.Fatalf("action %d target %d local %q", act, m.Target, m.Local)
	}
}

// TestTogetherInTransaction checks that commands with several keys are
// queued on the transaction's server, or refused, which aborts it.
func TestTogetherInTransaction(t *testing.T) {
	s := &proto.Settings{Router: letterRouter{}}
	for _, c := range []struct {
		lines  []string // after MULTI
		target int      // of the last, -1: refused
		local  string
	}{
		{lines: []string{"RENAME b d"}, target: 1},
		{lines: []string{"SET a 1", "RENAME a c"}, target: 0},
		{lines: []string{"SET a 1", "RENAME b d"}, target: -1,
			local: "-ERR 'rename' uses a key of another server than the transaction's first key: " +
				"a transaction runs on one server, and a hash tag puts its keys there\r\n"},
		{lines: []string{"RENAME a b"}, target: -1, local: "-" + errApart("rename") + "\r\n"},
		{lines: []string{"SET b 1", "ZUNION x a"}, target: 1}, // Redis's error, in EXEC's reply
		{lines: []string{"ZUNION 0 a"}, target: -1,
			local: "-ERR 'zunion' has no key: in a transaction the proxy queues only commands whose keys are on one server\r\n"},
		{lines: []string{"SET b 1", "OBJECT ENCODING d"}, target: 1},
		{lines: []string{"SET b 1", "OBJECT HELP"}, target: 1},
		{lines: []string{"BRPOP a 0"}, target: -1, local: "-" + errBlocking("'brpop'") + "\r\n"},
		{lines: []string{"PUBLISH ch m"}, target: -1, local: "-" + errPubSub("publish") + "\r\n"},
	} {
		cl := &Client{authed: true}
		if act := decodeLine(t, cl, &proto.Msg{}, s, "MULTI"); act != proto.Answer {
			t.Fatalf("MULTI: %d", act)
		}
		var m *proto.Msg
		var act proto.Action
		for _, line := range c.lines {
			m = &proto.Msg{}
			act = decodeLine(t, cl, m, s, line)
		}
		got := -1
		if act == proto.ForwardTo {
			got = m.Target
		}
		if got != c.target || string(m.Local) != c.local || (got < 0) != cl.tx.aborted {
			t.Errorf("%q: target %d local %q aborted %v; want %d %q", c.lines, got, m.Local, cl.tx.aborted, c.target, c.local)
		}
	}
}

// TestTogetherNoAlloc: routing a command with several keys allocates
// nothing once the client's scratch has grown.
func TestTogetherNoAlloc(t *testing.T) {
	s := &proto.Settings{Router: letterRouter{}}
	frames := [][]byte{
		appendCommand(nil, splitArgs("SUNIONSTORE a c e g")),
		appendCommand(nil, splitArgs("EVALSHA sha 2 b d x")),
		appendCommand(nil, splitArgs("XREAD COUNT 5 STREAMS a c 0 0")),
	}
	cl := &Client{authed: true}
	m := &proto.Msg{}
	if a := testing.AllocsPerRun(100, func() {
		for _, frame := range frames {
			cl.Parse(frame)
			if act := cl.Decode(frame, m, s); act != proto.ForwardTo {
				t.Fatalf("%q: %d", frame, act)
			}
		}
	}); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}

func splitArgs(line string) [][]byte {
	var args [][]byte
	for _, w := range strings.Fields(line) {
		args = append(args, []byte(w))
	}
	return args
}

func joinArgs(args [][]byte) []byte {
	var out []byte
	for i, a := range args {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, a...)
	}
	return out
}

// FuzzDecodeKeys decodes any arguments after the name of a command with
// keys together or a subcommand, outside and inside a transaction: no
// crash, and a request is refused, answered, or routed to a server of the
// pool.
func FuzzDecodeKeys(f *testing.F) {
	for _, c := range keysCases {
		f.Add(c.line, false)
	}
	f.Add("OBJECT ENCODING k", true)
	f.Add("MEMORY DOCTOR", false)
	f.Fuzz(func(t *testing.T, line string, inMulti bool) {
		args := splitArgs(line)
		if len(args) == 0 {
			return
		}
		if cmd := Lookup(args[0]); cmd == nil || cmd.Kind != KindTogether && cmd.Kind != KindSubcmd {
			return
		}
		cl := &Client{authed: true, tx: tx{multi: inMulti}}
		m := &proto.Msg{}
		frame := appendCommand(nil, args)
		if n, err := cl.Parse(frame); n != len(frame) || err != nil {
			t.Fatalf("%q: Parse = %d, %v", line, n, err)
		}
		switch act := cl.Decode(frame, m, &proto.Settings{Router: letterRouter{}}); act {
		case proto.ForwardTo:
			if m.Target < 0 || m.Target > 1 {
				t.Fatalf("%q: to server %d", line, m.Target)
			}
		case proto.Answer:
			if len(m.Local) == 0 || m.Local[0] != '-' {
				t.Fatalf("%q: answered %q", line, m.Local)
			}
		}
	})
}
