// Package stats holds twemproxy's pool and server metrics (their names,
// order and descriptions as twemproxy's nc_stats.h has them), the atomic
// counters the request path updates, and the stats port.
//
// The request path only does atomic adds (a server connection's reader
// tallies its replies and adds them once per read: Replies). The latency
// histogram is of fixed buckets, with no locks. Everything else reads the
// atomics when asked: AppendJSON renders twemproxy's document, and the
// Prometheus collector behind /metrics builds its metrics at scrape time.
// Serve runs the stats port: twemproxy's document for plain TCP clients,
// HTTP for clients that send an HTTP request first (a status page for
// browsers, /metrics, /stats and /healthz).
//
// Several processes serve one document by summing Snapshots: each worker
// copies its counters into a Snapshot, the master merges them and serves
// Snapshot.Process through a view function Serve calls once per request.
package stats

import (
	"fmt"
	"io"
)

// Metric is one twemproxy statistic.
type Metric struct {
	Name        string
	Description string
}

// PoolMetrics are the per-pool metrics, in twemproxy's order.
var PoolMetrics = []Metric{
	{"client_eof", "# eof on client connections"},
	{"client_err", "# errors on client connections"},
	{"client_connections", "# active client connections"},
	{"server_ejects", "# times backend server was ejected"},
	{"forward_error", "# times we encountered a forwarding error"},
	{"fragments", "# fragments created from a multi-vector request"},
}

// ServerMetrics are the per-server metrics, in twemproxy's order.
var ServerMetrics = []Metric{
	{"server_eof", "# eof on server connections"},
	{"server_err", "# errors on server connections"},
	{"server_timedout", "# timeouts on server connections"},
	{"server_connections", "# active server connections"},
	{"server_ejected_at", "timestamp when server was ejected in usec since epoch"},
	{"requests", "# requests"},
	{"request_bytes", "total request bytes"},
	{"responses", "# responses"},
	{"response_bytes", "total response bytes"},
	{"in_queue", "# requests in incoming queue"},
	{"in_queue_bytes", "current request bytes in incoming queue"},
	{"out_queue", "# requests in outgoing queue"},
	{"out_queue_bytes", "current request bytes in outgoing queue"},
}

// Describe writes the metric descriptions as twemproxy's -D does.
func Describe(w io.Writer) {
	fmt.Fprintf(w, "pool stats:\n")
	for _, m := range PoolMetrics {
		fmt.Fprintf(w, "  %-20s\"%s\"\n", m.Name, m.Description)
	}
	fmt.Fprintf(w, "\nserver stats:\n")
	for _, m := range ServerMetrics {
		fmt.Fprintf(w, "  %-20s\"%s\"\n", m.Name, m.Description)
	}
}
