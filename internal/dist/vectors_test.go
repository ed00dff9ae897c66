package dist_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/dist"
	"github.com/nutcracker-go/nutcracker/internal/hashkit"
)

// placementFile is one file of testdata/placement (see shared/vectors/README.md):
// where twemproxy 0.5.0 put each key for one pool configuration.
type placementFile struct {
	Distribution string  `json:"distribution"`
	Hash         string  `json:"hash"`
	HashTag      *string `json:"hash_tag"`
	Servers      []struct {
		Addr   string  `json:"addr"`
		Weight int     `json:"weight"`
		Name   *string `json:"name"`
	} `json:"servers"`
	Placement map[string]int `json:"placement"`
}

// TestPlacementVectors replays every recorded placement the way a pool
// routes a key: ring names, servers sorted with Compare, continuum, then
// Pick(hash(TagKey(key))) mapped back to the config order.
func TestPlacementVectors(t *testing.T) {
	paths, err := filepath.Glob("testdata/placement/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no placement vectors in testdata/placement")
	}
	var files, keys int
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			keys += replayPlacement(t, path)
			files++
		})
	}
	t.Logf("%d keys in %d files placed as twemproxy placed them", keys, files)
}

func replayPlacement(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f placementFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}

	// order[i] is the config index of the i-th server in pool order.
	order := make([]int, len(f.Servers))
	names := make([]string, len(f.Servers))
	for i, s := range f.Servers {
		var name string
		if s.Name != nil {
			name = *s.Name
		}
		names[i] = dist.RingName(name, s.Addr)
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return dist.Compare(names[a], names[b]) })
	servers := make([]dist.Server, len(order))
	for i, idx := range order {
		servers[i] = dist.Server{Name: names[idx], Weight: f.Servers[idx].Weight}
	}

	continuum, err := dist.New(f.Distribution, servers)
	if err != nil {
		t.Fatal(err)
	}
	hash, ok := hashkit.ByName(f.Hash)
	if !ok {
		t.Fatalf("unknown hash %q", f.Hash)
	}
	var tag []byte
	if f.HashTag != nil {
		tag = []byte(*f.HashTag)
	}

	mismatches := 0
	for key, want := range f.Placement {
		hashed := hashkit.TagKey([]byte(key), tag)
		var h uint32
		if len(hashed) > 0 {
			h = hash(hashed)
		}
		if got := order[continuum.Pick(h)]; got != want {
			mismatches++
			if mismatches <= 10 {
				t.Errorf("key %q (hash %d): server %d, twemproxy used %d", key, h, got, want)
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d keys misplaced", mismatches, len(f.Placement))
	}
	return len(f.Placement) - mismatches
}
