package stats

import (
	"net/http"
	"strings"
	"testing"
)

// TestReloads checks that every result is on /metrics from the start, and
// that the last reload's success follows the results counted.
func TestReloads(t *testing.T) {
	r := NewReloads()
	addr := startView(t, func() *Process { return testProcess() }, nil, r)
	scrape := func() string {
		_, body := get(t, http.DefaultClient, "http://"+addr+"/metrics")
		return body
	}
	for _, step := range []struct {
		count string // "" for none
		want  []string
	}{
		{"", []string{`nutcracker_reloads_total{result="ok"} 0`, `nutcracker_reloads_total{result="partial"} 0`,
			`nutcracker_reloads_total{result="refused"} 0`, "nutcracker_config_last_reload_successful 1"}},
		{ReloadRefused, []string{`nutcracker_reloads_total{result="refused"} 1`, "nutcracker_config_last_reload_successful 0"}},
		{ReloadOK, []string{`nutcracker_reloads_total{result="ok"} 1`, "nutcracker_config_last_reload_successful 1"}},
		{ReloadPartial, []string{`nutcracker_reloads_total{result="partial"} 1`, "nutcracker_config_last_reload_successful 0"}},
	} {
		if step.count != "" {
			r.Count(step.count)
		}
		body := scrape()
		for _, line := range step.want {
			if !strings.Contains(body, line+"\n") {
				t.Errorf("after %q: /metrics lacks %q", step.count, line)
			}
		}
	}
}
