package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
)

// ServerTLS is a pool's TLS to its servers: server_tls, and the files
// named by server_tls_ca_cert_file (else the system's roots),
// server_tls_cert_file and server_tls_key_file (the certificate the proxy
// presents), server_tls_server_name (the name verified in every server's
// certificate, and sent as SNI; else the server's host). The files are
// read when the configuration is (at start, on reload and by -t), so a
// rotated certificate is used by the connections made after a reload,
// and a file that cannot be read or does not match refuses the
// configuration.
type ServerTLS struct {
	Enabled                   bool
	CAFile, CertFile, KeyFile string
	ServerName                string

	// Config is built from the files; nil when Enabled is false. Its
	// ServerName is empty when the server's host is to be verified.
	Config *tls.Config
	// Digest identifies the files' contents and the name: connections
	// made with equal digests are alike (a reload keeps them).
	Digest string
}

// checkServerTLS reads the files of the pool's server TLS and builds its
// Config.
func (s section) checkServerTLS(pool *Pool, keyLine map[string]int) error {
	st := &pool.ServerTLS
	given := func(key string) bool { _, ok := keyLine[key]; return ok }
	for _, key := range []string{"server_tls_ca_cert_file", "server_tls_cert_file", "server_tls_key_file", "server_tls_server_name"} {
		if given(key) && !st.Enabled {
			return s.fail(keyLine[key], key, "only valid with server_tls: true")
		}
	}
	if !st.Enabled {
		return nil
	}
	if (st.CertFile == "") != (st.KeyFile == "") {
		key := "server_tls_key_file"
		if st.CertFile == "" {
			key = "server_tls_cert_file"
		}
		return s.fail(pool.Line, key, "missing: a client certificate needs both server_tls_cert_file and server_tls_key_file")
	}
	digest := sha256.New()
	fmt.Fprintf(digest, "name %q\n", st.ServerName)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: st.ServerName}
	if st.CAFile != "" {
		pem, err := os.ReadFile(st.CAFile)
		if err != nil {
			return s.fail(keyLine["server_tls_ca_cert_file"], "server_tls_ca_cert_file", "%v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return s.fail(keyLine["server_tls_ca_cert_file"], "server_tls_ca_cert_file", "%s: no PEM certificate in it", st.CAFile)
		}
		fmt.Fprintf(digest, "ca %x\n", sha256.Sum256(pem))
	}
	if st.CertFile != "" {
		certPEM, err := os.ReadFile(st.CertFile)
		if err != nil {
			return s.fail(keyLine["server_tls_cert_file"], "server_tls_cert_file", "%v", err)
		}
		keyPEM, err := os.ReadFile(st.KeyFile)
		if err != nil {
			return s.fail(keyLine["server_tls_key_file"], "server_tls_key_file", "%v", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return s.fail(keyLine["server_tls_key_file"], "server_tls_key_file", "%s and %s: %v", st.CertFile, st.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
		fmt.Fprintf(digest, "cert %x\nkey %x\n", sha256.Sum256(certPEM), sha256.Sum256(keyPEM))
	}
	st.Config, st.Digest = cfg, hex.EncodeToString(digest.Sum(nil))
	return nil
}
