package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/taonet/taonet/certs/grpcid"
	"github.com/taonet/taonet/internal/grpcsrv"
)

// Limits bounds what callers can make a peer do. DefaultLimits fills every
// field; Validate names the value it refuses.
type Limits struct {
	// MaxBatch is the most rows one Forward batch may hold.
	MaxBatch int
	// MaxTensorBytes is the largest tensor a caller may declare; a larger
	// declaration is refused before anything is allocated.
	MaxTensorBytes uint64
	// ChunkBytes is the most tensor data one message carries: a larger
	// tensor travels in chunks. It stays well under MaxMessageBytes.
	ChunkBytes int
	// MaxMessageBytes is the gRPC limit on one received message.
	MaxMessageBytes int
	// MaxStreams is the most concurrent streams on one connection.
	MaxStreams uint32
	// InFlight is how many decoded batches one Forward stream may queue
	// ahead of the model before the server stops reading it.
	InFlight int
	// StreamBatches is the most batches one Forward stream may send (batch
	// ids must be unique within a stream, so the server remembers them).
	StreamBatches int
	// CallRate and CallBurst limit new calls per second per identity.
	CallRate  rate.Limit
	CallBurst int
	// RecordBytes bounds the inputs kept per round for Backward.
	RecordBytes int
	// KeepaliveTime is how long a connection may be idle before the server
	// pings it; KeepaliveTimeout how long it waits for the answer before it
	// closes a half-dead connection.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake of a new connection.
	HandshakeTimeout time.Duration
	// MaxConns is the most connections open at once; MaxConnsPerHost the
	// most from one source IP address. A connection over either is closed
	// as soon as it is accepted.
	MaxConns        int
	MaxConnsPerHost int
	// IdleTimeout closes (with GOAWAY) a connection that has had no call
	// open this long; callers reconnect on their next call.
	IdleTimeout time.Duration
}

// DefaultLimits: batches of up to 1,024 rows, tensors of up to 64 MiB sent
// in 1 MiB chunks, 4 MiB messages, 64 streams per connection, 8 batches in
// flight per stream, 50 calls/s (burst 100) per identity, 256 MiB of
// Backward bookkeeping per round, keepalive pings after 30s idle, a 10s
// TLS handshake, 1,024 connections (64 per source address) and idle
// connections closed after 5 minutes.
func DefaultLimits() Limits {
	return Limits{
		MaxBatch:         1024,
		MaxTensorBytes:   64 << 20,
		ChunkBytes:       1 << 20,
		MaxMessageBytes:  4 << 20,
		MaxStreams:       64,
		InFlight:         8,
		StreamBatches:    1 << 16,
		CallRate:         50,
		CallBurst:        100,
		RecordBytes:      256 << 20,
		KeepaliveTime:    30 * time.Second,
		KeepaliveTimeout: 10 * time.Second,
		HandshakeTimeout: 10 * time.Second,
		MaxConns:         1024,
		MaxConnsPerHost:  64,
		IdleTimeout:      5 * time.Minute,
	}
}

// Validate checks every field.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxBatch < 1 || l.InFlight < 1 || l.StreamBatches < 1 || l.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("max batch %d, in flight %d, stream batches %d and max streams %d must be positive", l.MaxBatch, l.InFlight, l.StreamBatches, l.MaxStreams))
	}
	if l.ChunkBytes < 1 || l.MaxMessageBytes < l.ChunkBytes+4096 {
		errs = append(errs, fmt.Errorf("chunk bytes %d must be positive and leave 4 KiB of headroom under max message bytes %d", l.ChunkBytes, l.MaxMessageBytes))
	}
	if l.MaxTensorBytes < 1 {
		errs = append(errs, errors.New("max tensor bytes must be positive"))
	}
	if l.CallRate <= 0 || l.CallBurst < 1 {
		errs = append(errs, fmt.Errorf("call rate %v/s burst %d must be positive", l.CallRate, l.CallBurst))
	}
	if l.RecordBytes < 0 {
		errs = append(errs, fmt.Errorf("record bytes %d must not be negative", l.RecordBytes))
	}
	if l.KeepaliveTime <= 0 || l.KeepaliveTimeout <= 0 || l.HandshakeTimeout <= 0 || l.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("keepalive %v/%v, handshake timeout %v and idle timeout %v must be positive", l.KeepaliveTime, l.KeepaliveTimeout, l.HandshakeTimeout, l.IdleTimeout))
	}
	if l.MaxConns < 1 || l.MaxConnsPerHost < 1 || l.MaxConnsPerHost > l.MaxConns {
		errs = append(errs, fmt.Errorf("max conns %d and max conns per host %d must be positive, per host at most the total", l.MaxConns, l.MaxConnsPerHost))
	}
	return errors.Join(errs...)
}

// transportOptions are the server options that bound connections and
// messages.
func (l Limits) transportOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxMessageBytes),
		grpc.MaxSendMsgSize(l.MaxMessageBytes),
		grpc.MaxConcurrentStreams(l.MaxStreams),
		grpc.ConnectionTimeout(l.HandshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: l.IdleTimeout, Time: l.KeepaliveTime, Timeout: l.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
}

// listener bounds the connections lis accepts (see grpcsrv.LimitListener).
func (l Limits) listener(lis net.Listener, log *slog.Logger) net.Listener {
	return grpcsrv.LimitListener(lis, grpcsrv.ConnLimits{PerHost: l.MaxConnsPerHost, Total: l.MaxConns, Refused: grpcsrv.LogRefused(log)})
}

// callLimiter implements the middleware's ratelimit.Limiter: new calls per
// identity (the caller's SPIFFE ID; callers without one share one bucket).
type callLimiter struct{ byID *grpcsrv.KeyedLimiter }

func newCallLimiter(l Limits) *callLimiter {
	return &callLimiter{byID: grpcsrv.NewKeyedLimiter(l.CallRate, l.CallBurst)}
}

// Limit refuses a call over the caller's rate.
func (c *callLimiter) Limit(ctx context.Context) error {
	id, ok := grpcid.Identity(ctx)
	if !ok {
		id = "anonymous"
	}
	if !c.byID.Allow(id) {
		return fmt.Errorf("call rate limit for %s", id)
	}
	return nil
}
