package cluster

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
)

// The testdata replies are what Redis 7.0 sent for a cluster of masters
// 127.0.0.1:30001-30003 with replicas 30004-30006 (30004 of 30001, 30005
// of 30002, 30006 of 30003), just after it was created, the replicas
// still loading, and after 30003 was killed and 30006 promoted. The -tls
// ones are what a cluster of the same shape with tls-cluster yes sent to
// a client connected with TLS, each node with its plaintext port and its
// TLS port 10 above (30011-30016), the replicas online.

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describe is m as sorted lines "master replicas: ranges".
func describe(m *Map) []string {
	var out []string
	for _, s := range m.Shards {
		var ranges []string
		for _, r := range s.Slots {
			ranges = append(ranges, itoa(r[0])+"-"+itoa(r[1]))
		}
		out = append(out, s.Master+" "+strings.Join(s.Replicas, ",")+": "+strings.Join(ranges, " "))
	}
	slices.Sort(out)
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseRealReplies(t *testing.T) {
	// The replicas were still loading: neither reply names them.
	before := []string{
		"127.0.0.1:30001 : 0-5460",
		"127.0.0.1:30002 : 5461-10922",
		"127.0.0.1:30003 : 10923-16383",
	}
	after := []string{
		"127.0.0.1:30001 127.0.0.1:30004: 0-5460",
		"127.0.0.1:30002 127.0.0.1:30005: 5461-10922",
		"127.0.0.1:30006 : 10923-16383",
	}
	tlsPorts := []string{
		"127.0.0.1:30011 127.0.0.1:30014: 0-5460",
		"127.0.0.1:30012 127.0.0.1:30015: 5461-10922",
		"127.0.0.1:30013 127.0.0.1:30016: 10923-16383",
	}
	plainPorts := []string{
		"127.0.0.1:30001 127.0.0.1:30004: 0-5460",
		"127.0.0.1:30002 127.0.0.1:30005: 5461-10922",
		"127.0.0.1:30003 127.0.0.1:30006: 10923-16383",
	}
	for _, tt := range []struct {
		file  string
		parse func([]byte, string) (*Map, error)
		want  []string
	}{
		{"shards.resp", parseShardsPlain, before},
		{"slots.resp", parseSlots, before},
		{"shards-failover.resp", parseShardsPlain, after},
		{"slots-failover.resp", parseSlots, after},
		{"shards-tls.resp", parseShardsTLS, tlsPorts},
		{"shards-tls.resp", parseShardsPlain, plainPorts},
		{"slots-tls.resp", parseSlots, tlsPorts},
	} {
		reply := readTestdata(t, tt.file)
		if n, err := resp.ReplyLen(reply); n != len(reply) || err != nil {
			t.Fatalf("%s is not one complete reply: %d of %d bytes, %v", tt.file, n, len(reply), err)
		}
		m, err := tt.parse(reply, "10.0.0.1")
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if got := describe(m); !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.file, got, tt.want)
		}
	}
}

// checkMap fails the test where m breaks its own invariants: owners index
// shards, each shard's ranges are exactly its slots, none is empty.
func checkMap(t *testing.T, m *Map) {
	t.Helper()
	count := make([]int, len(m.Shards))
	for slot, o := range m.Owner {
		if o < -1 || int(o) >= len(m.Shards) {
			t.Fatalf("slot %d: owner %d of %d shards", slot, o, len(m.Shards))
		}
		if o >= 0 {
			count[o]++
		}
	}
	for i, s := range m.Shards {
		n := 0
		for _, r := range s.Slots {
			for slot := r[0]; slot <= r[1]; slot++ {
				if m.Owner[slot] != int16(i) {
					t.Fatalf("shard %d lists slot %d, owned by %d", i, slot, m.Owner[slot])
				}
				n++
			}
		}
		if n != count[i] || n == 0 {
			t.Fatalf("shard %d lists %d slots, owns %d", i, n, count[i])
		}
	}
	if !m.Equal(m) || len(m.Masters()) != len(m.Shards) {
		t.Fatal("map unequal to itself or masters miscounted")
	}
}

// fuzzParser feeds a parser every complete reply the fuzzer makes, seeded
// with real ones.
func fuzzParser(f *testing.F, parse func([]byte, string) (*Map, error), seeds ...string) {
	for _, name := range seeds {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("*0\r\n"))
	f.Add([]byte("*1\r\n*3\r\n:0\r\n:0\r\n*2\r\n$0\r\n\r\n:7000\r\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		if n, err := resp.ReplyLen(reply); err != nil || n != len(reply) {
			return // Fetch parses only one complete reply
		}
		m, err := parse(reply, "127.0.0.1")
		if err != nil {
			return
		}
		checkMap(t, m)
	})
}

// parseShardsPlain and parseShardsTLS read CLUSTER SHARDS for a client
// in plaintext and one with TLS.
func parseShardsPlain(r []byte, host string) (*Map, error) { return parseShards(r, host, false) }
func parseShardsTLS(r []byte, host string) (*Map, error)   { return parseShards(r, host, true) }

