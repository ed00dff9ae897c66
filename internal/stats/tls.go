package stats

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
)

// The reasons a TLS handshake failed (see TLSFailureReason): indexes of
// the failure counters and of TLSFailureReasons.
const (
	TLSTimeout = iota
	TLSNotTLS
	TLSCertificate
	TLSClosed
	TLSOther
)

// TLSFailureReasons name the reasons, as /metrics labels them.
var TLSFailureReasons = [...]string{TLSTimeout: "timeout", TLSNotTLS: "not_tls", TLSCertificate: "certificate", TLSClosed: "closed", TLSOther: "other"}

// TLSCounters are a pool's TLS figures, in /metrics only (the twemproxy
// document keeps twemproxy's keys): the clients connected with TLS now,
// and the handshakes that failed, by reason, with clients and with
// servers. Used is set once the pool has TLS on either side, so that the
// pools without show none of them.
type TLSCounters struct {
	Used           atomic.Bool
	Clients        atomic.Int64 // gauge
	ClientFailures [len(TLSFailureReasons)]atomic.Int64
	ServerFailures [len(TLSFailureReasons)]atomic.Int64
}

// TLSFailureReason sorts a failed TLS handshake's error into one of the
// reasons above: the peer took too long; it does not speak
// TLS (a plaintext client on a TLS port); a certificate was refused,
// either side's (untrusted, expired, the wrong name, missing where one is
// required; the alerts a peer sends about ours name "certificate" too);
// the peer closed the connection first (a TCP health check does); or
// anything else (no common version or cipher).
func TLSFailureReason(err error) int {
	var header tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return TLSTimeout
	case errors.As(err, &header):
		return TLSNotTLS
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify),
		strings.Contains(err.Error(), "certificate"):
		return TLSCertificate
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return TLSClosed
	}
	return TLSOther
}

// TLSSnapshot is a pool's TLSCounters in a Snapshot.
type TLSSnapshot struct {
	Used           bool                          `json:"used,omitempty"`
	Clients        int64                         `json:"clients,omitempty"`
	ClientFailures [len(TLSFailureReasons)]int64 `json:"client_failures"`
	ServerFailures [len(TLSFailureReasons)]int64 `json:"server_failures"`
}

func (t *TLSCounters) snapshot() TLSSnapshot {
	s := TLSSnapshot{Used: t.Used.Load(), Clients: t.Clients.Load()}
	for i := range s.ClientFailures {
		s.ClientFailures[i] = t.ClientFailures[i].Load()
		s.ServerFailures[i] = t.ServerFailures[i].Load()
	}
	return s
}

func (t *TLSCounters) store(s TLSSnapshot) {
	t.Used.Store(s.Used)
	t.Clients.Store(s.Clients)
	for i := range s.ClientFailures {
		t.ClientFailures[i].Store(s.ClientFailures[i])
		t.ServerFailures[i].Store(s.ServerFailures[i])
	}
}

func (s *TLSSnapshot) add(o TLSSnapshot) {
	s.Used = s.Used || o.Used
	s.Clients += o.Clients
	for i := range s.ClientFailures {
		s.ClientFailures[i] += o.ClientFailures[i]
		s.ServerFailures[i] += o.ServerFailures[i]
	}
}
