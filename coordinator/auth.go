package coordinator

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/ratelimit"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/certs/grpcid"
	"github.com/taonet/taonet/internal/grpcsrv"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

var (
	peers         = []certs.Role{certs.RolePeer}
	peersClients  = []certs.Role{certs.RolePeer, certs.RoleClient}
	anyIdentified = []certs.Role{certs.RolePeer, certs.RoleClient, certs.RoleCoordinator}
)

// methodRoles says which roles may call each method. A method missing from
// the table is refused for everyone (default deny). Enroll and health are
// not here: they need no certificate (see noAuth).
var methodRoles = map[string][]certs.Role{
	taonetv1.Coordinator_Renew_FullMethodName:                        peers,
	taonetv1.Coordinator_Join_FullMethodName:                         peers,
	taonetv1.Coordinator_Leave_FullMethodName:                        peers,
	taonetv1.Coordinator_Watch_FullMethodName:                        peers,
	taonetv1.Coordinator_ListPeers_FullMethodName:                    peersClients,
	taonetv1.Coordinator_GetRound_FullMethodName:                     peersClients,
	taonetv1.Coordinator_ListRounds_FullMethodName:                   peersClients,
	taonetv1.Coordinator_Query_FullMethodName:                        peersClients,
	taonetv1.Ledger_GetBalance_FullMethodName:                        peersClients,
	taonetv1.Ledger_ListAccounts_FullMethodName:                      peersClients,
	taonetv1.Ledger_ListPayouts_FullMethodName:                       peersClients,
	taonetv1.Ledger_GetSupply_FullMethodName:                         peersClients,
	grpc_health_v1.Health_Watch_FullMethodName:                       anyIdentified,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      anyIdentified,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": anyIdentified,
}

// noAuth matches the calls that need no client certificate: Enroll and
// the unary health calls. Health Watch holds a stream open, so it needs a
// certificate (an anonymous flood of them once took 2 GB).
func noAuth(_ context.Context, c interceptors.CallMeta) bool {
	switch c.FullMethod() {
	case taonetv1.Coordinator_Enroll_FullMethodName, grpc_health_v1.Health_Check_FullMethodName, grpc_health_v1.Health_List_FullMethodName:
		return true
	}
	return false
}

// callerKey holds the authenticated caller's certs.ID in a context.
type callerKey struct{}

// callerFrom returns the identity the auth interceptor verified.
func callerFrom(ctx context.Context) (certs.ID, bool) {
	id, ok := ctx.Value(callerKey{}).(certs.ID)
	return id, ok
}

// authenticate is the auth.AuthFunc: a verified, unexpired, unrevoked
// certificate of this network whose role may call the method.
func (s *Server) authenticate(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	id, leaf, err := grpcid.IDFromContext(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "%s needs a client certificate from the network's CA", method)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, status.Errorf(codes.Unauthenticated, "certificate of %s expired at %s", id, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if id.TrustDomain != s.home.net.TrustDomain {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not in trust domain %s", id, s.home.net.TrustDomain)
	}
	if s.revoked.Contains(id) {
		return nil, status.Errorf(codes.PermissionDenied, "%s is revoked", id)
	}
	roles, ok := methodRoles[method]
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not open to any identity", method)
	}
	for _, r := range roles {
		if id.Role == r {
			return context.WithValue(ctx, callerKey{}, id), nil
		}
	}
	return nil, status.Errorf(codes.PermissionDenied, "%s may not call %s (role %s)", id, method, id.Role)
}

// streamCaller names an authenticated stream's caller for the stream
// tracker: revocation cuts its streams, and its certificate's expiry ends
// them.
func streamCaller(ctx context.Context) (string, time.Time, bool) {
	id, ok := callerFrom(ctx)
	if !ok {
		return "", time.Time{}, false
	}
	_, leaf, err := grpcid.IDFromContext(ctx)
	if err != nil {
		return "", time.Time{}, false
	}
	return id.String(), leaf.NotAfter, true
}

// limitedMethod matches the rate-limited methods.
func limitedMethod(_ context.Context, c interceptors.CallMeta) bool {
	m := c.FullMethod()
	return m == taonetv1.Coordinator_Enroll_FullMethodName || m == taonetv1.Coordinator_Renew_FullMethodName || m == taonetv1.Coordinator_Query_FullMethodName
}

// serverOptions is the interceptor chain: metrics (so refusals count with
// their codes), logging, recovery, auth (all but Enroll and the unary
// health calls), rate limits (Enroll, Query), stream tracking; then the transport's bounds: streams per connection, the TLS
// handshake deadline, keepalive pings and the idle timeout.
func (s *Server) serverOptions() []grpc.ServerOption {
	log := grpcsrv.CallLogger(s.cfg.Logger)
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	recoverOpts := []recovery.Option{recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		s.cfg.Logger.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p))
		return status.Error(codes.Internal, "internal error")
	})}
	needAuth := selector.MatchFunc(func(ctx context.Context, c interceptors.CallMeta) bool { return !noAuth(ctx, c) })
	limited := selector.MatchFunc(limitedMethod)
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			s.calls.UnaryServerInterceptor(),
			logging.UnaryServerInterceptor(log, logOpts...),
			recovery.UnaryServerInterceptor(recoverOpts...),
			selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(s.authenticate), needAuth),
			selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(s.limits), limited),
		),
		grpc.ChainStreamInterceptor(
			s.calls.StreamServerInterceptor(),
			logging.StreamServerInterceptor(log, logOpts...),
			recovery.StreamServerInterceptor(recoverOpts...),
			selector.StreamServerInterceptor(auth.StreamServerInterceptor(s.authenticate), needAuth),
			s.streams.Interceptor(streamCaller),
		),
		grpc.MaxConcurrentStreams(s.cfg.MaxStreams),
		grpc.ConnectionTimeout(s.cfg.HandshakeTimeout),
		// Server pings find half-dead connections; idle ones are closed
		// so they do not hold a descriptor (clients reconnect on demand).
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: s.cfg.IdleTimeout, Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
}

// remoteHost returns the caller's IP, for per-address limits.
func remoteHost(addr net.Addr) string {
	if addr == nil {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}
