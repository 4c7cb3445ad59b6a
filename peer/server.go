package peer

import (
	"crypto/x509"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/certs/grpcid"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/internal/grpcsrv"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ServerConfig configures the Peer gRPC server of one model.
type ServerConfig struct {
	// Source is the server's certificate; Pool the network's CA.
	Source *certs.Source
	Pool   *x509.CertPool
	// Member reports whether a peer identity may call Forward and Backward
	// (the coordinator may always): a peer passes its directory.
	Member func(certs.ID) bool
	// Model is served.
	Model     Model
	Limits    Limits
	Gradients Gradients
	Logger    *slog.Logger
	// Metrics records calls, the exchange by caller, Forward's queue and
	// model time and applied gradients; nil records nothing.
	Metrics *Metrics
	// NoRowCache answers every row of every student from the model. The
	// round's row cache (see rowCache) assumes, as is true of real models,
	// that a row's logits depend on the row alone; a benchmark of the
	// transport whose stand-in model answers by position turns it off.
	NoRowCache bool
}

// Server is the Peer service of one model with health and reflection, all
// behind mutual TLS, the authorization rules and the limits. A Peer runs
// one; benchmarks run one without a coordinator.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	// Readiness sets Health's status: NOT_SERVING ("starting") until the
	// owner calls SetReady (a Peer does once its model is loaded).
	Readiness *grpcsrv.Readiness
	records   *records
	phase     *phase
	revoked   *certs.Revocations
	conns     *grpcid.Conns
	log       *slog.Logger
	metrics   *Metrics
}

// NewServer builds the server; Serve it with s.GRPC.Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Source == nil || cfg.Pool == nil || cfg.Member == nil || cfg.Model == nil || cfg.Logger == nil {
		return nil, errors.New("peer server: source, pool, member, model and logger must be set")
	}
	if err := errors.Join(cfg.Limits.Validate(), cfg.Gradients.Validate()); err != nil {
		return nil, err
	}
	s := &Server{records: newRecords(cfg.Limits.RecordBytes), phase: &phase{}, Health: health.NewServer(),
		revoked: certs.NewRevocations(), conns: grpcid.NewConns(), log: cfg.Logger, metrics: cfg.Metrics}
	s.Readiness = grpcsrv.NewReadiness(s.Health, "starting: the model is not loaded yet")
	c := newCallers(cfg.Source.ID().TrustDomain, cfg.Member, s.revoked)
	opts := append(serverOptions(cfg.Logger, c, newCallLimiter(cfg.Limits), cfg.Metrics), cfg.Limits.transportOptions()...)
	s.GRPC = grpc.NewServer(append(opts,
		grpc.StatsHandler(cfg.Metrics.exchangeMetrics().ServerHandler()),
		// Tensor data moves without the protobuf copy (see exchange.Codec).
		grpc.ForceServerCodecV2(exchange.Codec{}),
		grpc.Creds(grpcid.ServerCredentials(certs.MTLSServerConfig(cfg.Source, cfg.Pool, c.tools), cfg.Logger, s.conns)))...)
	taonetv1.RegisterPeerServer(s.GRPC, &service{model: cfg.Model, records: s.records, phase: s.phase,
		limits: cfg.Limits, grads: cfg.Gradients, cache: rowCacheUnless(cfg.NoRowCache), log: cfg.Logger, metrics: cfg.Metrics})
	grpc_health_v1.RegisterHealthServer(s.GRPC, s.Health)
	reflection.Register(s.GRPC)
	return s, nil
}

// Revoke refuses identity from now on, at the handshake and on every call,
// and closes its open connections (ending their calls). Peers call it for
// each REVOKED directory change, of peers and clients alike.
func (s *Server) Revoke(identity string) {
	id, err := certs.ParseID(identity)
	if err != nil {
		s.log.Warn("revocation of a malformed identity ignored", "identity", identity)
		return
	}
	s.revoked.Add(id)
	s.metrics.forget(identity)
	if n := s.conns.Close(identity); n > 0 {
		s.log.Info("revoked caller's connections closed", "identity", identity, "connections", n)
	}
}

// OpenRound tells the server that round r is open and distilling: Backward
// bookkeeping of earlier rounds is dropped.
func (s *Server) OpenRound(r uint64) {
	s.records.setRound(r)
	s.phase.open(r)
}

// StartEvaluation tells the server that round r is being evaluated: until
// it closes, Forward answers only the coordinator.
func (s *Server) StartEvaluation(r uint64) { s.phase.evaluate(r) }

// CloseRound tells the server that round r closed.
func (s *Server) CloseRound(r uint64) { s.phase.close(r) }
