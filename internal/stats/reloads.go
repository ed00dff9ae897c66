package stats

import "github.com/prometheus/client_golang/prometheus"

// The results of a configuration reload, as nutcracker_reloads_total's
// result label names them.
const (
	ReloadOK      = "ok"      // applied everywhere
	ReloadPartial = "partial" // applied, but a pool or a worker failed to apply it
	ReloadRefused = "refused" // the file is invalid: the running configuration stays
)

// Reloads counts configuration reloads (SIGHUP) for /metrics, in the one
// process and in a master alike: nutcracker_reloads_total{result} and
// nutcracker_config_last_reload_successful, 0 from a refused or partial
// reload until one succeeds, so that an alert lasts as long as the file
// on disk is not the one running.
type Reloads struct {
	total  *prometheus.CounterVec
	lastOK prometheus.Gauge
}

// NewReloads returns Reloads with every result at 0: a series that only
// appears on its first increment is missed by increase() and rate().
func NewReloads() *Reloads {
	r := &Reloads{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nutcracker_reloads_total", Help: "Configuration reloads (SIGHUP) by result.",
		}, []string{"result"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nutcracker_config_last_reload_successful",
			Help: "1 unless the last configuration reload was refused or partial.",
		}),
	}
	for _, result := range []string{ReloadOK, ReloadPartial, ReloadRefused} {
		r.total.WithLabelValues(result)
	}
	r.lastOK.Set(1)
	return r
}

// Count counts a reload that ended with result (ReloadOK, ...).
func (r *Reloads) Count(result string) {
	r.total.WithLabelValues(result).Inc()
	r.lastOK.Set(boolValue(result == ReloadOK))
}

func (r *Reloads) Describe(ch chan<- *prometheus.Desc) {
	r.total.Describe(ch)
	r.lastOK.Describe(ch)
}

func (r *Reloads) Collect(ch chan<- prometheus.Metric) {
	r.total.Collect(ch)
	r.lastOK.Collect(ch)
}
