package dist

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/hashkit"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"a", "a", 0},
		{"a", "b", -1},
		{"b", "a", 1},
		{"zz", "a", 1}, // shorter first
		{"zz", "bbb", -1},
		{"s1", "hole", -1},
		{"", "a", -1},
		{"127.0.0.1:9", "127.0.0.1:10", -1},
	}
	for _, tt := range tests {
		if got := Compare(tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	names := []string{"zz", "a", "bbb"}
	slices.SortFunc(names, Compare)
	if want := []string{"a", "zz", "bbb"}; !slices.Equal(names, want) {
		t.Errorf("sorted = %q, want %q", names, want)
	}
}

func TestRingName(t *testing.T) {
	tests := []struct{ name, addr, want string }{
		{"", "127.0.0.1:6379", "127.0.0.1:6379"},
		{"", "127.0.0.1:11211", "127.0.0.1"},
		{"", "127.0.0.1:011211", "127.0.0.1"},
		{"", "127.0.0.1:06379", "127.0.0.1:06379"},
		{"", "127.0.0.1:111211", "127.0.0.1:111211"},
		{"", "cache.example:11212", "cache.example:11212"},
		{"", "cache.example:11211", "cache.example"},
		{"", "::1:6379", "::1:6379"},
		{"", "::1:11211", "::1"},
		{"", "[::1]:6379", "[::1]:6379"},
		{"", "[::1]:11211", "[::1]"},
		{"alpha", "127.0.0.1:6379", "alpha"},
		{"alpha", "127.0.0.1:11211", "alpha"},
		{"", "/tmp/redis.sock", "/tmp/redis.sock"},
		{"", "/tmp/odd:11211", "/tmp/odd:11211"},
		{"local", "/tmp/redis.sock", "local"},
	}
	for _, tt := range tests {
		if got := RingName(tt.name, tt.addr); got != tt.want {
			t.Errorf("RingName(%q, %q) = %q, want %q", tt.name, tt.addr, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if want := []string{"ketama", "modula", "random"}; !slices.Equal(names, want) {
		t.Errorf("Names() = %q, want %q", names, want)
	}
	one := []Server{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}}
	for _, name := range names {
		if _, err := New(name, one); err != nil {
			t.Errorf("New(%q): %v", name, err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	one := []Server{{Name: "a", Weight: 1}}
	tests := []struct {
		kind    string
		servers []Server
		want    string
	}{
		{"vnode", one, `unknown distribution "vnode"`},
		{"", one, `unknown distribution ""`},
		{"ketama", nil, "no live servers"},
		{"modula", []Server{{Name: "a", Weight: 1}, {Name: "b", Weight: 0}}, `server "b" has weight 0`},
	}
	for _, tt := range tests {
		_, err := New(tt.kind, tt.servers)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q, %v) error = %v, want it to contain %q", tt.kind, tt.servers, err, tt.want)
		}
	}
}

// TestKetamaPoints checks the single-precision point counts, including
// weights where double precision gives other counts.
func TestKetamaPoints(t *testing.T) {
	tests := []struct {
		weights []int
		want    []int
	}{
		{[]int{1, 1, 1, 1, 1}, []int{160, 160, 160, 160, 160}},
		{[]int{1, 2, 3, 1, 5}, []int{64, 132, 200, 64, 332}},
		{[]int{1, 1, 1, 11, 11}, []int{28, 28, 28, 352, 352}}, // 348 in double
		{[]int{2, 29, 29}, []int{16, 228, 228}},               // 224 in double
		{[]int{100000, 1}, []int{316, 0}},
	}
	for _, tt := range tests {
		total := 0
		for _, w := range tt.weights {
			total += w
		}
		got := make([]int, len(tt.weights))
		for i, w := range tt.weights {
			got[i] = ketamaPoints(w, total, len(tt.weights))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("weights %v: points %v, want %v", tt.weights, got, tt.want)
		}
	}
}

func TestKetamaWrapsAround(t *testing.T) {
	k := newKetama([]Server{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}})
	ring := k.points[:len(k.points)-2] // without the sentinels
	if !slices.IsSortedFunc(ring, func(x, y point) int { return cmp.Compare(x.value, y.value) }) {
		t.Fatal("ring is not sorted")
	}
	first, last := ring[0], ring[len(ring)-1]
	if last.value == ^uint32(0) {
		t.Fatal("last point is at the top of the hash space; pick other names")
	}
	tests := []struct {
		hash uint32
		want int32
	}{
		{0, first.server},
		{first.value, first.server},
		{ring[1].value, ring[1].server},
		{first.value + 1, ring[1].server},
		{last.value, last.server},
		{last.value + 1, first.server},
		{^uint32(0), first.server},
	}
	for _, tt := range tests {
		if got := k.Pick(tt.hash); got != int(tt.want) {
			t.Errorf("Pick(%d) = %d, want %d", tt.hash, got, tt.want)
		}
	}
}

// TestKetamaIndex checks the indexed Pick against a search of the whole
// ring, for rings small and large and hashes at and around every point.
func TestKetamaIndex(t *testing.T) {
	for _, n := range []int{1, 2, 7, 100, 600} {
		var servers []Server
		for i := range n {
			servers = append(servers, Server{Name: fmt.Sprintf("s%d", i), Weight: 1 + i%3})
		}
		k := newKetama(servers)
		ring := k.points[:len(k.points)-2] // without the sentinels
		whole := func(h uint32) int {
			i, _ := slices.BinarySearchFunc(ring, h, func(p point, h uint32) int { return cmp.Compare(p.value, h) })
			if i == len(ring) {
				i = 0
			}
			return int(ring[i].server)
		}
		hashes := []uint32{0, 1, ^uint32(0), 1 << 31}
		for _, p := range ring {
			hashes = append(hashes, p.value-1, p.value, p.value+1)
		}
		for i := range 10000 {
			hashes = append(hashes, uint32(i)*2654435761)
		}
		for _, h := range hashes {
			if got, want := k.Pick(h), whole(h); got != want {
				t.Fatalf("%d servers: Pick(%#x) = %d, want %d", n, h, got, want)
			}
		}
	}
}

// TestCompatPools replays the pools of COMPAT §3.7, observed from
// nutcracker's "maps to server" log. The plain pool has a port-11211 server,
// whose ring name leaves the port out.
func TestCompatPools(t *testing.T) {
	keys := []string{"foo", "bar", "user:1000", "session:{42}:a", "{42}", "hello world", "你好", "k9"}
	type server struct {
		addr   string
		weight int
		name   string
	}
	pools := []struct {
		name, dist, hash, tag string
		servers               []server
		want                  []int // config index per key
	}{
		{
			"plain", "ketama", "fnv1a_64", "",
			[]server{{"127.0.0.1:17101", 1, ""}, {"127.0.0.1:17102", 1, ""}, {"127.0.0.1:11211", 1, ""}, {"127.0.0.2:17104", 1, ""}},
			[]int{1, 0, 1, 0, 2, 1, 0, 3},
		},
		{
			"named", "ketama", "murmur", "{}",
			[]server{{"127.0.0.1:17201", 1, "alpha"}, {"127.0.0.1:17202", 2, "beta"}, {"127.0.0.1:17203", 3, "gamma"}},
			[]int{0, 0, 2, 2, 2, 1, 2, 1},
		},
		{
			"modula", "modula", "crc32a", "",
			[]server{{"127.0.0.1:17301", 1, "zz"}, {"127.0.0.1:17302", 2, "a"}, {"127.0.0.1:17303", 1, "bbb"}},
			[]int{1, 0, 2, 0, 1, 1, 1, 2},
		},
	}
	for _, p := range pools {
		order := make([]int, len(p.servers))
		names := make([]string, len(p.servers))
		for i, s := range p.servers {
			order[i] = i
			names[i] = RingName(s.name, s.addr)
		}
		slices.SortStableFunc(order, func(a, b int) int { return Compare(names[a], names[b]) })
		servers := make([]Server, len(order))
		for i, idx := range order {
			servers[i] = Server{Name: names[idx], Weight: p.servers[idx].weight}
		}
		c, err := New(p.dist, servers)
		if err != nil {
			t.Fatal(err)
		}
		hash, _ := hashkit.ByName(p.hash)
		for i, key := range keys {
			k := hashkit.TagKey([]byte(key), []byte(p.tag))
			if got := order[c.Pick(hash(k))]; got != p.want[i] {
				t.Errorf("pool %s: key %q on server %d, want %d", p.name, key, got, p.want[i])
			}
		}
	}
}

func TestModula(t *testing.T) {
	c, err := New("modula", []Server{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}, {Name: "c", Weight: 1}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hash uint32
		want int
	}{
		{0, 0}, {1, 1}, {2, 1}, {3, 2}, {4, 0}, {5, 1}, {6, 1}, {7, 2},
		{^uint32(0), 2}, // 4294967295 % 4 == 3
	}
	for _, tt := range tests {
		if got := c.Pick(tt.hash); got != tt.want {
			t.Errorf("Pick(%d) = %d, want %d", tt.hash, got, tt.want)
		}
	}
}

func TestRandom(t *testing.T) {
	// Weights do not count: every server is equally likely.
	c, err := New("random", []Server{{Name: "a", Weight: 1}, {Name: "b", Weight: 100}, {Name: "c", Weight: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var seen [3]int
	for range 3000 {
		seen[c.Pick(42)]++
	}
	for i, n := range seen {
		if n < 700 || n > 1300 {
			t.Errorf("server %d picked %d times of 3000", i, n)
		}
	}
}

func TestSingleServer(t *testing.T) {
	for _, kind := range []string{"ketama", "modula", "random"} {
		c, err := New(kind, []Server{{Name: "only", Weight: 7}})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []uint32{0, 1, 1 << 31, ^uint32(0)} {
			if got := c.Pick(h); got != 0 {
				t.Errorf("%s: Pick(%d) = %d, want 0", kind, h, got)
			}
		}
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, kind := range []string{"ketama", "modula", "random"} {
		c, err := New(kind, fiveServers())
		if err != nil {
			t.Fatal(err)
		}
		h := uint32(0)
		if n := testing.AllocsPerRun(100, func() { h += 0x9e3779b9; c.Pick(h) }); n != 0 {
			t.Errorf("%s: Pick allocates %v times", kind, n)
		}
	}
}

func fiveServers() []Server {
	servers := make([]Server, 5)
	for i := range servers {
		servers[i] = Server{Name: "127.0.0.1:3210" + strconv.Itoa(i+1), Weight: 1}
	}
	return servers
}

func BenchmarkPick(b *testing.B) {
	c, err := New("ketama", fiveServers())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	h := uint32(0)
	for b.Loop() {
		h += 0x9e3779b9
		c.Pick(h)
	}
}

func TestPickEachMatchesPick(t *testing.T) {
	for _, kind := range []string{"ketama", "modula", "random"} {
		for _, n := range []int{1, 2, 5} {
			c, err := New(kind, fiveServers()[:n])
			if err != nil {
				t.Fatal(err)
			}
			hashes := make([]uint32, 5000)
			for i := range hashes {
				hashes[i] = uint32(i) * 2654435761
			}
			picked := slices.Clone(hashes)
			c.PickEach(picked)
			for i, h := range hashes {
				want := c.Pick(h)
				if kind == "random" { // any server each time: want it in range
					want = min(int(picked[i]), n)
				}
				if int(picked[i]) != want {
					t.Fatalf("%s, %d servers: PickEach gives %d for %#x, Pick %d", kind, n, picked[i], h, want)
				}
			}
		}
	}
}
