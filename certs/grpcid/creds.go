package grpcid

import (
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/internal/grpcsrv"
)

// loggedCreds logs every refused server handshake with its reason. A node
// refused at the TLS layer (unknown CA, expired, revoked, TLS 1.2) only
// sees its connection fail (gRPC Unavailable); the log keeps the one-line
// reason for the operator.
//
// With a Conns tracker, every connection that presents a client
// certificate of the network is tracked by its identity.
type loggedCreds struct {
	credentials.TransportCredentials
	log     *slog.Logger
	sampler *grpcsrv.Sampler
	conns   *Conns
}

// ServerCredentials returns gRPC transport credentials for conf that log
// refused handshakes to log and, when conns is not nil, track each
// authenticated connection there.
func ServerCredentials(conf *tls.Config, log *slog.Logger, conns *Conns) credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: credentials.NewTLS(conf), log: log, conns: conns,
		sampler: grpcsrv.NewSampler(10*time.Second, 10)}
}

// ServerHandshake runs the TLS handshake, logs a refusal and tracks an
// authenticated connection.
func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		// Once per 10s per source and reason, 10 a second in all: a flood
		// of refused handshakes is not a flood of log lines.
		remote := conn.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(remote); err == nil {
			remote = host
		}
		if ok, dropped := c.sampler.Allow(remote + " " + err.Error()); ok {
			c.log.Warn("tls handshake refused", "remote", conn.RemoteAddr().String(), "reason", err.Error(), "similar_dropped", dropped)
		}
		return out, info, err
	}
	if c.conns == nil {
		return out, info, nil
	}
	if ti, ok := info.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
		leaf := ti.State.PeerCertificates[0]
		if id, err := certs.IDFromCertificate(leaf); err == nil {
			out = c.conns.track(out, id, leaf.NotAfter)
		}
	}
	return out, info, nil
}

// Clone keeps the logger and the tracker.
func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log, sampler: c.sampler, conns: c.conns}
}