func FuzzShards(f *testing.F) {
	fuzzParser(f, parseShardsPlain, "shards.resp", "shards-failover.resp", "shards-tls.resp")
}

func FuzzShardsTLS(f *testing.F) {
	fuzzParser(f, parseShardsTLS, "shards-tls.resp")
}

func FuzzSlots(f *testing.F) {
	fuzzParser(f, parseSlots, "slots.resp", "slots-failover.resp")
}

// RESP2 encoders for hand-made replies.
func arr(elems ...string) string { return "*" + itoa(len(elems)) + "\r\n" + strings.Join(elems, "") }
func str(s string) string        { return "$" + itoa(len(s)) + "\r\n" + s + "\r\n" }
func num(n int) string           { return ":" + itoa(n) + "\r\n" }

// slotsNodeReply is a node of a CLUSTER SLOTS range.
func slotsNodeReply(ip string, port int) string { return arr(str(ip), num(port), str("id")) }

// tlsNodeReply is an online node of a CLUSTER SHARDS shard with a TLS
// port, and a plaintext one unless port is 0.
func tlsNodeReply(ip string, port, tlsPort int, role string) string {
	fields := []string{str("id"), str("x")}
	if port != 0 {
		fields = append(fields, str("port"), num(port))
	}
	fields = append(fields, str("tls-port"), num(tlsPort), str("ip"), str(ip), str("role"), str(role), str("health"), str("online"))
	return arr(fields...)
}

// shardNodeReply is a node of a CLUSTER SHARDS shard.
func shardNodeReply(ip string, port int, role, health string) string {
	return arr(str("id"), str("x"), str("port"), num(port), str("ip"), str(ip), str("role"), str(role), str("health"), str(health))
}

func TestParseSlots(t *testing.T) {
	a, b := slotsNodeReply("10.0.0.1", 7000), slotsNodeReply("10.0.0.2", 7000)
	tests := []struct {
		name, reply string
		want        []string // describe's lines
		err         string
	}{
		{"empty", arr(), nil, ""},
		{"ranges of one master merge", arr(arr(num(0), num(9), a), arr(num(20), num(29), a, b), arr(num(10), num(19), b)),
			[]string{"10.0.0.1:7000 10.0.0.2:7000: 0-9 20-29", "10.0.0.2:7000 : 10-19"}, ""},
		{"unknown ip is the host asked", arr(arr(num(0), num(0), slotsNodeReply("", 7001)), arr(num(1), num(1), "*2\r\n$-1\r\n:7002\r\n")),
			[]string{"192.0.2.1:7001 : 0-0", "192.0.2.1:7002 : 1-1"}, ""},
		{"ipv6", arr(arr(num(0), num(16383), slotsNodeReply("::1", 7000))), []string{"[::1]:7000 : 0-16383"}, ""},
		{"not an array", num(1), nil, "reply: want an array"},
		{"range not an array", arr(num(1)), nil, "range 0: slot range: want an array"},
		{"short range", arr(arr(num(0), num(1))), nil, "range 0: 2 elements, want at least 3"},
		{"reversed", arr(arr(num(9), num(0), a)), nil, "range 0: slot range 9-0 is reversed"},
		{"slot too big", arr(arr(num(0), num(16384), a)), nil, "range 0: slot 16384 out of range"},
		{"negative slot", arr(arr(num(-1), num(3), a)), nil, "range 0: slot -1 out of range"},
		{"slot a string", arr(arr(str("0"), num(3), a)), nil, `range 0: slot: want an integer, got "$1\r\n0\r\n"`},
		{"overlap", arr(arr(num(0), num(9), a), arr(num(9), num(10), b)), nil, "range 1: slot 9 listed twice (10.0.0.1:7000, 10.0.0.2:7000)"},
		{"same range twice", arr(arr(num(0), num(9), a), arr(num(0), num(9), a)), nil, "range 1: slot 0 listed twice"},
		{"port 0", arr(arr(num(0), num(9), slotsNodeReply("10.0.0.1", 0))), nil, "range 0 node 0: port 0 out of range"},
		{"port too big", arr(arr(num(0), num(9), slotsNodeReply("10.0.0.1", 65536))), nil, "range 0 node 0: port 65536 out of range"},
		{"unknown endpoint", arr(arr(num(0), num(9), slotsNodeReply("?", 7000))), nil, "range 0 node 0: endpoint unknown to the node"},
		{"short node", arr(arr(num(0), num(9), arr(str("10.0.0.1")))), nil, "range 0 node 0: 1 elements, want at least 2"},
	}
	for _, tt := range tests {
		m, err := parseSlots([]byte(tt.reply), "192.0.2.1")
		checkParse(t, tt.name, m, err, tt.want, tt.err)
	}
}

