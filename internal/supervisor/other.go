//go:build !linux

package supervisor

import _ "github.com/nutcracker-go/nutcracker/internal/linuxonly" // says why this does not build here
