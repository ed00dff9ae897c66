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
// still loading, and after 30003 was killed and 30006 promoted.

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
	for _, tt := range []struct {
		file  string
		parse func([]byte, string) (*Map, error)
		want  []string
	}{
		{"shards.resp", parseShards, before},
		{"slots.resp", parseSlots, before},
		{"shards-failover.resp", parseShards, after},
		{"slots-failover.resp", parseSlots, after},
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

func FuzzShards(f *testing.F) {
	fuzzParser(f, parseShards, "shards.resp", "shards-failover.resp")
}

func FuzzSlots(f *testing.F) {
	fuzzParser(f, parseSlots, "slots.resp", "slots-failover.resp")
}
