package stats

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/testutil"
)

// TestDocumentMatchesTwemproxy compares our document with one recorded
// from Debian's nutcracker 0.5.0 on testdata/twemproxy-0.5.0.yml.
func TestDocumentMatchesTwemproxy(t *testing.T) {
	want, err := os.ReadFile("testdata/twemproxy-0.5.0.json")
	if err != nil {
		t.Fatal(err)
	}
	proc := testProcess()
	proc.Pools[0].Servers[0].Requests.Add(2)
	got := string(proc.AppendJSON(nil, time.Now()))
	if testutil.StatsShape(got) != testutil.StatsShape(strings.TrimRight(string(want), "\n")+"\n") {
		t.Fatalf("document differs from twemproxy's:\ngot  %s\nwant %s", got, want)
	}
	var parsed map[string]any
	if err := json.Unmarshal([]byte(got), &parsed); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if v := parsed["beta"].(map[string]any)["s1"].(map[string]any)["requests"]; v != 2.0 {
		t.Fatalf("beta.s1.requests = %v", v)
	}
}

func TestQuotedNames(t *testing.T) {
	proc := &Process{Pools: []*Pool{{Name: `we"ird\` + "\x01"}}}
	var parsed map[string]any
	if err := json.Unmarshal(proc.AppendJSON(nil, time.Now()), &parsed); err != nil {
		t.Fatal(err)
	}
	if _, ok := parsed["we\"ird\\\x01"]; !ok {
		t.Fatalf("pool name lost: %v", parsed)
	}
}
