//go:build !linux

package main

import _ "github.com/nutcracker-go/nutcracker/internal/linuxonly" // says why this does not build here

func main() {}
