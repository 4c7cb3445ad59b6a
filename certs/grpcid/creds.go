package grpcid

import (
	"crypto/tls"
	"log/slog"
	"net"

	"google.golang.org/grpc/credentials"
)

// loggedCreds logs every refused server handshake with its reason. A node
// refused at the TLS layer (unknown CA, expired, revoked, TLS 1.2) only
// sees its connection fail (gRPC Unavailable); the log keeps the one-line
// reason for the operator.
type loggedCreds struct {
	credentials.TransportCredentials
	log *slog.Logger
}

// ServerCredentials returns gRPC transport credentials for conf that log
// refused handshakes to log.
func ServerCredentials(conf *tls.Config, log *slog.Logger) credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: credentials.NewTLS(conf), log: log}
}

// ServerHandshake runs the TLS handshake and logs a refusal.
func (c loggedCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.log.Warn("tls handshake refused", "remote", conn.RemoteAddr().String(), "reason", err.Error())
	}
	return out, info, err
}

// Clone keeps the logger.
func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}
