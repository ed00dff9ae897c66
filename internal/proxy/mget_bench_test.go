package proxy

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// BenchmarkMGetBig times one MGET of 10,000 keys through the proxy over
// two servers in the layout of scripts/bench_extra.sh (ketama, fnv1a_64,
// keys "key:%012d", every one set to "xxx"), and straight to one server
// for comparison (sub-benchmark "direct"). The "big" variant has 1 KB
// values, so the merged reply is about 10 MB.
func BenchmarkMGetBig(b *testing.B) {
	for _, size := range []int{3, 1024} {
		b.Run(fmt.Sprintf("value=%d", size), func(b *testing.B) { benchmarkMGetBig(b, 10000, size) })
	}
}

func benchmarkMGetBig(b *testing.B, keys, size int) {
	tp := startProxy(b, 2, "hash: fnv1a_64\ndistribution: ketama")
	args := []string{"MGET"}
	var sets strings.Builder
	value := strings.Repeat("x", size)
	for i := 0; i < keys; i++ {
		k := fmt.Sprintf("key:%012d", i)
		args = append(args, k)
		sets.WriteString(testutil.EncodeCmd("SET", k, value))
	}
	req := []byte(testutil.EncodeCmd(args...))
	setup, err := net.Dial("tcp", tp.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer setup.Close()
	sbc := &benchClient{conn: setup, buf: make([]byte, 1<<20)}
	sbc.roundTrip(b, []byte(sets.String()), keys)
	for _, target := range []struct{ name, addr string }{{"proxy", tp.addr}, {"direct", tp.backends[0].Addr}} {
		if target.name == "direct" { // every key on the one server
			d := &benchClient{conn: testutil.Dial(b, target.addr).Conn, buf: make([]byte, 1<<20)}
			d.roundTrip(b, []byte(sets.String()), keys)
		}
		b.Run(target.name, func(b *testing.B) {
			conn, err := net.Dial("tcp", target.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			bc := &benchClient{conn: conn, buf: make([]byte, 1<<20)}
			bc.roundTrip(b, req, 1) // warm-up: buffers grown, pools filled
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bc.roundTrip(b, req, 1)
			}
		})
	}
}
