package stats

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
)

// The status page (GET /) is one document with its style and script
// inline: it loads nothing else, so it works where the stats port is
// reached through a tunnel or from a host without internet access. Its
// script polls /metrics and /healthz; see status/status.js.
var (
	//go:embed status/index.html
	statusHTML string
	//go:embed status/status.css
	statusCSS string
	//go:embed status/status.js
	statusJS string
)

// statusPage returns the page served, and its Content-Security-Policy:
// the inline style and script are allowed by their hashes, and the page
// may only fetch from its own origin, so nothing it shows can run code.
// It is built on the first request for it, not at start: 170 KB of heap
// that a proxy nobody opens in a browser does not hold.
var statusPage = sync.OnceValues(func() (page []byte, policy string) {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	html := strings.NewReplacer("/*STYLE*/", statusCSS, "/*SCRIPT*/", statusJS).Replace(statusHTML)
	policy = "default-src 'none'; connect-src 'self'; style-src " + hash(statusCSS) +
		"; script-src " + hash(statusJS) + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return []byte(html), policy
})

// serveStatusPage writes the status page.
func serveStatusPage(w http.ResponseWriter, r *http.Request) {
	page, policy := statusPage()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", policy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.Write(page)
}
