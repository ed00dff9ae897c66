package stats

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// testProcess has the pools and servers of testdata/twemproxy-0.5.0.yml.
func testProcess() *Process {
	proc := &Process{Source: "vm", Version: "0.1.0", Start: time.Now()}
	for _, pool := range []struct {
		name    string
		servers []string
	}{{"beta", []string{"s1", "127.0.0.1:7402"}}, {"alpha", []string{"127.0.0.1"}}} {
		p := &Pool{Name: pool.name}
		for _, s := range pool.servers {
			p.Servers = append(p.Servers, &Server{Name: s})
		}
		proc.Pools = append(proc.Pools, p)
	}
	return proc
}

// startServer serves p on a loopback port until the test ends.
func startServer(t *testing.T, p *Process, health func() error) string {
	t.Helper()
	return startView(t, func() *Process { return p }, health)
}

// startView runs Serve on a loopback port until the test ends, then checks
// that it returned nil.
func startView(t *testing.T, view func() *Process, health func() error, extra ...prometheus.Collector) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ln, view, health, extra...) }()
	t.Cleanup(func() {
		ln.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after its listener closed")
		}
	})
	return ln.Addr().String()
}

// rawExchange dials addr, writes send in the given pieces and reads until
// the server closes the connection.
func rawExchange(t *testing.T, addr string, send ...string) (string, time.Duration) {
	t.Helper()
	got, took, err := tryRawExchange(addr, send...)
	if err != nil {
		t.Fatalf("%v (got %q)", err, got)
	}
	return got, took
}

func tryRawExchange(addr string, send ...string) (string, time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "", 0, err
	}
	defer conn.Close()
	start := time.Now()
	conn.SetDeadline(start.Add(5 * time.Second))
	for _, s := range send {
		if _, err := conn.Write([]byte(s)); err != nil {
			return "", 0, err
		}
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		return string(got), 0, fmt.Errorf("reading until close: %w", err)
	}
	return string(got), time.Since(start), nil
}

// checkDocument fails unless doc is twemproxy's document for testProcess.
func checkDocument(t *testing.T, doc string) {
	t.Helper()
	want, err := os.ReadFile("testdata/twemproxy-0.5.0.json")
	if err != nil {
		t.Fatal(err)
	}
	if testutil.StatsShape(doc) != testutil.StatsShape(strings.TrimRight(string(want), "\n")+"\n") {
		t.Fatalf("not twemproxy's document:\ngot  %q\nwant %q", doc, want)
	}
}

// The stats port's routes, registry and collectors are built on the first
// HTTP request, once, however many arrive together.
func TestHandlerBuiltOnFirstRequest(t *testing.T) {
	var builds atomic.Int32
	h := lazyHandler(func() http.Handler {
		builds.Add(1)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "built") })
	})
	if n := builds.Load(); n != 0 {
		t.Fatalf("built %d times before any request", n)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Body.String() != "built" {
				t.Errorf("response %q, want the built handler's", rec.Body.String())
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Fatalf("built %d times for 8 requests, want 1", n)
	}
}

func TestSilentClientGetsDocument(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	doc, took := rawExchange(t, addr)
	checkDocument(t, doc)
	// The server waits sniffWait for bytes, not the client's 5 s deadline;
	// the margin absorbs a loaded, race-instrumented machine (2.5 s was
	// seen once with other tests' processes still running).
	if limit := sniffWait + 2*time.Second; took > limit {
		t.Fatalf("document took %v, want at most %v", took, limit)
	}
}

func TestNonHTTPClientGetsDocument(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	for _, send := range [][]string{
		{"hello\r\n"},
		{"GE"},                    // a method's prefix, then silence
		{"GET\r\n"},               // a method without a target
		{"get /metrics HTTP/1.1"}, // methods are case-sensitive
		{"GET  /metrics"},
	} {
		doc, _ := rawExchange(t, addr, send...)
		checkDocument(t, doc)
	}
}

func TestHTTPRequestLineSplitAcrossWrites(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	got, _ := rawExchange(t, addr, "G", "ET /hea", "lthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\nok\n") {
		t.Fatalf("response %q", got)
	}
}

