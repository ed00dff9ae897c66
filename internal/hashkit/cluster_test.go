package hashkit

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// clusterKeys returns keys whose slots are worth comparing: hash tags of
// every shape, the empty key, binary bytes and random keys.
func clusterKeys() []string {
	keys := []string{
		"", "a", "foo", "123456789", "{}", "{a}b", "a{}{b}", "{{a}}", "a{b", "a}b", "}a{b}",
		"{a}{b}", "{}{a}", "a{}b{c}", "{user1000}.following", "{user1000}.followers",
		"x{你好}y", "\x00", "\xff\xfe{\x00}\x80", "{\r\n}", strings.Repeat("k", 1000),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		b := make([]byte, rng.IntN(24))
		for j := range b {
			switch rng.IntN(8) {
			case 0:
				b[j] = '{'
			case 1:
				b[j] = '}'
			default:
				b[j] = byte(rng.IntN(256))
			}
		}
		keys = append(keys, string(b), "key:"+strconv.Itoa(i))
	}
	return keys
}

// TestClusterSlotMatchesRedis compares ClusterSlot with CLUSTER KEYSLOT of
// a redis-server in cluster mode, for a few thousand keys sent in one
// pipeline.
func TestClusterSlotMatchesRedis(t *testing.T) {
	redis := testutil.StartClusterNode(t)
	c := testutil.Dial(t, redis.Addr)
	keys := clusterKeys()
	var pipeline strings.Builder
	for _, k := range keys {
		pipeline.WriteString(testutil.EncodeCmd("CLUSTER", "KEYSLOT", k))
	}
	c.Send(pipeline.String())
	for _, k := range keys {
		want := c.Reply()
		if got := ":" + strconv.Itoa(int(ClusterSlot([]byte(k)))) + "\r\n"; got != want {
			t.Errorf("ClusterSlot(%q) = %q, CLUSTER KEYSLOT says %q", k, got, want)
		}
	}
}

// TestClusterSlotKnown pins the CRC-16/XMODEM check value (0x31c3 for
// "123456789") and that a tag stands for its key.
func TestClusterSlotKnown(t *testing.T) {
	for key, want := range map[string]uint16{
		"123456789": 0x31c3 % ClusterSlots,
		"":          0,
		"{a}b":      ClusterSlot([]byte("a")),
		"{{a}}":     ClusterSlot([]byte("{a")),
	} {
		if got := ClusterSlot([]byte(key)); got != want {
			t.Errorf("ClusterSlot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestClusterSlotNoAllocs(t *testing.T) {
	key := []byte("session:{user1000}:profile")
	if n := testing.AllocsPerRun(100, func() { ClusterSlot(key) }); n != 0 {
		t.Errorf("ClusterSlot allocates %v times per call", n)
	}
}

func BenchmarkClusterSlot(b *testing.B) {
	for _, key := range []string{"user:1000", "session:{user1000}:profile:settings", strings.Repeat("k", 64)} {
		b.Run(strconv.Itoa(len(key)), func(b *testing.B) {
			k := []byte(key)
			b.ReportAllocs()
			b.SetBytes(int64(len(k)))
			for b.Loop() {
				ClusterSlot(k)
			}
		})
	}
}
