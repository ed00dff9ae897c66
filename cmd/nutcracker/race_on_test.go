//go:build linux && race

package main

// buildFlags: under the race detector the binary the tests run is built
// with it too, so races in the master and the workers fail the tests.
var buildFlags = []string{"-race"}
