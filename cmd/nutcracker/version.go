//go:build linux

package main

import (
	"runtime/debug"
	"strings"
)

// version is this implementation's version, not twemproxy's: -V prints
// it and the stats document shows it. The Makefile's build sets it with
// -ldflags "-X main.version=$(git describe --tags --always --dirty)";
// otherwise it is the module version the go command stamped (a tag for
// `go install github.com/nutcracker-go/nutcracker/cmd/nutcracker@vX`, a
// pseudo-version for a build in a git checkout), else devVersion.
var version string

// devVersion is the version of a build that says nothing of its own.
const devVersion = "dev"

func init() { version = resolveVersion(version, debug.ReadBuildInfo) }

// resolveVersion picks the version: the one set at link time, else the
// main module's from the build information, else devVersion. A leading
// "v" before a digit is dropped, as twemproxy prints "nutcracker-0.5.0".
func resolveVersion(linked string, buildInfo func() (*debug.BuildInfo, bool)) string {
	v := linked
	if v == "" {
		if info, ok := buildInfo(); ok && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	if v == "" {
		return devVersion
	}
	if rest, ok := strings.CutPrefix(v, "v"); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return rest
	}
	return v
}
