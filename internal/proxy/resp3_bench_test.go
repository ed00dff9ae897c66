package proxy

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/proto/resp"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// BenchmarkGetRESP3 times a GET of a 100-byte value through the proxy from a
// client that said HELLO 3 (served by the proxy's RESP3 server connections)
// and from one that said nothing (RESP2), one request at a time and 16 in a
// row. Beside ns/op it reports cpu-ns/req, the user and system CPU time of
// this process per request: the proxy's and the benchmark client's, but not
// redis-server's. The client's share is alike for both protocols, so the
// difference between resp2 and resp3 is the proxy's; the goal is resp3 at
// most 10% above resp2. The resp3 half skips while the proxy refuses HELLO 3.
func BenchmarkGetRESP3(b *testing.B) {
	tp := startProxy(b, 2, "")
	value := strings.Repeat("v", 100)
	if got := testutil.Dial(b, tp.addr).Do("SET", "bench", value); got != "+OK\r\n" {
		b.Fatalf("SET bench: %q", got)
	}
	get := testutil.EncodeCmd("GET", "bench")
	wantGet := fmt.Sprintf("$%d\r\n%s\r\n", len(value), value) // RESP3's bulk string is RESP2's
	for _, pipeline := range []int{1, 16} {
		for _, proto := range []int{2, 3} {
			b.Run(fmt.Sprintf("pipeline=%d/resp%d", pipeline, proto), func(b *testing.B) {
				conn, err := net.Dial("tcp", tp.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				if proto == 3 {
					if hello := rawReply(b, conn, testutil.EncodeCmd("HELLO", "3")); hello[0] != '%' {
						b.Skipf("the proxy refuses HELLO 3: %q", hello)
					}
				}
				// Once, to see the right bytes come back (and to open the
				// server connections a RESP3 client gets lazily).
				if got := rawReply(b, conn, get); string(got) != wantGet {
					b.Fatalf("GET bench over RESP%d: %q, want %q", proto, got, wantGet)
				}
				bc := &benchClient{conn: conn, buf: make([]byte, 64<<10)}
				req := []byte(strings.Repeat(get, pipeline))
				b.ReportAllocs()
				cpuBefore := processCPU(b)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					bc.roundTrip(b, req, pipeline)
				}
				b.StopTimer()
				requests := float64(b.N * pipeline)
				b.ReportMetric(float64((processCPU(b)-cpuBefore).Nanoseconds())/requests, "cpu-ns/req")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/requests, "ns/req")
			})
		}
	}
}

// rawReply writes req on conn and returns the one reply it gets, RESP2 or
// RESP3, whole.
func rawReply(b *testing.B, conn net.Conn, req string) []byte {
	b.Helper()
	if _, err := conn.Write([]byte(req)); err != nil {
		b.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	var parser resp.ReplyParser
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			b.Fatalf("reply to %q: %v (after %q)", req, err, got)
		}
		got = append(got, buf[:n]...)
		parser.Reset()
		if l, err := parser.Parse(got); err != nil {
			b.Fatalf("reply to %q: %v in %q", req, err, got)
		} else if l > 0 {
			return got[:l]
		}
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