func TestParseShards(t *testing.T) {
	shard := func(ranges []int, nodes ...string) string {
		var bounds []string
		for _, r := range ranges {
			bounds = append(bounds, num(r))
		}
		return arr(str("slots"), arr(bounds...), str("nodes"), arr(nodes...))
	}
	m1 := shardNodeReply("10.0.0.1", 7000, "master", "online")
	r1 := shardNodeReply("10.0.0.3", 7000, "replica", "online")
	m2 := shardNodeReply("10.0.0.2", 7000, "master", "online")
	tests := []struct {
		name  string
		tls   bool // the tls-port is wanted
		reply string
		want  []string
		err   string
	}{
		{"two shards", false, arr(shard([]int{0, 9, 20, 29}, m1, r1), shard([]int{10, 19}, m2)),
			[]string{"10.0.0.1:7000 10.0.0.3:7000: 0-9 20-29", "10.0.0.2:7000 : 10-19"}, ""},
		{"failed master: slots unowned", false, arr(shard([]int{0, 9}, shardNodeReply("10.0.0.1", 7000, "master", "fail"), r1)), nil, ""},
		{"loading replica left out", false, arr(shard([]int{0, 9}, m1, shardNodeReply("10.0.0.3", 7000, "replica", "loading"))),
			[]string{"10.0.0.1:7000 : 0-9"}, ""},
		{"no slots: left out", false, arr(shard(nil, m1), shard([]int{0, 0}, m2)), []string{"10.0.0.2:7000 : 0-0"}, ""},
		{"unknown fields skipped", false, arr(arr(str("future"), arr(), str("slots"), arr(num(0), num(0)), str("nodes"), arr(
			arr(str("hostname"), str("h"), str("port"), num(1), str("tls-port"), num(2), str("ip"), str(""), str("role"), str("master"), str("health"), str("online"))))),
			[]string{"192.0.2.1:1 : 0-0"}, ""},
		{"odd bounds", false, arr(shard([]int{0}, m1)), nil, "shard 0: odd number of slot range bounds"},
		{"two masters", false, arr(shard([]int{0, 9}, m1, m2)), nil, "shard 0: two masters, 10.0.0.1:7000 and 10.0.0.2:7000"},
		{"overlap", false, arr(shard([]int{0, 9}, m1), shard([]int{5, 5}, m2)), nil, "shard 1: slot 5 listed twice"},
		{"odd fields", false, arr(arr(str("slots"))), nil, "shard 0: fields: odd number of elements"},
		{"field name not a string", false, arr(arr(num(1), num(2))), nil, "shard 0: field name: want a bulk string"},
		{"slots not an array", false, arr(arr(str("slots"), num(2))), nil, "shard 0: slots: want an array"},
		{"node without port", false, arr(shard([]int{0, 0}, arr(str("ip"), str("10.0.0.1")))), nil, "shard 0 node 0: no port"},
		{"port a string", false, arr(shard([]int{0, 0}, arr(str("port"), str("7000")))), nil, "shard 0 node 0: port: want an integer"},
		{"role not a string", false, arr(shard([]int{0, 0}, arr(str("role"), num(1)))), nil, "shard 0 node 0: role: want a bulk string"},
		{"tls: the tls-port", true, arr(shard([]int{0, 9}, tlsNodeReply("10.0.0.1", 7000, 7443, "master"), tlsNodeReply("10.0.0.3", 7000, 7443, "replica"))),
			[]string{"10.0.0.1:7443 10.0.0.3:7443: 0-9"}, ""},
		{"tls: a TLS-only node", true, arr(shard([]int{0, 9}, tlsNodeReply("10.0.0.1", 0, 7443, "master"))), []string{"10.0.0.1:7443 : 0-9"}, ""},
		{"tls: no tls-port (tls-cluster no)", true, arr(shard([]int{0, 9}, m1)), nil, "shard 0 node 0: no tls-port (the cluster needs tls-cluster yes)"},
		{"plaintext: a TLS-only node", false, arr(shard([]int{0, 9}, tlsNodeReply("10.0.0.1", 0, 7443, "master"))), nil, "shard 0 node 0: no port"},
		{"tls-port a string", true, arr(shard([]int{0, 0}, arr(str("tls-port"), str("7443")))), nil, "shard 0 node 0: tls-port: want an integer"},
		{"tls-port 0", true, arr(shard([]int{0, 0}, tlsNodeReply("10.0.0.1", 7000, 0, "master"))), nil, "shard 0 node 0: port 0 out of range"},
	}
	for _, tt := range tests {
		m, err := parseShards([]byte(tt.reply), "192.0.2.1", tt.tls)
		checkParse(t, tt.name, m, err, tt.want, tt.err)
	}
}

// checkParse fails the test where a parse did not give the map described
// by want, or the error containing wantErr.
func checkParse(t *testing.T, name string, m *Map, err error, want []string, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want %q", name, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	checkMap(t, m)
	if got := describe(m); !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", name, got, want)
	}
}
