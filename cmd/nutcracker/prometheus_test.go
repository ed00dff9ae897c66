//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// The alerting rules shipped for Prometheus, and their unit tests.
const (
	alertsFile     = "../../contrib/prometheus/alerts.yml"
	alertsTestFile = "../../contrib/prometheus/alerts_test.yml"
)

// prometheusTools returns the paths of Debian's prometheus and promtool,
// skipping the test when they are not installed.
func prometheusTools(t *testing.T) (prometheus, promtool string) {
	t.Helper()
	for _, name := range []string{"prometheus", "promtool"} {
		path, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed (Debian package prometheus): `make prometheus-test` installs it and runs this test", name)
		}
		if name == "prometheus" {
			prometheus = path
		} else {
			promtool = path
		}
	}
	return prometheus, promtool
}

// TestPrometheusRules checks contrib/prometheus/alerts.yml with promtool
// and runs its unit tests.
func TestPrometheusRules(t *testing.T) {
	_, promtool := prometheusTools(t)
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertsTestFile}} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheus has a real Prometheus scrape the stats port of a master
// with two workers in front of real redis-servers: the request counter
// and the latency histogram reach it with their pool and server labels,
// promtool accepts /metrics, and the shipped alerts fire on what they
// watch for (a server ejected, a pool without a live server, a worker
// killed, a reload refused) and only on that.
func TestPrometheus(t *testing.T) {
	prometheus, promtool := prometheusTools(t)
	r1, r2, r3 := testutil.StartRedis(t), testutil.StartRedis(t), testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	lone := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	// One failure ejects a server for ten minutes: the test sees it out.
	eject := "  auto_eject_hosts: true\n  server_failure_limit: 1\n  server_retry_timeout: 600000\n"
	conf := fmt.Sprintf("p:\n  listen: %s\n  redis: true\n%s  servers:\n   - %s:1 one\n   - %s:1 two\n"+
		"lone:\n  listen: %s\n  redis: true\n%s  servers:\n   - %s:1 three\n",
		listen, eject, r1.Addr, r2.Addr, lone, eject, r3.Addr)
	m := startMaster(t, conf, listen, "-n", "2")
	m.waitServing(t)

	c := testutil.Dial(t, listen)
	for i := range 200 {
		key := fmt.Sprintf("key:%d", i)
		if got := c.Do("SET", key, "v"); got != "+OK\r\n" {
			t.Fatalf("SET %s: %q", key, got)
		}
		if got := c.Do("GET", key); got != "$1\r\nv\r\n" {
			t.Fatalf("GET %s: %q", key, got)
		}
	}
	if got := testutil.Dial(t, lone).Do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET on pool lone: %q", got)
	}

	t.Run("promtool check metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + m.stats + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		check := exec.Command(promtool, "check", "metrics")
		check.Stdin = resp.Body
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	prom := startPrometheus(t, prometheus, m.stats)
	prom.waitQuery(t, `up{job="nutcracker"} == 1`, 1)

	// What the pool's requests left: a counter and a histogram per server.
	requests := prom.waitQuery(t, `nutcracker_server_requests_total{pool="p"} > 0`, 2)
	counts := prom.waitQuery(t, `nutcracker_server_request_duration_seconds_count{pool="p"} > 0`, 2)
	buckets := prom.waitQuery(t, `nutcracker_server_request_duration_seconds_bucket{pool="p",server="one"}`, 14)
	for _, s := range slices.Concat(requests, counts, buckets) {
		want := []string{"__name__", "instance", "job", "pool", "server"}
		if _, ok := s.Metric["le"]; ok {
			want = []string{"__name__", "instance", "job", "le", "pool", "server"}
		}
		if got := s.labelNames(); !slices.Equal(got, want) {
			t.Errorf("%v: labels %v, want %v", s.Metric, got, want)
		}
	}
	if got := serverNames(requests); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("requests counted for servers %v, want one and two", got)
	}
	// Each SET and GET is one request: 400 in all, and as many latencies.
	prom.waitQuery(t, `sum(nutcracker_server_requests_total{pool="p"}) == 400`, 1)
	prom.waitQuery(t, `sum(nutcracker_server_request_duration_seconds_count{pool="p"}) == 400`, 1)
	prom.waitQuery(t, `nutcracker_server_request_duration_seconds_bucket{pool="p",server="one",le="+Inf"}
		== on(pool, server) nutcracker_server_request_duration_seconds_count`, 1)

	// Nothing is wrong yet: once the rules ran on these series, no alert
	// is even pending.
	prom.waitRulesEvaluated(t)
	if alerts := prom.alerts(t); len(alerts) != 0 {
		t.Errorf("alerts before any fault: %v", alerts)
	}

	// The faults. A worker killed first: its replacement would not
	// remember an ejection the killed one made.
	workers := m.workers(t)
	if len(workers) != 2 {
		t.Fatalf("workers: %v", workers)
	}
	syscall.Kill(workers[1], syscall.SIGKILL)
	testutil.Eventually(t, 5*time.Second, func() bool {
		pid, ok := m.workers(t)[1]
		return ok && pid != workers[1]
	}, "worker 1 not started again")
	m.waitServing(t)
	// Pool lone's only server dies: the first request that fails on it
	// ejects it (from the worker that sent it, which is enough).
	r3.Kill()
	for i := 0; ; i++ {
		reply := testutil.Dial(t, lone).Do("GET", "k")
		if strings.HasPrefix(reply, "-") {
			break
		}
		if i == 10 {
			t.Fatalf("GET on pool lone with its server killed: %q", reply)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		return m.metric(t, `nutcracker_server_ejected{pool="lone",server="three"}`) == 1
	}, "server three not ejected")
	// A reload of an invalid file is refused.
	if err := os.WriteFile(m.conf, []byte("p:\n  listen: "+listen+"\n  redis: maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.cmd.Process.Signal(syscall.SIGHUP)
	m.waitMetric(t, `nutcracker_reloads_total{result="refused"}`, 1)

	faulted := time.Now()
	want := []string{
		`NutcrackerPoolNoLiveServer{pool="lone"}`,
		`NutcrackerReloadRefused{}`,
		`NutcrackerServerEjected{pool="lone",server="three"}`,
		`NutcrackerWorkerRestarting{worker="1"}`,
	}
	var firing []string
	prom.wait(t, 20*time.Second, func() bool {
		firing = nil
		for _, a := range prom.alerts(t) {
			firing = append(firing, a.String())
		}
		slices.Sort(firing)
		return slices.Equal(firing, want)
	}, func() string { return fmt.Sprintf("alerts %v, want %v firing", firing, want) })
	prom.waitRulesEvaluated(t)
	t.Logf("%d series of request counts, %d latency buckets per server; %v firing %v after the last fault",
		len(requests), len(buckets), firing, time.Since(faulted).Round(time.Millisecond))
}

// TestAlertMetricsOneProcess checks, with -n 0, the metrics the alerts
// read that a master does not make for it: the reloads, counted from 0,
// and a server's ejection.
func TestAlertMetricsOneProcess(t *testing.T) {
	r := testutil.StartRedis(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	conf := fmt.Sprintf("p:\n  listen: %s\n  redis: true\n  auto_eject_hosts: true\n  server_failure_limit: 1\n"+
		"  server_retry_timeout: 600000\n  servers:\n   - %s:1 one\n", listen, r.Addr)
	m := startMaster(t, conf, listen, "-n", "0")
	resp, err := http.Get("http://" + m.stats + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`nutcracker_reloads_total{result="ok"} 0`, `nutcracker_reloads_total{result="partial"} 0`,
		`nutcracker_reloads_total{result="refused"} 0`, `nutcracker_config_last_reload_successful 1`,
		`nutcracker_server_ejected{pool="p",server="one"} 0`,
	} {
		if !bytes.Contains(body, []byte("\n"+line+"\n")) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		check := exec.Command(promtool, "check", "metrics")
		check.Stdin = bytes.NewReader(body)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}

	for _, step := range []struct {
		body       string
		counter    string
		successful float64
	}{
		{"p:\n  listen: " + listen + "\n  redis: maybe\n", `nutcracker_reloads_total{result="refused"}`, 0},
		{conf, `nutcracker_reloads_total{result="ok"}`, 1},
	} {
		if err := os.WriteFile(m.conf, []byte(step.body), 0o644); err != nil {
			t.Fatal(err)
		}
		m.cmd.Process.Signal(syscall.SIGHUP)
		m.waitMetric(t, step.counter, 1)
		if got := m.metric(t, "nutcracker_config_last_reload_successful"); got != step.successful {
			t.Errorf("after %s: last reload successful %v", step.counter, got)
		}
	}

	r.Kill()
	if reply := testutil.Dial(t, listen).Do("GET", "k"); !strings.HasPrefix(reply, "-") {
		t.Fatalf("GET with the server killed: %q", reply)
	}
	if got := m.metric(t, `nutcracker_server_ejected{pool="p",server="one"}`); got != 1 {
		t.Errorf("server one ejected: %v", got)
	}
}

// serverNames returns the server labels of samples, sorted.
func serverNames(samples []promSample) []string {
	var names []string
	for _, s := range samples {
		names = append(names, s.Metric["server"])
	}
	slices.Sort(names)
	return names
}

// promServer is a Prometheus process started by a test.
type promServer struct {
	url string // http://127.0.0.1:port
}

// startPrometheus runs prometheus with a fresh storage directory, scraping
// the stats port at statsAddr every second and evaluating the shipped
// alerts as often, and waits until it is ready. Its log is shown if the
// test fails.
func startPrometheus(t *testing.T, prometheus, statsAddr string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	config := writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: nutcracker
    static_configs:
      - targets: ['%s']
`, rules, statsAddr))
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	var log bytes.Buffer
	cmd := exec.Command(prometheus, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	p := &promServer{url: "http://" + addr}
	p.wait(t, 20*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %s", log.String())
		default:
		}
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return "prometheus not ready" })
	return p
}

// wait polls cond every 100 ms until it holds, failing t after timeout
// with what's message: Prometheus changes once a second (a scrape, an
// evaluation), so a faster poll would only load it.
func (p *promServer) wait(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("not within %v: %s", timeout, what())
		}
	}
}

// promSample is one series of an instant query's result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [time, "value"]
}

// labelNames returns the sample's label names, sorted.
func (s promSample) labelNames() []string {
	var names []string
	for name := range s.Metric {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// api gets path from Prometheus's HTTP API and decodes its data into v.
func (p *promServer) api(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	var reply struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &reply); err != nil || reply.Status != "success" {
		t.Fatalf("prometheus %s: %v %s: %s", path, err, reply.Error, body)
	}
	if err := json.Unmarshal(reply.Data, v); err != nil {
		t.Fatalf("prometheus %s: %v: %s", path, err, reply.Data)
	}
}

// waitQuery runs the instant query q until it returns n series, and
// returns them.
func (p *promServer) waitQuery(t *testing.T, q string, n int) []promSample {
	t.Helper()
	var result []promSample
	var got []string
	p.wait(t, 20*time.Second, func() bool {
		var data struct {
			Result []promSample `json:"result"`
		}
		p.api(t, "/api/v1/query?query="+url.QueryEscape(q), &data)
		result, got = data.Result, nil
		for _, s := range result {
			got = append(got, fmt.Sprint(s.Metric, " ", s.Value[1]))
		}
		return len(result) == n
	}, func() string { return fmt.Sprintf("query %s: %v, want %d series", q, got, n) })
	return result
}

// promAlert is an alert Prometheus holds, pending or firing.
type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// String is the alert's name and the labels that say what it is about,
// and its state unless it fires.
func (a promAlert) String() string {
	var labels []string
	for _, name := range []string{"pool", "server", "worker"} {
		if v, ok := a.Labels[name]; ok {
			labels = append(labels, fmt.Sprintf("%s=%q", name, v))
		}
	}
	name := a.Labels["alertname"] + "{" + strings.Join(labels, ",") + "}"
	if a.State != "firing" {
		name += " (" + a.State + ")"
	}
	return name
}

// alerts returns the alerts Prometheus holds now.
func (p *promServer) alerts(t *testing.T) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.api(t, "/api/v1/alerts", &data)
	return data.Alerts
}

// waitRulesEvaluated waits until Prometheus has evaluated the alerting
// rules after this call, and fails t unless each one evaluated without
// an error.
func (p *promServer) waitRulesEvaluated(t *testing.T) {
	t.Helper()
	since := time.Now()
	var data struct {
		Groups []struct {
			LastEvaluation time.Time `json:"lastEvaluation"`
			Rules          []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	p.wait(t, 10*time.Second, func() bool {
		p.api(t, "/api/v1/rules", &data)
		return len(data.Groups) == 1 && data.Groups[0].LastEvaluation.After(since)
	}, func() string { return "the alerting rules not evaluated" })
	for _, r := range data.Groups[0].Rules {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
		}
	}
}
