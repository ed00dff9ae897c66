//go:build !linux

package proxy

import _ "github.com/nutcracker-go/nutcracker/internal/linuxonly" // says why this does not build here
