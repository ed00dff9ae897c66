//go:build linux

package main

import (
	sdnotify "github.com/coreos/go-systemd/v22/daemon"

	"github.com/nutcracker-go/nutcracker/internal/logging"
)

// notifySystemd tells systemd, when it started this process as a
// Type=notify service (it sets $NOTIFY_SOCKET), of a change of state:
// READY=1 once the listeners accept, so units ordered after nutcracker
// start only when it serves; STOPPING=1 when the graceful stop begins.
// Without $NOTIFY_SOCKET it does nothing. A failure to tell is logged and
// changes nothing else: the proxy serves either way.
func notifySystemd(state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		logging.Warnf("telling systemd %s: %v", state, err)
	}
}
