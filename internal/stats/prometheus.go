package stats

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// promFamily is the Prometheus family of one twemproxy metric.
type promFamily struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	scale float64 // multiplies the raw value
}

// promSpec names the family of one twemproxy metric; help, if set,
// replaces the twemproxy description (for a metric whose unit changes).
type promSpec struct {
	name  string
	typ   prometheus.ValueType
	scale float64
	help  string
}

const (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue
)

// poolSpecs and serverSpecs name the families of PoolMetrics and
// ServerMetrics, in their order.
var (
	poolSpecs = []promSpec{
		{"nutcracker_pool_client_eof_total", counter, 1, ""},
		{"nutcracker_pool_client_err_total", counter, 1, ""},
		{"nutcracker_pool_client_connections", gauge, 1, ""},
		{"nutcracker_pool_server_ejects_total", counter, 1, ""},
		{"nutcracker_pool_forward_error_total", counter, 1, ""},
		{"nutcracker_pool_fragments_total", counter, 1, ""},
	}
	serverSpecs = []promSpec{
		{"nutcracker_server_eof_total", counter, 1, ""},
		{"nutcracker_server_err_total", counter, 1, ""},
		{"nutcracker_server_timedout_total", counter, 1, ""},
		{"nutcracker_server_connections", gauge, 1, ""},
		{"nutcracker_server_ejected_at_seconds", gauge, 1e-6, "timestamp when server was ejected in seconds since epoch (0: never)"},
		{"nutcracker_server_requests_total", counter, 1, ""},
		{"nutcracker_server_request_bytes_total", counter, 1, ""},
		{"nutcracker_server_responses_total", counter, 1, ""},
		{"nutcracker_server_response_bytes_total", counter, 1, ""},
		{"nutcracker_server_in_queue", gauge, 1, ""},
		{"nutcracker_server_in_queue_bytes", gauge, 1, ""},
		{"nutcracker_server_out_queue", gauge, 1, ""},
		{"nutcracker_server_out_queue_bytes", gauge, 1, ""},
	}
)

// newFamilies pairs specs with ms (same order) and their descriptions.
func newFamilies(ms []Metric, specs []promSpec, labels ...string) []promFamily {
	if len(ms) != len(specs) {
		panic("stats: Prometheus families out of step with twemproxy's metrics")
	}
	fams := make([]promFamily, len(ms))
	for i, sp := range specs {
		help := sp.help
		if help == "" {
			help = ms[i].Description
		}
		fams[i] = promFamily{prometheus.NewDesc(sp.name, help, labels, nil), sp.typ, sp.scale}
	}
	return fams
}

// promDescs describe what collector exposes.
type promDescs struct {
	pool, server []promFamily

	ejected, failover, sentinelMaster, redirections, mapFetches, mapEpoch, tlsClients, tlsFailures,
	slowRequests, latency, info, uptime, totalConns, currConns *prometheus.Desc

	// latencyBoundsSeconds are latencyBounds as Prometheus bucket bounds.
	latencyBoundsSeconds [len(latencyBounds)]float64
}

// descs returns the descriptions, made on the first scrape: a proxy that
// is never scraped does not build them (nor their label checks) at start.
var descs = sync.OnceValue(func() *promDescs {
	d := &promDescs{
		pool:   newFamilies(PoolMetrics, poolSpecs, "pool"),
		server: newFamilies(ServerMetrics, serverSpecs, "pool", "server"),
		ejected: prometheus.NewDesc("nutcracker_server_ejected",
			"1 while the server is out of its pool's ring (auto_eject_hosts), else 0; with workers, 1 while any worker has it out", []string{"pool", "server"}, nil),
		failover: prometheus.NewDesc("nutcracker_server_failover_total",
			"# times a sentinel group's master moved (twemproxy-163's server_failover)", []string{"pool", "server"}, nil),
		sentinelMaster: prometheus.NewDesc("nutcracker_sentinel_master",
			"1, labelled with a sentinel group's current master (addr is empty while none is known)", []string{"pool", "group", "addr"}, nil),
		redirections: prometheus.NewDesc("nutcracker_pool_cluster_redirections_total",
			"# redirections a cluster pool's requests followed, by kind (moved, ask, retry)", []string{"pool", "kind"}, nil),
		mapFetches: prometheus.NewDesc("nutcracker_pool_cluster_slot_map_fetches_total",
			"# times a cluster pool fetched the cluster's slot map", []string{"pool"}, nil),
		mapEpoch: prometheus.NewDesc("nutcracker_pool_cluster_slot_map_epoch",
			"how many changed slot maps a cluster pool applied", []string{"pool"}, nil),
		tlsClients: prometheus.NewDesc("nutcracker_pool_tls_client_connections",
			"# clients connected to the pool with TLS", []string{"pool"}, nil),
		tlsFailures: prometheus.NewDesc("nutcracker_pool_tls_handshake_failures_total",
			"# TLS handshakes that failed, with clients (side client) and with servers (side server), by reason", []string{"pool", "side", "reason"}, nil),
		slowRequests: prometheus.NewDesc("nutcracker_pool_slow_requests_total",
			"# requests slower than the slow-request threshold", []string{"pool"}, nil),
		latency: prometheus.NewDesc("nutcracker_server_request_duration_seconds",
			"latency of requests to the server", []string{"pool", "server"}, nil),
		info: prometheus.NewDesc("nutcracker_info",
			"always 1; labelled with the source (host name) and version of the stats document", []string{"source", "version"}, nil),
		uptime: prometheus.NewDesc("nutcracker_uptime_seconds",
			"time since the process started", nil, nil),
		totalConns: prometheus.NewDesc("nutcracker_connections_total",
			"# connections ever opened (twemproxy's total_connections)", nil, nil),
		currConns: prometheus.NewDesc("nutcracker_curr_connections",
			"# open connections: listeners, clients and servers (twemproxy's curr_connections)", nil, nil),
	}
	for i, b := range latencyBounds {
		d.latencyBoundsSeconds[i] = b.Seconds()
	}
	return d
})

