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
		roots, pem, err := s.readCA(keyLine, "server_tls_ca_cert_file", st.CAFile)
		if err != nil {
			return err
		}
		cfg.RootCAs = roots
		fmt.Fprintf(digest, "ca %x\n", sha256.Sum256(pem))
	}
	if st.CertFile != "" {
		cert, err := s.readKeyPair(keyLine, "server_tls_cert_file", "server_tls_key_file", st.CertFile, st.KeyFile)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{cert}
		for _, der := range cert.Certificate {
			fmt.Fprintf(digest, "cert %x\n", sha256.Sum256(der))
		}
	}
	st.Config, st.Digest = cfg, hex.EncodeToString(digest.Sum(nil))
	return nil
}

// readCA reads the PEM certificates of a CA file, named by key.
func (s section) readCA(keyLine map[string]int, key, file string) (*x509.CertPool, []byte, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, s.fail(keyLine[key], key, "%v", err)
	}
	certs := x509.NewCertPool()
	if !certs.AppendCertsFromPEM(pem) {
		return nil, nil, s.fail(keyLine[key], key, "%s: no PEM certificate in it", file)
	}
	return certs, pem, nil
}

// readKeyPair reads a certificate and its private key, named by certKey
// and keyKey.
func (s section) readKeyPair(keyLine map[string]int, certKey, keyKey, certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, s.fail(keyLine[certKey], certKey, "%v", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, s.fail(keyLine[keyKey], keyKey, "%v", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, s.fail(keyLine[keyKey], keyKey, "%s and %s: %v", certFile, keyFile, err)
	}
	return cert, nil
}

// ClientTLS is a pool's listener TLS: the certificate it presents
// (tls_cert_file, tls_key_file) and how it verifies clients' certificates
// (tls_ca_cert_file, tls_auth_clients: yes, the default with a CA, asks
// every client for one; optional verifies one given; no asks none). The
// files are read when the configuration is, so a reload makes the
// connections accepted after it use the rotated ones.
type ClientTLS struct {
	CertFile, KeyFile, CAFile string
	AuthClients               string // as given: "yes", "no", "optional"; "" when not

	// Config is built from the files; nil for a plaintext listener.
	Config *tls.Config
}

// checkClientTLS reads the files of the pool's listener TLS and builds
// its Config.
func (s section) checkClientTLS(pool *Pool, keyLine map[string]int) error {
	ct := &pool.ClientTLS
	given := func(key string) bool { _, ok := keyLine[key]; return ok }
	if !given("tls_cert_file") && !given("tls_key_file") {
		for _, key := range []string{"tls_ca_cert_file", "tls_auth_clients"} {
			if given(key) {
				return s.fail(keyLine[key], key, "only valid with tls_cert_file and tls_key_file (a TLS listener)")
			}
		}
		return nil
	}
	switch {
	case !given("tls_cert_file"):
		return s.fail(pool.Line, "tls_cert_file", "missing: a TLS listener needs both tls_cert_file and tls_key_file")
	case !given("tls_key_file"):
		return s.fail(pool.Line, "tls_key_file", "missing: a TLS listener needs both tls_cert_file and tls_key_file")
	case pool.Listen.Network != "tcp":
		return s.fail(keyLine["tls_cert_file"], "tls_cert_file", "a TLS listener must listen on TCP, not on a unix socket")
	}
	auth := ct.AuthClients
	if auth == "" && ct.CAFile != "" {
		auth = "yes"
	}
	if (auth == "yes" || auth == "optional") && ct.CAFile == "" {
		return s.fail(keyLine["tls_auth_clients"], "tls_auth_clients", "%s needs tls_ca_cert_file, the CA that client certificates are verified with", auth)
	}
	cert, err := s.readKeyPair(keyLine, "tls_cert_file", "tls_key_file", ct.CertFile, ct.KeyFile)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if ct.CAFile != "" {
		if cfg.ClientCAs, _, err = s.readCA(keyLine, "tls_ca_cert_file", ct.CAFile); err != nil {
			return err
		}
	}
	switch auth {
	case "yes":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "optional":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	ct.Config = cfg
	return nil
}
