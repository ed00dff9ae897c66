//go:build linux

package main

import (
	"runtime/debug"
	"testing"
)

func TestResolveVersion(t *testing.T) {
	module := func(v string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: v}}, true }
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		linked string
		info   func() (*debug.BuildInfo, bool)
		want   string
	}{
		{"1.2.3", module("v9.9.9"), "1.2.3"}, // -ldflags wins
		{"v1.2.3-4-gabc1234-dirty", none, "1.2.3-4-gabc1234-dirty"},
		{"152d843-dirty", none, "152d843-dirty"}, // git describe without a tag
		{"vendor-build", none, "vendor-build"},   // a v that is not a version's
		{"", module("v0.3.0"), "0.3.0"},          // go install ...@v0.3.0
		{"", module("v0.0.0-20260101000000-152d843abcde+dirty"), "0.0.0-20260101000000-152d843abcde+dirty"},
		{"", module("(devel)"), devVersion},
		{"", module(""), devVersion},
		{"", none, devVersion},
	} {
		if got := resolveVersion(tc.linked, tc.info); got != tc.want {
			t.Errorf("resolveVersion(%q, ...) = %q, want %q", tc.linked, got, tc.want)
		}
	}
}
