package pool

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/config"
)

// placementFile is where twemproxy 0.5 put each key for one pool configuration: a file of
// internal/dist/testdata/placement (see dist's vectors_test.go for the format).
type placementFile struct {
	Protocol     string  `json:"protocol"`
	Distribution string  `json:"distribution"`
	Hash         string  `json:"hash"`
	HashTag      *string `json:"hash_tag"`
	Listen       string  `json:"listen"`
	Servers      []struct {
		Addr   string  `json:"addr"`
		Weight int     `json:"weight"`
		Name   *string `json:"name"`
	} `json:"servers"`
	Placement map[string]int `json:"placement"` // key -> index in Servers
}

// compatPools are the pools of COMPAT §3.7, placed by twemproxy 0.5 as its "maps to server" log
// showed. The placement files have no server on port 11211; the plain pool has one, whose ring
// name leaves the port out.
var compatPools = map[string]string{
	"plain": `{"protocol": "redis", "distribution": "ketama", "hash": "fnv1a_64", "listen": "127.0.0.1:17100",
		"servers": [{"addr": "127.0.0.1:17101", "weight": 1}, {"addr": "127.0.0.1:17102", "weight": 1},
			{"addr": "127.0.0.1:11211", "weight": 1}, {"addr": "127.0.0.2:17104", "weight": 1}],
		"placement": {"foo": 1, "bar": 0, "user:1000": 1, "session:{42}:a": 0, "{42}": 2, "hello world": 1, "你好": 0, "k9": 3}}`,
	"named": `{"protocol": "redis", "distribution": "ketama", "hash": "murmur", "hash_tag": "{}", "listen": "127.0.0.1:17200",
		"servers": [{"addr": "127.0.0.1:17201", "weight": 1, "name": "alpha"}, {"addr": "127.0.0.1:17202", "weight": 2, "name": "beta"},
			{"addr": "127.0.0.1:17203", "weight": 3, "name": "gamma"}],
		"placement": {"foo": 0, "bar": 0, "user:1000": 2, "session:{42}:a": 2, "{42}": 2, "hello world": 1, "你好": 2, "k9": 1}}`,
	"modula": `{"protocol": "redis", "distribution": "modula", "hash": "crc32a", "listen": "127.0.0.1:17300",
		"servers": [{"addr": "127.0.0.1:17301", "weight": 1, "name": "zz"}, {"addr": "127.0.0.1:17302", "weight": 2, "name": "a"},
			{"addr": "127.0.0.1:17303", "weight": 1, "name": "bbb"}],
		"placement": {"foo": 1, "bar": 0, "user:1000": 2, "session:{42}:a": 0, "{42}": 1, "hello world": 1, "你好": 1, "k9": 2}}`,
}

// TestPlacementVectors replays every recorded placement end to end: the pool is written as a
// user writes it in the YAML, loaded by config.Parse, built by New, and Route must send each key
// to the server twemproxy sent it to. It also checks that the vectors go through named servers
// and the port-11211 ring-name rule, so neither can break unseen.
func TestPlacementVectors(t *testing.T) {
	paths, err := filepath.Glob("../dist/testdata/placement/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no placement vectors in ../dist/testdata/placement")
	}
	vectors := make(map[string][]byte)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		vectors[filepath.Base(path)] = data
	}
	for name, text := range compatPools {
		vectors["COMPAT 3.7 "+name] = []byte(text)
	}
	var keys, named, shortRing int
	for _, name := range slices.Sorted(maps.Keys(vectors)) {
		data := vectors[name]
		t.Run(name, func(t *testing.T) {
			var f placementFile
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(name, []byte(f.yaml()))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range cfg.Pools[0].Servers {
				switch {
				case s.Name != "":
					named++
				case s.RingName != s.Addr:
					shortRing++
				}
			}
			keys += replayPlacement(t, &f, newTestPool(t, cfg.Pools[0]))
		})
	}
	if named == 0 || shortRing == 0 {
		t.Errorf("the vectors have %d named servers and %d on port 11211 without a name, want some of each", named, shortRing)
	}
	t.Logf("%d keys in %d pools placed as twemproxy placed them", keys, len(vectors))
}

// yaml writes the pool as a user would.
func (f *placementFile) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pool_under_test:\n  listen: %s\n  hash: %s\n  distribution: %s\n", f.Listen, f.Hash, f.Distribution)
	if f.HashTag != nil {
		fmt.Fprintf(&b, "  hash_tag: %q\n", *f.HashTag)
	}
	fmt.Fprintf(&b, "  redis: %t\n  auto_eject_hosts: false\n  preconnect: false\n  server_connections: 1\n  timeout: 5000\n  servers:\n",
		f.Protocol == "redis")
	for _, s := range f.Servers {
		fmt.Fprintf(&b, "   - %s:%d", s.Addr, s.Weight)
		if s.Name != nil {
			b.WriteString(" " + *s.Name)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// newTestPool builds cfg's pool, which dials nothing until a request is sent. It is the one
// call of New in these tests (New's codec and handshake arguments are about to change).
func newTestPool(t testing.TB, cfg *config.Pool) *Pool {
	t.Helper()
	p, err := New(cfg, 1024, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// replayPlacement routes every key of f through p and returns how many went where twemproxy
// put them.
func replayPlacement(t *testing.T, f *placementFile, p *Pool) int {
	index := make(map[string]int) // address as written -> index in f.Servers
	for i, s := range f.Servers {
		index[s.Addr] = i
	}
	mismatches := 0
	for key, want := range f.Placement {
		srv := p.Route([]byte(key))
		if srv == nil {
			t.Fatalf("key %q: no server", key)
		}
		got, ok := index[srv.Config.Addr]
		if !ok {
			t.Fatalf("key %q: routed to %q, which the file does not list", key, srv.Config.Addr)
		}
		if got != want {
			mismatches++
			if mismatches <= 10 {
				t.Errorf("key %q: server %d (%s), twemproxy used %d", key, got, srv.Name(), want)
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d keys misplaced", mismatches, len(f.Placement))
	}
	return len(f.Placement) - mismatches
}
