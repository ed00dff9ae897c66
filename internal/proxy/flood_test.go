package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// floodCount is the number of SETs the flood test pipelines.
const floodCount = 1_000_000

// TestPipelineFlood writes a million SETs on one connection and reads
// nothing until all are written, as a bulk loader does: every SET is
// accepted, every reply arrives, and the proxy's heap stays bounded.
func TestPipelineFlood(t *testing.T) {
	tp := startProxy(t, 2, "")
	peak := sampleHeap(t)
	c := testutil.Dial(t, tp.addr)
	if err := writeFlood(c); err != nil {
		t.Fatal(err)
	}
	readFlood(t, c)
	checkPeak(t, peak)
	// What the burst took is garbage once it is over: nothing keeps a
	// free list of it.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapInuse) - int64(heapBase.Load()); grown > 4<<20 {
		t.Fatalf("heap still %d KB above its start after the burst", grown>>10)
	}
}

// heapBase is the heap in use when sampleHeap last started.
var heapBase atomic.Uint64

// TestPipelineFloodPausedBackends floods while both backends are paused:
// the proxy stops reading the client (its writes stall) instead of
// buffering without bound, and everything completes once they resume.
func TestPipelineFloodPausedBackends(t *testing.T) {
	tp := startProxy(t, 2, "")
	peak := sampleHeap(t)
	c := testutil.Dial(t, tp.addr)
	for _, b := range tp.backends {
		b.Pause()
	}
	written := make(chan error, 1)
	go func() { written <- writeFlood(c) }()
	// While paused, the requests held by the proxy stay within the
	// client's pipeline bound.
	pl := tp.Proxy.poolList()[0].pool()
	held := func() int64 {
		var n int64
		for _, s := range pl.Servers {
			n += s.Stats.InQueue.Load() + s.Stats.OutQueue.Load()
		}
		return n
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return held() >= maxPipeline/2 }, "requests never reached the paused servers")
	time.Sleep(300 * time.Millisecond) // the pause the client sits through
	select {
	case err := <-written:
		t.Fatalf("the whole flood was taken while the servers were paused (%v)", err)
	default:
	}
	// The queue's capacity, plus the request the writer waits on.
	if n := held(); n > maxPipeline+1 {
		t.Fatalf("%d requests held for paused servers, the bound is %d", n, maxPipeline+1)
	}
	for _, b := range tp.backends {
		b.Resume()
	}
	readFlood(t, c)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	checkPeak(t, peak)
}

// writeFlood writes floodCount SETs, 1,000 per write, keys spread over
// the servers.
func writeFlood(c *testutil.Client) error {
	var chunk bytes.Buffer
	for i := 0; i < 1000; i++ {
		chunk.WriteString(testutil.EncodeCmd("SET", "flood:"+string(rune('a'+i%26))+string(rune('a'+i/26%26)), "v"))
	}
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Minute))
	for i := 0; i < floodCount/1000; i++ {
		if _, err := c.Conn.Write(chunk.Bytes()); err != nil {
			return fmt.Errorf("write after %d requests: %w", i*1000, err)
		}
	}
	return nil
}

func readFlood(t *testing.T, c *testutil.Client) {
	t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
	want := []byte("+OK\r\n")
	got := make([]byte, len(want))
	r := bufio.NewReaderSize(c.Conn, 1<<16)
	for i := 0; i < floodCount; i++ {
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("reply %d: %q %v", i, got, err)
		}
	}
}

// sampleHeap records the peak heap in use until the test ends, above what
// was in use when it started (earlier tests in the process may have left
// garbage).
func sampleHeap(t *testing.T) *atomic.Uint64 {
	var peak atomic.Uint64
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	heapBase.Store(base)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-sampled })
	return &peak
}

func checkPeak(t *testing.T, peak *atomic.Uint64) {
	t.Helper()
	t.Logf("peak heap growth: %.1f MB", float64(peak.Load())/(1<<20))
	if peak.Load() > 64<<20 {
		t.Fatalf("peak heap %d MB, want under 64 MB", peak.Load()>>20)
	}
}

// TestClientNotReadingHoldsUpNoOne: a client that pipelines GETs of a
// large value and reads nothing fills its output up to the limit, while
// another client on the same server connection is served as usual. The
// server connection's reader writes replies to their clients itself
// (client.Wake): it must leave a client whose output is queuing to that
// client's own writer, which waits at the limit, and never wait itself.
func TestClientNotReadingHoldsUpNoOne(t *testing.T) {
	r := testutil.StartRedis(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg, err := config.Parse("test.yml", []byte(poolYAML(addr, "", r.Addr+":1")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, Options{MbufSize: DefaultMbufSize, OutputLimit: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	p.Serve()
	t.Cleanup(func() { p.Close() })
	value := strings.Repeat("v", 32<<10) // under DirectWriteSize: written by the connection's reader
	c := testutil.Dial(t, addr)
	expect(t, c, "+OK\r\n", "SET", "big", value)

	// 8 MB of replies, more than the sockets hold, to a client not reading.
	stuck := testutil.Dial(t, addr)
	const gets = 256
	stuck.Send(strings.Repeat(testutil.EncodeCmd("GET", "big"), gets))
	pl := p.poolList()[0].pool()
	testutil.Eventually(t, 10*time.Second, func() bool {
		return pl.Servers[0].Stats.Responses.Load() >= gets // the server answered them all
	}, "the server did not answer the stuck client's GETs")

	for i := range 50 {
		c.Conn.SetDeadline(time.Now().Add(5 * time.Second))
		if got := c.Do("GET", "big"); got != fmt.Sprintf("$%d\r\n%s\r\n", len(value), value) {
			t.Fatalf("GET %d of the other client while one does not read: %.40q", i, got)
		}
	}
	// The stuck client gets all its replies, in order, once it reads.
	stuck.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range gets {
		if got, err := testutil.ReadReply(stuck.R); err != nil || got != fmt.Sprintf("$%d\r\n%s\r\n", len(value), value) {
			t.Fatalf("reply %d to the client that did not read: %.40q %v", i, got, err)
		}
	}
}
