package hashkit

import (
	"slices"
	"strconv"
	"testing"
)

// goldenKeys and goldenHashes are COMPAT §3.7: values computed by twemproxy's
// C hashkit built with gcc on x86-64.
var goldenKeys = []string{"", "a", "foo", "hello world", "user:1000", "你好", "k\xff\x80z"}

var goldenHashes = map[string][]uint32{
	"one_at_a_time": {0, 3392050242, 596015325, 1045060183, 3043211087, 1275633067, 2426122397},
	"md5":           {3649838548, 3111502092, 3675831724, 3141252702, 781738503, 2674444926, 832854082},
	"crc16":         {0, 31879, 205303702, 4060494820, 3781445233, 1120778135, 3388558571},
	"crc32":         {0, 26807, 3187, 3402, 8052, 20642, 30888},
	"crc32a":        {0, 3904355907, 2356372769, 222957957, 2675185635, 1352841281, 4171799450},
	"fnv1_64":       {2216829733, 2248259518, 1805727027, 2979073647, 3550362913, 223760903, 3403280993},
	"fnv1a_64":      {2216829733, 2248273036, 4275688823, 37540583, 2927313545, 931594915, 1906832805},
	"fnv1_32":       {2166136261, 84696446, 1083137555, 1418570095, 2796551329, 1586576519, 2251441761},
	"fnv1a_32":      {2166136261, 3826002220, 2851307223, 3582672807, 1350311305, 718964643, 328242725},
	"hsieh":         {0, 2472816263, 1993659431, 1333368947, 3723237737, 2370877334, 3061790943},
	"murmur":        {0, 1262581116, 3303027599, 1578702139, 2384768711, 1243698303, 1774211800},
	"jenkins":       {3735928572, 3768813200, 2583187353, 355681275, 76303748, 3776367849, 624760207},
}

func TestGolden(t *testing.T) {
	for _, name := range Names() {
		want, ok := goldenHashes[name]
		if !ok {
			t.Errorf("no golden values for %q", name)
			continue
		}
		fn, ok := ByName(name)
		if !ok {
			t.Fatalf("ByName(%q) not found", name)
		}
		for i, key := range goldenKeys {
			if got := fn([]byte(key)); got != want[i] {
				t.Errorf("%s(%q) = %d, want %d", name, key, got, want[i])
			}
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
		"fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "MD5", "ketama", "fnv1a64"} {
		if _, ok := ByName(bad); ok {
			t.Errorf("ByName(%q) found a function", bad)
		}
	}
}

// TestAllLengths checks the shortcuts taken here against the C formulation
// for every key length up to 40, with bytes on both sides of 0x80: jenkins
// zero-pads its tail instead of lookup3's byte switch, and fnv1a_64 runs in
// a 32-bit register instead of a 64-bit one, eight bytes a turn.
func TestAllLengths(t *testing.T) {
	key := make([]byte, 40)
	for i := range key {
		key[i] = byte(i*37 + 0x71)
	}
	for n := range len(key) + 1 {
		k := key[:n]
		if got, want := jenkins(k), jenkinsReference(k); got != want {
			t.Errorf("jenkins(len %d) = %d, want %d", n, got, want)
		}
		if got, want := fnv1aHash64(k), fnv1a64Reference(k); got != want {
			t.Errorf("fnv1a_64(len %d) = %d, want %d", n, got, want)
		}
	}
}

// jenkinsReference is lookup3's byte-at-a-time path with its tail switch.
func jenkinsReference(k []byte) uint32 {
	a := 0xdeadbeef + uint32(len(k)) + 13
	b, c := a, a
	for len(k) > 12 {
		a += uint32(k[0]) + uint32(k[1])<<8 + uint32(k[2])<<16 + uint32(k[3])<<24
		b += uint32(k[4]) + uint32(k[5])<<8 + uint32(k[6])<<16 + uint32(k[7])<<24
		c += uint32(k[8]) + uint32(k[9])<<8 + uint32(k[10])<<16 + uint32(k[11])<<24
		a, b, c = lookup3Mix(a, b, c)
		k = k[12:]
	}
	n := len(k)
	if n == 0 {
		return c
	}
	for i := n - 1; i >= 0; i-- {
		v := uint32(k[i]) << (8 * (i % 4))
		switch i / 4 {
		case 0:
			a += v
		case 1:
			b += v
		case 2:
			c += v
		}
	}
	return lookup3Final(a, b, c)
}

// fnv1a64Reference runs the 64-bit register twemproxy's header suggests and
// keeps its low 32 bits; multiplication carries only upwards, so it must agree
// with the 32-bit loop.
func fnv1a64Reference(key []byte) uint32 {
	h := uint64(0xcbf29ce484222325)
	for _, b := range key {
		h ^= uint64(int64(int8(b)))
		h *= 0x100000001b3
	}
	return uint32(h)
}

func TestTagKey(t *testing.T) {
	tests := []struct {
		key, tag, want string
	}{
		{"user:1000", "", "user:1000"},
		{"user:{1000}", "", "user:{1000}"},
		{"{user1000}.following", "{}", "user1000"},
		{"session:{42}:a", "{}", "42"},
		{"{42}", "{}", "42"},
		{"foo", "{}", "foo"},
		{"", "{}", ""},
		{"{", "{}", "{"},
		{"}", "{}", "}"},
		{"{}", "{}", "{}"},       // empty tag: whole key
		{"}{", "{}", "}{"},       // reversed
		{"{}{}", "{}", "{}{}"},   // first tag empty; later tags are not searched
		{"a{}b", "{}", "a{}b"},   // empty tag in the middle
		{"{}{a}", "{}", "{}{a}"}, // empty first tag wins over a later one
		{"a{}b{c}", "{}", "a{}b{c}"},
		{"{a}", "{}", "a"},
		{"{a}{b}", "{}", "a"}, // two tags: the first
		{"a{b", "{}", "a{b"},  // unterminated
		{"{ab", "{}", "{ab"},
		{"a}b", "{}", "a}b"},
		{"}a{", "{}", "}a{"},
		{"}a{b}", "{}", "b"},
		{"{{a}}", "{}", "{a"}, // nested: first '{', first '}' after it
		{"x{你好}y", "{}", "你好"},
		{"$tag$rest", "$$", "tag"},
		{"a$$b", "$$", "a$$b"},
		{"a$b", "$$", "a$b"},
		{"$a$b$", "$$", "a"},
	}
	for _, tt := range tests {
		got := TagKey([]byte(tt.key), []byte(tt.tag))
		if string(got) != tt.want {
			t.Errorf("TagKey(%q, %q) = %q, want %q", tt.key, tt.tag, got, tt.want)
		}
	}
	if got := TagKey([]byte("a{b}"), nil); string(got) != "a{b}" {
		t.Errorf("TagKey with nil tag = %q", got)
	}
}

func TestNoAllocs(t *testing.T) {
	key := []byte("session:{user1000}:profile:\xe4\xbd\xa0")
	tag := []byte("{}")
	for _, name := range Names() {
		fn, _ := ByName(name)
		if n := testing.AllocsPerRun(100, func() { fn(TagKey(key, tag)) }); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	for _, size := range []int{10, 64} {
		key := make([]byte, size)
		for i := range key {
			key[i] = 'a' + byte(i%26)
		}
		for _, name := range Names() {
			fn, _ := ByName(name)
			b.Run(name+"/"+strconv.Itoa(size), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					fn(key)
				}
			})
		}
	}
}