// collector exposes the counters of the Process view returns to
// Prometheus, calling view and reading the atomics at scrape time; the
// request path never touches Prometheus.
type collector struct {
	view func() *Process
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	d := descs()
	for _, f := range d.pool {
		ch <- f.desc
	}
	for _, f := range d.server {
		ch <- f.desc
	}
	ch <- d.ejected
	for _, desc := range []*prometheus.Desc{d.failover, d.sentinelMaster, d.redirections, d.mapFetches, d.mapEpoch, d.tlsClients, d.tlsFailures, d.slowRequests, d.latency, d.info, d.uptime, d.totalConns, d.currConns} {
		ch <- desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	p := c.view()
	d := descs()
	ch <- prometheus.MustNewConstMetric(d.info, prometheus.GaugeValue, 1, p.Source, p.Version)
	ch <- prometheus.MustNewConstMetric(d.uptime, prometheus.GaugeValue, time.Since(p.Start).Seconds())
	ch <- prometheus.MustNewConstMetric(d.totalConns, prometheus.CounterValue, float64(p.TotalConnections.Load()))
	ch <- prometheus.MustNewConstMetric(d.currConns, prometheus.GaugeValue, float64(p.CurrConnections.Load()))
	for _, pool := range p.poolList() {
		for i, v := range pool.values() {
			f := d.pool[i]
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, float64(v)*f.scale, pool.Name)
		}
		ch <- prometheus.MustNewConstMetric(d.slowRequests, prometheus.CounterValue, float64(pool.SlowRequests.Load()), pool.Name)
		if pool.Cluster.Load() {
			for i, kind := range RedirectKinds {
				ch <- prometheus.MustNewConstMetric(d.redirections, counter, float64(pool.Redirections[i].Load()), pool.Name, kind)
			}
			ch <- prometheus.MustNewConstMetric(d.mapFetches, counter, float64(pool.MapFetches.Load()), pool.Name)
			ch <- prometheus.MustNewConstMetric(d.mapEpoch, gauge, float64(pool.MapEpoch.Load()), pool.Name)
		}
		if t := &pool.TLS; t.Used.Load() {
			ch <- prometheus.MustNewConstMetric(d.tlsClients, gauge, float64(t.Clients.Load()), pool.Name)
			for i, reason := range TLSFailureReasons {
				ch <- prometheus.MustNewConstMetric(d.tlsFailures, counter, float64(t.ClientFailures[i].Load()), pool.Name, "client", reason)
				ch <- prometheus.MustNewConstMetric(d.tlsFailures, counter, float64(t.ServerFailures[i].Load()), pool.Name, "server", reason)
			}
		}
		for _, s := range pool.serverList() {
			for i, v := range s.values() {
				f := d.server[i]
				ch <- prometheus.MustNewConstMetric(f.desc, f.typ, float64(v)*f.scale, pool.Name, s.Name)
			}
			ch <- prometheus.MustNewConstMetric(d.ejected, gauge, boolValue(s.Ejected.Load()), pool.Name, s.Name)
			if s.Group {
				ch <- prometheus.MustNewConstMetric(d.failover, counter, float64(s.Failovers.Load()), pool.Name, s.Name)
				ch <- prometheus.MustNewConstMetric(d.sentinelMaster, gauge, 1, pool.Name, s.Name, s.Master())
			}
			counts, count, sum := s.latencySnapshot()
			buckets := make(map[float64]uint64, len(d.latencyBoundsSeconds))
			var cum uint64
			for i, le := range d.latencyBoundsSeconds {
				cum += counts[i]
				buckets[le] = cum
			}
			ch <- prometheus.MustNewConstHistogram(d.latency, count, sum.Seconds(), buckets, pool.Name, s.Name)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewRegistry returns a Prometheus registry holding the metrics of the
// Process view returns, called once per scrape, the Go runtime and process
// collectors, and extra. It panics if extra clashes with these, as
// prometheus.MustRegister does. Serve builds one; it is exported for a
// caller that serves /metrics elsewhere.
func NewRegistry(view func() *Process, extra ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collector{view},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	reg.MustRegister(extra...)
	return reg
}
