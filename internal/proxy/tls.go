package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/nutcracker-go/nutcracker/internal/logging"
	"github.com/nutcracker-go/nutcracker/internal/stats"
)

// A pool whose listener speaks TLS (config.ClientTLS) serves each client
// it accepts once the client's TLS handshake is done. The handshake runs
// on a goroutine of its own, bounded by the pool's timeout (else
// tlsHandshakeTimeout) and by Close, so that a client that stalls it holds
// up nobody else; one that fails is counted by reason and logged, and a
// client that speaks plaintext to the port is told so in its protocol.
//
// The client's reader reads the tls.Conn. Its writer writes replies to the
// tls.Conn, which encrypts them and writes the records to a tlsSocket, the
// TCP socket whose writes go through the client's output: so a TLS client
// that does not read blocks its writer no more than a plaintext one. The
// parker waits on the TCP socket. A client is not parked as soon as its
// handshake is done (a plaintext one is), since the handshake may have
// read its first request already, which the socket would never announce;
// it parks when idle, like any client, after the read that found nothing.
//
// A TLS client cannot be handed over to another process (its session's
// keys are in this one): HandOver closes it at a request boundary, every
// reply written, and the client reconnects (see client.handOff).

// tlsHandshakeTimeout bounds a client's TLS handshake in a pool without a
// timeout.
const tlsHandshakeTimeout = 10 * time.Second

// errNotTLS answers a client that spoke plaintext to a TLS listener.
const errNotTLS = "this port speaks TLS: connect with TLS"

// tlsSocket is the TCP socket under a TLS client's tls.Conn. Its writes
// go through the client's output once its writer runs (before, during the
// handshake, they block, bounded by the handshake's deadline).
type tlsSocket struct {
	net.Conn
	out atomic.Pointer[output]
}

func (s *tlsSocket) Write(b []byte) (int, error) {
	o := s.out.Load()
	if o == nil {
		return s.Conn.Write(b)
	}
	if _, err := o.sendRaw(b, false); err != nil {
		return 0, err
	}
	return len(b), nil
}

// handshake serves conn, accepted on a TLS listener with cfg, once its
// handshake is done.
func (ps *poolServer) handshake(conn net.Conn, cfg *tls.Config) {
	sock := &tlsSocket{Conn: conn}
	tc := tls.Server(sock, cfg)
	timeout := ps.cfg().Timeout
	if timeout <= 0 {
		timeout = tlsHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ps.proxy.ctx, timeout)
	err := tc.HandshakeContext(ctx) // closes conn when ctx ends first
	cancel()
	if err != nil && ps.proxy.ctx.Err() != nil { // the proxy closes
		conn.Close()
		ps.clients.add(-1)
		return
	}
	if err != nil {
		ps.handshakeFailed(conn, err)
		return
	}
	ps.serveClient(tc, sock, nil)
}

// handshakeFailed counts and logs a client's failed TLS handshake, and
// closes its connection.
func (ps *poolServer) handshakeFailed(conn net.Conn, err error) {
	defer ps.clients.add(-1)
	defer conn.Close()
	reason := stats.TLSFailureReason(err)
	ps.pool().Stats.TLS.ClientFailures[reason].Add(1)
	log := logging.Warnf
	if reason == stats.TLSClosed {
		log = logging.Noticef // a TCP health check does this
	}
	log("pool %s: TLS handshake with client %s failed (%s): %v", ps.cfg().Name, conn.RemoteAddr(), stats.TLSFailureReasons[reason], err)
	var header tls.RecordHeaderError
	if !errors.As(err, &header) || header.Conn == nil {
		return
	}
	// A plaintext client: tell it in its protocol. What it sent is read
	// (briefly) before closing, else the close would reset the connection
	// and lose the reply.
	conn.SetDeadline(time.Now().Add(time.Second))
	conn.Write(ps.proto.AppendError(nil, errNotTLS))
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		io.Copy(io.Discard, io.LimitReader(conn, 1<<16))
	}
}
