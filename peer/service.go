package peer

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
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
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/certs/grpcid"
	"github.com/taonet/taonet/internal/grpcsrv"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// service serves taonet.v1.Peer: the model's Forward, Backward for the
// gradients of peers it answered, and Describe. Callers are authorized by
// the interceptor before a handler runs.
type service struct {
	taonetv1.UnimplementedPeerServer
	model   Model
	records *records
	phase   *phase
	limits  Limits
	grads   Gradients
	cache   *rowCache // students' rows of the current round; nil: none
	log     *slog.Logger
	metrics *Metrics // nil: none
}

var _ taonetv1.PeerServer = (*service)(nil)

// Describe returns the live model card.
func (v *service) Describe(context.Context, *taonetv1.DescribeRequest) (*taonetv1.DescribeResponse, error) {
	return &taonetv1.DescribeResponse{Card: v.model.Card()}, nil
}

// callers says who may call what on a peer. Forward and Backward: the
// coordinator and peers in the directory. Describe and reflection: those
// and client identities of the network (operators' tools). Anything else
// is refused (default deny); health needs no certificate.
// A revoked identity is refused at the handshake and on every call, and
// an expired certificate on every call (a connection outlives the
// certificate it was opened with).
type callers struct {
	td      string
	revoked *certs.Revocations
	network certs.Authorizer
	tools   certs.Authorizer
}

func newCallers(td string, member func(certs.ID) bool, revoked *certs.Revocations) *callers {
	network := certs.AuthorizeAnyOf(
		certs.AuthorizeID(certs.CoordinatorID(td)),
		certs.AuthorizeIf("the directory", member),
	)
	tools := certs.AuthorizeNotRevoked(revoked, certs.AuthorizeAnyOf(network, certs.AuthorizeRoles(td, certs.RoleClient)))
	return &callers{td: td, revoked: revoked, network: network, tools: tools}
}

// rules maps each method to its authorizer.
func (c *callers) rule(method string) (certs.Authorizer, bool) {
	switch method {
	case taonetv1.Peer_Forward_FullMethodName, taonetv1.Peer_Backward_FullMethodName:
		return c.network, true
	case taonetv1.Peer_Describe_FullMethodName,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo":
		return c.tools, true
	}
	return nil, false
}

// authenticate is the auth.AuthFunc of the Peer server.
func (c *callers) authenticate(ctx context.Context) (context.Context, error) {
	method, _ := grpc.Method(ctx)
	id, leaf, err := grpcid.IDFromContext(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "%s needs a client certificate from the network's CA", method)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, status.Errorf(codes.Unauthenticated, "certificate of %s expired at %s", id, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if c.revoked.Contains(id) {
		return nil, status.Errorf(codes.PermissionDenied, "%s is revoked", id)
	}
	authorize, ok := c.rule(method)
	if !ok {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not open to any identity", method)
	}
	if err := authorize(id, [][]*x509.Certificate{{leaf}}); err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "%s may not call %s: %v", id, method, err)
	}
	return ctx, nil
}

// serverOptions is the Peer server's interceptor chain: metrics (when m is
// set; first, so refusals count with their codes), logging, recovery, auth
// (all but health), then the per-identity call rate limit.
func serverOptions(log *slog.Logger, c *callers, limit ratelimit.Limiter, m *Metrics) []grpc.ServerOption {
	lf := grpcsrv.CallLogger(log)
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	rec := []recovery.Option{recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p))
		return status.Error(codes.Internal, "internal error")
	})}
	needAuth := selector.MatchFunc(func(_ context.Context, m interceptors.CallMeta) bool {
		return m.Service != grpc_health_v1.Health_ServiceDesc.ServiceName
	})
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if m != nil {
		unary = append(unary, m.calls.UnaryServerInterceptor())
		stream = append(stream, m.calls.StreamServerInterceptor())
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(append(unary,
			logging.UnaryServerInterceptor(lf, logOpts...),
			recovery.UnaryServerInterceptor(rec...),
			selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(c.authenticate), needAuth),
			selector.UnaryServerInterceptor(ratelimit.UnaryServerInterceptor(limit), needAuth),
		)...),
		grpc.ChainStreamInterceptor(append(stream,
			logging.StreamServerInterceptor(lf, logOpts...),
			recovery.StreamServerInterceptor(rec...),
			selector.StreamServerInterceptor(auth.StreamServerInterceptor(c.authenticate), needAuth),
			selector.StreamServerInterceptor(ratelimit.StreamServerInterceptor(limit), needAuth),
		)...),
	}
}
