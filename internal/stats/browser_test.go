package stats_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nutcracker-go/nutcracker/internal/config"
	"github.com/nutcracker-go/nutcracker/internal/proxy"
	"github.com/nutcracker-go/nutcracker/internal/stats"
	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// The status page tests drive a real headless Chromium (Debian's
// chromium package; `make browser-test` installs it) through the DevTools
// protocol, against a proxy in front of real redis-servers.

// startBrowser starts a headless Chromium with a fresh profile and returns
// a tab's context; the browser is closed when the test ends.
//
// The profile turns off Chromium's network prediction. With it on,
// Chromium opens a connection before it has a request to send, and one
// left silent for sniffWait gets twemproxy's document from the stats
// port, as any silent client does; Chromium then rejects the page it
// navigates to on that connection (ERR_INVALID_HTTP_RESPONSE). sniffWait
// is long enough for the preconnections seen (with 50 ms, three first
// loads of six failed on a loaded machine; with 500 ms none), but a test
// must not depend on the machine's speed. The page's own fetches try
// again (status.js get).
func startBrowser(t testing.TB) context.Context {
	t.Helper()
	var exe string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			exe = path
			break
		}
	}
	if exe == "" {
		t.Skip("chromium is not installed: `make browser-test` installs chromium and chromium-driver and runs this test")
	}
	profile := t.TempDir()
	if err := os.MkdirAll(filepath.Join(profile, "Default"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(profile, "Default", "Preferences"), []byte(`{"net":{"network_prediction_options":2}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", exe, err)
	}
	return ctx
}

// run runs a browser action with a deadline and returns its value,
// failing the test on error.
func run[T any](t testing.TB, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	return run(t, ctx, expr, chromedp.Evaluate[T](expr))
}

// artifactDir is where screenshots go: $ARTIFACTS when set, else the
// test's artifact directory (under -outputdir with -artifacts).
func artifactDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png := run(t, ctx, "screenshot", chromedp.CaptureScreenshot())
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// startTraffic sends GETs through each proxy address, pipelined 16 at a
// time over keys spread across the servers, until the test ends. Errors
// (a killed backend) are answers like any other; a broken connection is
// dialed again.
func startTraffic(t testing.TB, addrs ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for _, addr := range addrs {
		wg.Go(func() {
			for ctx.Err() == nil {
				sendGets(ctx, addr)
			}
		})
	}
}

// sendGets sends batches of GETs on one connection until ctx ends or the
// connection breaks.
func sendGets(ctx context.Context, addr string) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		time.Sleep(50 * time.Millisecond) // the proxy is not up yet, or gone
		return
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for i := 0; ctx.Err() == nil; {
		var batch []byte
		for range 16 {
			batch = fmt.Appendf(batch, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(strconv.Itoa(i))+4, "key:"+strconv.Itoa(i))
			i = (i + 1) % 10000
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(batch); err != nil {
			return
		}
		for range 16 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if n, err := strconv.Atoi(strings.TrimSpace(line[1:])); line[0] == '$' && err == nil && n >= 0 {
				if _, err := io.CopyN(io.Discard, r, int64(n)+2); err != nil {
					return
				}
			}
		}
		time.Sleep(2 * time.Millisecond) // a steady rate, not a benchmark
	}
}

// startProxy runs a proxy on yaml and its stats port with extra
// collectors, and returns the stats port's address.
func startProxy(t testing.TB, yaml string, extra ...prometheus.Collector) string {
	t.Helper()
	cfg, err := config.Parse("status.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	p, err := proxy.New(cfg, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Serve()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := stats.StartPort(ln, p.Stats, p.Health, extra...)
	t.Cleanup(func() {
		ln.Close()
		port.Wait()
		p.Close()
	})
	return ln.Addr().String()
}

// TestStatusPageInBrowser: a proxy with three pools, "cache" of three
// redis-servers that eject on failure, "plain" of two that do not, and
// "wide" of 500 servers, serves the status page with traffic flowing. In
// Chromium every server gets a row and rates above zero show; killing a
// cache server's backend turns its row to ejected, and a plain server's
// to failed, within 3 s. Then the page is checked at a phone's width.
// Screenshots of both are saved.
func TestStatusPageInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	var cache []*testutil.Process
	for range 3 {
		cache = append(cache, testutil.StartRedis(t))
	}
	plain := []*testutil.Process{testutil.StartRedis(t), testutil.StartRedis(t)}
	wideBackend := testutil.StartRedis(t)
	cacheAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	plainAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	wideAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	var yaml strings.Builder
	fmt.Fprintf(&yaml, `cache:
  listen: %s
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  server_failure_limit: 1
  server_retry_timeout: 30000
  timeout: 1000
  servers:
`, cacheAddr)
	for i, r := range cache {
		fmt.Fprintf(&yaml, "   - %s:1 c%d\n", r.Addr, i)
	}
	fmt.Fprintf(&yaml, "plain:\n  listen: %s\n  redis: true\n  timeout: 1000\n  servers:\n", plainAddr)
	for i, r := range plain {
		fmt.Fprintf(&yaml, "   - %s:1 p%d\n", r.Addr, i)
	}
	fmt.Fprintf(&yaml, "wide:\n  listen: %s\n  redis: true\n  timeout: 1000\n  servers:\n", wideAddr)
	for i := range 500 {
		fmt.Fprintf(&yaml, "   - %s:1 w%03d\n", wideBackend.Addr, i)
	}
	statsAddr := startProxy(t, yaml.String())
	startTraffic(t, cacheAddr, cacheAddr, plainAddr, wideAddr)

	run(t, ctx, "open the page", chromedp.Navigate("http://"+statsAddr+"/"))
	row := func(pool, server string) string {
		return fmt.Sprintf(`document.querySelector('details[data-pool=%q] tr[data-server=%q]')`, pool, server)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		return eval[int](t, ctx, `document.querySelectorAll('tr.server').length`) == 505
	}, "the page does not show 505 server rows")
	testutil.Eventually(t, 10*time.Second, func() bool {
		rates := eval[[]string](t, ctx, `['cache/c0', 'cache/c1', 'cache/c2', 'plain/p0', 'plain/p1'].map(ps => {
			const [p, s] = ps.split('/');
			return document.querySelector('details[data-pool="' + p + '"] tr[data-server="' + s + '"] .rate').textContent;
		})`)
		for _, r := range rates {
			if v, err := strconv.ParseFloat(strings.ReplaceAll(r, ",", ""), 64); err != nil || v <= 0 {
				return false
			}
		}
		return true
	}, "the cache and plain servers' request rates do not rise above zero")
	for _, ps := range [][2]string{{"cache", "c1"}, {"plain", "p1"}} {
		if state := eval[string](t, ctx, row(ps[0], ps[1])+`.dataset.state`); state != "live" {
			t.Fatalf("%s is %q before its backend is killed, want live", ps[1], state)
		}
	}

	cache[1].Kill()
	plain[1].Kill()
	killed := time.Now()
	var c1, p1 string
	testutil.Eventually(t, 3*time.Second, func() bool {
		c1 = eval[string](t, ctx, row("cache", "c1")+`.dataset.state`)
		p1 = eval[string](t, ctx, row("plain", "p1")+`.dataset.state`)
		return c1 == "ejected" && p1 == "failed"
	}, "3 s after their backends were killed, c1 is not ejected or p1 not failed")
	t.Logf("c1 ejected and p1 failed %v after the kills", time.Since(killed).Round(time.Millisecond))
	for _, ps := range [][2]string{{"cache", "c0"}, {"cache", "c2"}, {"plain", "p0"}} {
		if state := eval[string](t, ctx, row(ps[0], ps[1])+`.dataset.state`); state != "live" {
			t.Errorf("%s is %q, want live", ps[1], state)
		}
	}
	if health := eval[string](t, ctx, `document.getElementById('health').textContent`); health != "healthy" { // two cache servers are left: the pool lives
		t.Errorf("health badge %q, want healthy", health)
	}
	// A few more refreshes, so that the screenshot's charts show the kill.
	testutil.Eventually(t, 10*time.Second, func() bool {
		return eval[int](t, ctx, `nutcrackerStatus.polls`) >= 8
	}, "the page stopped refreshing")
	render := eval[struct{ RenderMs, ScriptMs float64 }](t, ctx, `({RenderMs: nutcrackerStatus.renderMs, ScriptMs: nutcrackerStatus.scriptMs})`)
	t.Logf("505 rows refreshed in %.1f ms, %.1f ms of it script, the rest layout", render.RenderMs, render.ScriptMs)
	// A refresh longer than its period would fall ever further behind.
	if render.RenderMs > 1000 {
		t.Errorf("a refresh of 505 rows took %.0f ms, more than its 1 s period", render.RenderMs)
	}
	if bad := eval[[]string](t, ctx, `['NaN', 'undefined', 'Infinity'].filter(w => document.body.innerText.includes(w))`); len(bad) > 0 {
		t.Errorf("the page shows %v", bad)
	}
	screenshot(t, ctx, "status-desktop.png")

	run(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	var overflow struct{ Page, Window int }
	testutil.Eventually(t, 5*time.Second, func() bool {
		overflow = eval[struct{ Page, Window int }](t, ctx, `({Page: document.documentElement.scrollWidth, Window: window.innerWidth})`)
		return overflow.Window == 390
	}, "the viewport is not 390 px wide")
	// The tables scroll sideways in their own boxes; the page itself fits.
	if overflow.Page > overflow.Window {
		t.Errorf("at a phone's width the page is %d px wide in a %d px window", overflow.Page, overflow.Window)
	}
	// Every row still shows its server's name (a column sized as a share
	// of the width once went to nothing there).
	if w := eval[float64](t, ctx, `Math.min(...[...document.querySelectorAll('th.name')].map(th => th.getBoundingClientRect().width))`); w < 50 {
		t.Errorf("at a phone's width the server name column is %.0f px wide", w)
	}
	screenshot(t, ctx, "status-phone.png")
}

// TestStatusPageStates: sentinel groups (with a master, without one, and
// one whose master moves), a cluster pool's node, the workers and the
// reloads as a master's stats port reports them (the collectors the
// supervisor registers, by the same names), and an unhealthy /healthz.
func TestStatusPageStates(t *testing.T) {
	ctx := startBrowser(t)
	proc := &stats.Process{Source: "states", Version: "test", Start: time.Now()}
	group := func(name, master string) *stats.Server {
		s := &stats.Server{Name: name, Group: true}
		s.SetMaster(master)
		return s
	}
	moving := group("g3", "127.0.0.1:6391")
	sentinels := &stats.Pool{Name: "sentinel", Servers: []*stats.Server{group("g1", "127.0.0.1:6390"), group("g2", ""), moving}}
	cluster := &stats.Pool{Name: "cluster", Servers: []*stats.Server{{Name: "127.0.0.1:7000"}}}
	cluster.Cluster.Store(true)
	proc.Pools = []*stats.Pool{sentinels, cluster}

	workers := prometheus.NewGauge(prometheus.GaugeOpts{Name: "nutcracker_workers", Help: "Worker processes serving."})
	workers.Set(2)
	restarts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nutcracker_worker_restarts_total", Help: "restarts"}, []string{"worker"})
	restarts.WithLabelValues("1").Inc()
	restarts.WithLabelValues("2")
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nutcracker_reloads_total", Help: "reloads"}, []string{"result"})
	reloads.WithLabelValues("ok").Inc()
	reloads.WithLabelValues("refused")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := func() error {
		return fmt.Errorf("no master known for sentinel groups %s", strings.Join(proc.GroupsDown(), ", "))
	}
	port := stats.StartPort(ln, func() *stats.Process { return proc }, health, workers, restarts, reloads)
	t.Cleanup(func() {
		ln.Close()
		port.Wait()
	})
	run(t, ctx, "open the page", chromedp.Navigate("http://"+ln.Addr().String()+"/"))

	states := func() map[string]string {
		return eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('tr.server')].map(r => [r.dataset.server, r.dataset.state]))`)
	}
	want := map[string]string{"g1": "sentinel group", "g2": "no master", "g3": "sentinel group", "127.0.0.1:7000": "cluster node"}
	var got map[string]string
	testutil.Eventually(t, 10*time.Second, func() bool {
		got = states()
		return fmt.Sprint(got) == fmt.Sprint(want)
	}, "row states %v, want %v", got, want)
	text := func(id string) string {
		return eval[string](t, ctx, `document.getElementById('`+id+`').textContent`)
	}
	if got, want := text("workers"), "2 serving, 1 restart (#1×1)"; got != want {
		t.Errorf("workers %q, want %q", got, want)
	}
	if got, want := text("health"), "no master known for sentinel groups sentinel/g2"; got != want {
		t.Errorf("health badge %q, want %q", got, want)
	}

	moving.Failovers.Add(1)
	moving.SetMaster("127.0.0.1:6392")
	reloads.WithLabelValues("refused").Inc()
	testutil.Eventually(t, 3*time.Second, func() bool {
		return states()["g3"] == "failed over" && strings.Contains(text("reloads"), "last: refused at")
	}, "a failover and a refused reload are not shown: g3 %q, reloads %q", states()["g3"], text("reloads"))
	if detail := eval[string](t, ctx, `document.querySelector('tr[data-server="g3"] td.detail').textContent`); !strings.Contains(detail, "127.0.0.1:6392") {
		t.Errorf("g3's detail %q does not name its new master", detail)
	}
	screenshot(t, ctx, "status-states.png")
}