func TestSniffHTTP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sniffResult
	}{
		{"", maybeHTTP},
		{"G", maybeHTTP},
		{"HEAD", maybeHTTP},
		{"OPTIONS ", maybeHTTP},
		{"GET /", isHTTP},
		{"HEAD /metrics HTTP/1.1\r\n", isHTTP},
		{"OPTIONS * HTTP/1.1", isHTTP},
		{"GET http://x/", isHTTP},
		{"x", notHTTP},
		{"GET\r", notHTTP},
		{"GET  ", notHTTP},
		{"GETS /", notHTTP},
		{"\r\n", notHTTP},
	} {
		if got := sniffHTTP([]byte(tc.in)); got != tc.want {
			t.Errorf("sniffHTTP(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func get(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// findMetric returns the metric of family mf whose labels are exactly
// labels ("name=value" pairs).
func findMetric(t *testing.T, mf *dto.MetricFamily, labels ...string) *dto.Metric {
	t.Helper()
	for _, m := range mf.GetMetric() {
		var have []string
		for _, lp := range m.GetLabel() {
			have = append(have, lp.GetName()+"="+lp.GetValue())
		}
		if strings.Join(have, ",") == strings.Join(labels, ",") {
			return m
		}
	}
	t.Fatalf("%s has no metric labelled %v", mf.GetName(), labels)
	return nil
}

func TestHTTPMetrics(t *testing.T) {
	p := testProcess()
	p.TotalConnections.Add(70)
	p.CurrConnections.Add(7)
	beta, s1 := p.Pools[0], p.Pools[0].Servers[0]
	s1.Requests.Add(2)
	s1.Connections.Add(1)
	s1.EjectedAt.Add(1795300737532234)
	s1.Ejected.Store(true)
	beta.ClientConnections.Add(3)
	beta.SlowRequests.Add(4)
	for _, d := range []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 3 * time.Millisecond, 2 * time.Second} {
		observe(s1, d)
	}
	addr := startServer(t, p, nil)

	resp, body := get(t, http.DefaultClient, "http://"+addr+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	family := func(name string, typ dto.MetricType) *dto.MetricFamily {
		t.Helper()
		mf := fams[name]
		if mf == nil {
			t.Fatalf("no family %s in\n%s", name, body)
		}
		if mf.GetType() != typ {
			t.Fatalf("%s is a %v, want %v", name, mf.GetType(), typ)
		}
		return mf
	}
	value := func(m *dto.Metric) float64 {
		if m.Counter != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	for _, tc := range []struct {
		name   string
		typ    dto.MetricType
		labels []string
		want   float64
	}{
		{"nutcracker_server_requests_total", dto.MetricType_COUNTER, []string{"pool=beta", "server=s1"}, 2},
		{"nutcracker_server_requests_total", dto.MetricType_COUNTER, []string{"pool=alpha", "server=127.0.0.1"}, 0},
		{"nutcracker_server_connections", dto.MetricType_GAUGE, []string{"pool=beta", "server=s1"}, 1},
		{"nutcracker_server_ejected_at_seconds", dto.MetricType_GAUGE, []string{"pool=beta", "server=s1"}, 1795300737.532234},
		{"nutcracker_server_ejected", dto.MetricType_GAUGE, []string{"pool=beta", "server=s1"}, 1},
		{"nutcracker_server_ejected", dto.MetricType_GAUGE, []string{"pool=beta", "server=127.0.0.1:7402"}, 0},
		{"nutcracker_server_in_queue", dto.MetricType_GAUGE, []string{"pool=beta", "server=127.0.0.1:7402"}, 0},
		{"nutcracker_pool_client_connections", dto.MetricType_GAUGE, []string{"pool=beta"}, 3},
		{"nutcracker_pool_slow_requests_total", dto.MetricType_COUNTER, []string{"pool=beta"}, 4},
		{"nutcracker_pool_server_ejects_total", dto.MetricType_COUNTER, []string{"pool=alpha"}, 0},
		{"nutcracker_connections_total", dto.MetricType_COUNTER, nil, 70},
		{"nutcracker_curr_connections", dto.MetricType_GAUGE, nil, 7},
		{"nutcracker_info", dto.MetricType_GAUGE, []string{"source=vm", "version=0.1.0"}, 1},
	} {
		m := findMetric(t, family(tc.name, tc.typ), tc.labels...)
		if got := value(m); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if mf := family("nutcracker_server_eof_total", dto.MetricType_COUNTER); mf.GetHelp() != ServerMetrics[0].Description {
		t.Errorf("help %q, want describe.go's %q", mf.GetHelp(), ServerMetrics[0].Description)
	}
	if up := value(findMetric(t, family("nutcracker_uptime_seconds", dto.MetricType_GAUGE))); up < 0 || up > 60 {
		t.Errorf("uptime %v", up)
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no runtime/process family %s", name)
		}
	}

	h := findMetric(t, family("nutcracker_server_request_duration_seconds", dto.MetricType_HISTOGRAM),
		"pool=beta", "server=s1").GetHistogram()
	if h.GetSampleCount() != 4 {
		t.Errorf("count %d, want 4", h.GetSampleCount())
	}
	if want := (50*time.Microsecond + 100*time.Microsecond + 3*time.Millisecond + 2*time.Second).Seconds(); math.Abs(h.GetSampleSum()-want) > 1e-9 {
		t.Errorf("sum %v, want %v", h.GetSampleSum(), want)
	}
	cum := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for le, want := range map[float64]uint64{0.0001: 2, 0.00025: 2, 0.0025: 2, 0.005: 3, 1: 3} {
		if got := cum[le]; got != want {
			t.Errorf("bucket le=%v: %d, want %d", le, got, want)
		}
	}
	if len(h.GetBucket()) < len(latencyBounds) {
		t.Errorf("%d buckets, want %d", len(h.GetBucket()), len(latencyBounds))
	}
}

func TestHTTPStats(t *testing.T) {
	p := testProcess()
	p.Pools[0].Servers[0].Requests.Add(2)
	p.Pools[0].SlowRequests.Add(1)
	observe(p.Pools[0].Servers[0], time.Millisecond)
	addr := startServer(t, p, nil)
	resp, body := get(t, http.DefaultClient, "http://"+addr+"/stats")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkDocument(t, body) // no slow_requests, no histogram: twemproxy's keys only
	var parsed map[string]any
	if err := json.Unmarshal([]byte(body), &parsed); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if v := parsed["beta"].(map[string]any)["s1"].(map[string]any)["requests"]; v != 2.0 {
		t.Fatalf("beta.s1.requests = %v", v)
	}
}

func TestHTTPHealthz(t *testing.T) {
	var down atomic.Bool
	addr := startServer(t, testProcess(), func() error {
		if down.Load() {
			return errors.New(`pool "beta": no live server`)
		}
		return nil
	})
	resp, body := get(t, http.DefaultClient, "http://"+addr+"/healthz")
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthy: %d %q", resp.StatusCode, body)
	}
	down.Store(true)
	resp, body = get(t, http.DefaultClient, "http://"+addr+"/healthz")
	if resp.StatusCode != http.StatusServiceUnavailable || body != "pool \"beta\": no live server\n" {
		t.Fatalf("unhealthy: %d %q", resp.StatusCode, body)
	}
}

func TestHTTPOtherRequests(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	for _, path := range []string{"/nope", "/metrics/x", "/stats.json", "/index.html"} {
		if resp, body := get(t, http.DefaultClient, "http://"+addr+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", path, resp.StatusCode, body)
		}
	}
	resp, err := http.Post("http://"+addr+"/metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", resp.StatusCode)
	}
	head, err := http.Head("http://" + addr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusOK {
		t.Errorf("HEAD /stats: %d", head.StatusCode)
	}
}

func TestHTTPKeepAlive(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var reused atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused.Store(info.Reused) }}
	for i, path := range []string{"/healthz", "/stats", "/metrics"} {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || reused.Load() != (i > 0) {
			t.Fatalf("GET %s: status %d, connection reused %v", path, resp.StatusCode, reused.Load())
		}
	}
}

func TestHTTPHeaderTooLarge(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// Written from another goroutine: the server may answer and close
	// before it has read everything.
	go conn.Write([]byte("GET /stats HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// observe counts one request sent, and its reply after d, as a server
// connection does.
func observe(s *Server, d time.Duration) {
	if s != nil {
		s.OutQueue.Add(1)
	}
	var t Replies
	t.Add(0, 0, d)
	s.AddReplies(&t)
}

func TestRepliesLatency(t *testing.T) {
	s := &Server{}
	for _, tc := range []struct {
		d      time.Duration
		bucket int
	}{
		{-time.Second, 0},
		{0, 0},
		{100 * time.Microsecond, 0}, // bounds are inclusive, as Prometheus's le
		{100*time.Microsecond + 1, 1},
		{time.Millisecond, 3},
		{7 * time.Millisecond, 6},
		{time.Second, len(latencyBounds) - 1},
		{time.Second + 1, len(latencyBounds)},
		{time.Hour, len(latencyBounds)},
	} {
		before, _, _ := s.latencySnapshot()
		observe(s, tc.d)
		after, _, _ := s.latencySnapshot()
		for i := range after {
			want := before[i]
			if i == tc.bucket {
				want++
			}
			if after[i] != want {
				t.Errorf("a reply after %v: bucket %d went %d -> %d", tc.d, i, before[i], after[i])
			}
		}
	}
	if _, count, _ := s.latencySnapshot(); count != 9 {
		t.Errorf("count %d, want 9", count)
	}
	var nilServer *Server
	observe(nilServer, time.Millisecond) // must not panic
}

// TestRepliesCounters: a tally of several replies moves every counter it
// covers by their total at once, and is empty after.
func TestRepliesCounters(t *testing.T) {
	s := &Server{}
	s.OutQueue.Add(5)
	s.OutQueueBytes.Add(500)
	var r Replies
	r.Add(10, 100, time.Millisecond)
	r.Add(20, 150, 2*time.Millisecond)
	r.Add(30, 200, 3*time.Millisecond)
	if r.Len() != 3 {
		t.Fatalf("Len %d, want 3", r.Len())
	}
	s.AddReplies(&r)
	if r.Len() != 0 {
		t.Errorf("the tally holds %d replies after AddReplies", r.Len())
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"responses", s.Responses.Load(), 3},
		{"response_bytes", s.ResponseBytes.Load(), 60},
		{"out_queue", s.OutQueue.Load(), 2},
		{"out_queue_bytes", s.OutQueueBytes.Load(), 50},
	} {
		if c.got != c.want {
			t.Errorf("%s %d, want %d", c.name, c.got, c.want)
		}
	}
	if _, count, sum := s.latencySnapshot(); count != 3 || sum != 6*time.Millisecond {
		t.Errorf("histogram count %d sum %v, want 3 and 6ms", count, sum)
	}
	s.AddReplies(&r) // empty: counts nothing
	if s.Responses.Load() != 3 {
		t.Errorf("an empty tally counted: responses %d", s.Responses.Load())
	}
	if allocs := testing.AllocsPerRun(1000, func() {
		r.Add(10, 100, 3*time.Millisecond)
		s.AddReplies(&r)
	}); allocs != 0 {
		t.Errorf("Replies allocates %v times", allocs)
	}
}

func BenchmarkReplies(b *testing.B) {
	s := &Server{}
	var r Replies
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Add(5, 40, time.Duration(i&0xffff)*time.Microsecond)
		if i%16 == 15 {
			s.AddReplies(&r)
		}
	}
}

// TestStatsPortUnderSlowClients: with 1,000 clients stalled in an HTTP
// request's headers, /healthz and the JSON document still answer within
// 100 ms: past the cap, each new connection takes the place of the
// oldest stalled one.
func TestStatsPortUnderSlowClients(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	const stalled = 1000
	holders := make([]net.Conn, 0, stalled)
	defer func() {
		for _, c := range holders {
			c.Close()
		}
	}()
	for i := range stalled {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		holders = append(holders, c)
		if _, err := c.Write([]byte("GET /stats HTTP/1.1\r\nHost: x\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	// Once the server has taken the last one in, it has closed the oldest
	// ones past its cap, without an answer.
	lastClosed := holders[stalled-maxConns-1]
	lastClosed.SetReadDeadline(time.Now().Add(httpReadHeaderTimeout / 2))
	if n, err := lastClosed.Read(make([]byte, 1)); n != 0 || !(err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("connection %d of %d read %d bytes, %v; want it closed for a newer one", stalled-maxConns, stalled, n, err)
	}
	client := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/healthz", "/stats", "/healthz"} {
		start := time.Now()
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s with %d stalled clients: %v", path, stalled, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %q %v", path, resp.StatusCode, body, err)
		}
		if path == "/stats" {
			checkDocument(t, string(body))
		}
		t.Logf("GET %s answered in %v", path, time.Since(start))
	}
}

// TestConnTableEvictsOldestIdle: past the limit, the oldest connection
// not being answered makes room; when every one is, the oldest of all.
func TestConnTableEvictsOldestIdle(t *testing.T) {
	table := newConnTable(3)
	conns := make([]*statsConn, 6)
	for i := range conns {
		conns[i] = &statsConn{table: table}
	}
	for _, c := range conns[:3] {
		if evicted := table.admit(c); evicted != nil {
			t.Fatalf("evicted %p under the limit", evicted)
		}
	}
	conns[0].answering.Store(true)
	if evicted := table.admit(conns[3]); evicted != conns[1] {
		t.Fatalf("evicted %p, want the oldest idle %p", evicted, conns[1])
	}
	for _, c := range conns[:4] {
		c.answering.Store(true)
	}
	if evicted := table.admit(conns[4]); evicted != conns[0] {
		t.Fatalf("every one answering: evicted %p, want the oldest %p", evicted, conns[0])
	}
	table.remove(conns[2]) // closed by its client
	if evicted := table.admit(conns[5]); evicted != nil {
		t.Fatalf("evicted %p with a place free", evicted)
	}
	var held []*statsConn
	for e := table.conns.Front(); e != nil; e = e.Next() {
		held = append(held, e.Value.(*statsConn))
	}
	if want := []*statsConn{conns[3], conns[4], conns[5]}; !slices.Equal(held, want) {
		t.Fatalf("table holds %p, want %p", held, want)
	}
}

// TestStatusPageServed: GET / is the page, its style and script inline
// and allowed by the hashes in its Content-Security-Policy, which allows
// nothing else to load or run. (browser_test.go runs it in Chromium.)
func TestStatusPageServed(t *testing.T) {
	addr := startServer(t, testProcess(), nil)
	resp, body := get(t, http.DefaultClient, "http://"+addr+"/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	policy := resp.Header.Get("Content-Security-Policy")
	inline := func(open, close string) string {
		_, rest, ok := strings.Cut(body, open)
		inner, _, ok2 := strings.Cut(rest, close)
		if !ok || !ok2 {
			t.Fatalf("the page has no %s...%s", open, close)
		}
		sum := sha256.Sum256([]byte(inner))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	for _, want := range []string{
		"default-src 'none'", "connect-src 'self'",
		"style-src " + inline("<style>", "</style>"),
		"script-src " + inline("<script>", "</script>"),
	} {
		if !strings.Contains(policy, want+";") {
			t.Errorf("Content-Security-Policy %q lacks %q", policy, want)
		}
	}
	for _, external := range []string{"src=", "href=\"http", "@import", "url("} {
		if strings.Contains(body, external) {
			t.Errorf("the page loads something (%s)", external)
		}
	}
}

// brokenListener fails its accepts with an error that is not temporary.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, syscall.EINVAL }

// TestPortError: an accept error that ends Serve is logged at error
// level and kept: Err and /healthz report it.
func TestPortError(t *testing.T) {
	logFile := logToFile(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	port := StartPort(brokenListener{inner}, testProcess, func() error { return nil })
	port.Wait()
	if !errors.Is(port.Err(), syscall.EINVAL) {
		t.Fatalf("Err: %v", port.Err())
	}
	if err := port.health(func() error { return nil })(); err == nil || !strings.Contains(err.Error(), "stats port: invalid argument") {
		t.Errorf("health: %v", err)
	}
	if log := readFile(logFile); !strings.Contains(log, ": invalid argument: no longer served") {
		t.Errorf("log: %q", log)
	}
}
