package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/certs/grpcid"
	"github.com/taonet/taonet/internal/grpcsrv"
	"github.com/taonet/taonet/internal/homelock"
	"github.com/taonet/taonet/internal/httpops"
	"github.com/taonet/taonet/internal/metrics"
	"github.com/taonet/taonet/internal/runstate"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Server is a running coordinator: one gRPC port with mutual TLS serving
// Coordinator, Ledger, health and reflection, plus the revocation poller
// and certificate renewal, and, with Config.HTTP, the operations HTTP
// server (/metrics, /healthz, /readyz) with the dashboard at / (see
// mountDashboard). Make one with New, then call Run.
type Server struct {
	cfg      Config
	home     *home
	src      *certs.Source
	revoked  *certs.Revocations
	enroller *certs.Enroller
	hub      *hub
	streams  *grpcsrv.Streams
	limits   *limits
	lis      net.Listener
	grpc     *grpc.Server
	health   *health.Server
	ready    *grpcsrv.Readiness
	stopping chan struct{}
	wg       sync.WaitGroup
	peers    *peerDialer
	presence *presence
	// closeOnce guards release: Run and Close may both end the server.
	closeOnce sync.Once
	lock      *homelock.Lock
	sched     *Scheduler // nil when no rounds are scheduled
	registry  *prometheus.Registry
	rounds    *RoundMetrics
	exchange  *metrics.Exchange
	calls     *grpcprom.ServerMetrics
	http      *httpops.Server  // nil without Config.HTTP
	state     *runstate.Writer // the home's state file, for status commands
	// dirMu orders each directory write with its Watch event: without it a
	// Join that committed just before a revocation could publish JOINED
	// after the poller's REVOKED, and peers would keep a revoked peer.
	dirMu sync.Mutex
}

// New opens cfg.Home (made by Init), loads the CA and the coordinator's
// certificate (renewing it if due), loads the revocations and listens on
// cfg.Listen. Nothing is served until Run.
//
// The server holds the home's exclusive lock (internal/homelock) from New
// until Run returns: a second coordinator on the same home is refused.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.Home, DatabaseFile)); err != nil {
		return nil, fmt.Errorf("open home %s: %w (run coordinator init first)", cfg.Home, err)
	}
	lock, err := homelock.Acquire(cfg.Home)
	if err != nil {
		return nil, err
	}
	s, err := newServer(ctx, cfg)
	if err != nil {
		lock.Release()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// newServer is New under the home's lock.
func newServer(ctx context.Context, cfg Config) (*Server, error) {
	h, err := openHome(ctx, cfg.Home)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, home: h, revoked: certs.NewRevocations(),
		hub: newHub(cfg.WatchBuffer, cfg.MaxWatches), streams: grpcsrv.NewStreams(), limits: newLimits(cfg),
		stopping: make(chan struct{}), presence: newPresence(cfg.AwayAfter, time.Now()),
	}
	s.newMetrics()
	// A round left open by a coordinator that died mid-round is never paid:
	// it becomes aborted, and the schedule resumes with the next number.
	if n, err := h.db.AbortOpen(ctx); err != nil {
		_ = h.close()
		return nil, err
	} else if n > 0 {
		cfg.Logger.WarnContext(ctx, "aborted rounds left open by an earlier run", "rounds", n)
	}
	sup, err := h.db.GetSupply(ctx)
	if err != nil {
		_ = h.close()
		return nil, err
	}
	s.rounds.setSupply(sup)
	s.enroller = &certs.Enroller{CA: h.ca, Tokens: h.db, Lifetime: cfg.LeafLifetime}
	if s.src, err = h.coordinatorCert(ctx, cfg.LeafLifetime, false); err != nil {
		_ = h.close()
		return nil, err
	}
	if _, err := s.revoked.Refresh(ctx, h.db); err != nil {
		_ = h.close()
		return nil, err
	}
	tlsConf := certs.EnrollServerConfig(s.src, h.ca.Pool(),
		certs.AuthorizeNotRevoked(s.revoked, certs.AuthorizeMemberOf(h.net.TrustDomain)))
	opts := append(s.serverOptions(), grpc.Creds(grpcid.ServerCredentials(tlsConf, cfg.Logger, nil)), grpc.ForceServerCodecV2(codec{}))
	s.grpc = grpc.NewServer(opts...)
	taonetv1.RegisterCoordinatorServer(s.grpc, &service{s: s})
	taonetv1.RegisterLedgerServer(s.grpc, NewLedgerServer(h.db, grpcid.Identity, cfg.Logger))
	s.health = health.NewServer()
	s.ready = grpcsrv.NewReadiness(s.health, "starting: the gRPC server is not serving yet")
	grpc_health_v1.RegisterHealthServer(s.grpc, newBoundedHealth(s.health, cfg.MaxHealthWatches))
	reflection.Register(s.grpc)
	s.peers = newPeerDialer(s.src, h.ca.Pool(), s.exchange)
	if cfg.RoundEvery > 0 || cfg.RoundCron != "" {
		if s.sched, err = s.newScheduler(ctx); err != nil {
			_ = h.close()
			return nil, err
		}
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = h.close()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	s.lis = grpcsrv.LimitListener(lis, grpcsrv.ConnLimits{PerHost: cfg.MaxConnsPerHost, Total: cfg.MaxConns, Refused: grpcsrv.LogRefused(cfg.Logger)})
	if cfg.HTTP != "" {
		s.http, err = httpops.Listen(httpops.Config{Addr: cfg.HTTP, Public: cfg.HTTPPublic, Gatherer: s.registry,
			Ready: s.ready.Err, Logger: cfg.Logger, ShutdownGrace: cfg.ShutdownGrace})
		if err != nil {
			_ = s.lis.Close()
			_ = h.close()
			return nil, err
		}
		s.mountDashboard(s.http)
	}
	s.state = runstate.NewWriter(cfg.Home, runstate.State{Listen: s.Addr().String(), HTTP: s.httpAddr()}, cfg.Logger)
	return s, nil
}

// newMetrics makes the server's registry and the metrics it holds (see
// Metrics).
func (s *Server) newMetrics() {
	s.registry = metrics.NewRegistry()
	s.rounds = NewRoundMetrics(s.registry)
	s.exchange = metrics.NewExchange(s.registry)
	s.calls = metrics.NewServerMetrics(s.registry)
	s.registry.MustRegister(newHubCollector(s.hub))
	metrics.Ready(s.registry, func() bool { return s.ready != nil && s.ready.Ready() })
}

// Metrics is the server's own Prometheus registry (never the global one),
// served on /metrics with Config.HTTP: the round metrics (RoundMetrics),
// the exchange with each peer evaluated (taonet_exchange_*), gRPC calls by
// code (taonet_grpc_server_*), the Watch queues
// (taonet_watch_*), taonet_ready, and the Go and process collectors.
func (s *Server) Metrics() prometheus.Gatherer { return s.registry }

// HTTP is the operations HTTP server, nil without Config.HTTP. Mount more
// handlers on it (Handle) before or while Run serves it.
func (s *Server) HTTP() *httpops.Server { return s.http }

// httpAddr is the operations server's address, "" when it is off.
func (s *Server) httpAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr().String()
}

// Ready is nil once Run serves, and an error saying why before and from
// the moment Run begins to stop: what gRPC health and /readyz report.
func (s *Server) Ready() error { return s.ready.Err() }

// newScheduler loads the validation pool and builds the round scheduler.
func (s *Server) newScheduler(ctx context.Context) (*Scheduler, error) {
	cfg := s.cfg
	val, public, err := LoadValidation(cfg.Validation, int(s.home.task.Classes))
	if err != nil {
		return nil, err
	}
	if public {
		cfg.Logger.Warn("validation data is Fashion-MNIST's public test split: peers could look its labels up; give a real network a private --validation folder", "validation", cfg.Validation)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = realClock{}
	}
	sched, err := NewScheduler(SchedulerConfig{
		Store: s.home.db, Evaluator: s.peers, Clock: clock, Publish: s.Publish, Away: s.presence.isAway, Logger: cfg.Logger,
		Validation: val, Shape: s.home.task.InputShape, Classes: int(s.home.task.Classes),
		DistillTimeout: cfg.DistillTimeout, EvalTimeout: cfg.EvalTimeout,
		Transfer: cfg.Transfer, TransferBatch: cfg.TransferBatch, ValidationSamples: cfg.ValidationSamples,
		Score:   ScoreConfig{Classes: int(s.home.task.Classes), Smoothing: cfg.Smoothing, DuplicateThreshold: DefaultScoreConfig(2).DuplicateThreshold, ShareScale: DefaultScoreConfig(2).ShareScale},
		Metrics: s.rounds,
	})
	if err != nil {
		return nil, err
	}
	if err := sched.Resume(ctx); err != nil {
		return nil, err
	}
	return sched, nil
}

// RunRound runs one round now, as a scheduled tick would (tests and
// benchmarks); it fails when rounds are not configured or one is running.
func (s *Server) RunRound(ctx context.Context) (*RoundReport, error) {
	if s.sched == nil {
		return nil, errors.New("run round: no round schedule is configured (RoundEvery or RoundCron)")
	}
	return s.sched.Tick(ctx)
}

// schedule opens rounds every RoundEvery or on RoundCron until ctx ends.
// Each tick runs its round in a tracked goroutine; a tick that comes while
// a round is still running is skipped (the Scheduler logs it).
func (s *Server) schedule(ctx context.Context) {
	tick := func() { s.wg.Go(func() { _, _ = s.sched.Tick(ctx) }) }
	if s.cfg.RoundCron != "" {
		c := cron.New(cron.WithLocation(time.UTC))
		if _, err := c.AddFunc(s.cfg.RoundCron, tick); err != nil {
			s.cfg.Logger.Error("round cron", "err", err)
			return
		}
		c.Start()
		<-ctx.Done()
		<-c.Stop().Done()
		return
	}
	t := time.NewTicker(s.cfg.RoundEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick()
		}
	}
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// CAPin is the pin of the network's CA.
func (s *Server) CAPin() string { return s.home.ca.Pin() }

// TrustDomain is the network's trust domain.
func (s *Server) TrustDomain() string { return s.home.net.TrustDomain }

// Run serves until ctx is cancelled, then stops gracefully (falling back to
// Stop after Config.ShutdownGrace), waits for every goroutine it started
// and closes the database. The operations HTTP server, with Config.HTTP,
// serves from the start of Run to its end: it answers /readyz with 503 as
// soon as Run begins to stop, and stops last.
func (s *Server) Run(ctx context.Context) error {
	defer s.release()
	httpDone := make(chan error, 1)
	if s.http != nil {
		httpCtx, stopHTTP := context.WithCancel(context.Background())
		go func() { httpDone <- s.http.Serve(httpCtx) }()
		defer func() {
			stopHTTP()
			if err := <-httpDone; err != nil {
				s.cfg.Logger.Error("operations http server", "err", err)
			}
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	s.wg.Go(func() { serveErr <- s.grpc.Serve(s.lis) })
	s.wg.Go(func() { s.pollRevocations(ctx) })
	s.wg.Go(func() { s.renewOwnCertificate(ctx) })
	s.wg.Go(func() { s.sweepAway(ctx) })
	if s.sched != nil {
		s.wg.Go(func() { s.schedule(ctx) })
	}
	s.ready.SetReady()
	s.state.Update(func(st *runstate.State) { st.Ready = true })
	s.cfg.Logger.Info("coordinator serving", "addr", s.Addr().String(), "http", s.httpAddr(), "trust_domain", s.home.net.TrustDomain, "task", s.home.task.Name)
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	}
	s.ready.Shutdown()
	s.state.Update(func(st *runstate.State) { st.Ready = false })
	close(s.stopping)
	cancel()
	grpcsrv.Stop(s.grpc, s.cfg.ShutdownGrace)
	s.wg.Wait()
	s.peers.close()
	s.cfg.Logger.Info("coordinator stopped")
	return err
}

// Close frees what New took (listener, database, the home's lock) for a
// Server that will not Run; Run frees them itself when it returns. It is
// safe to call after Run and twice.
func (s *Server) Close() error {
	_ = s.lis.Close()
	if s.http != nil {
		_ = s.http.Close()
	}
	s.release()
	return nil
}

// release marks the state file stopped, closes the database and releases
// the home's lock, once.
func (s *Server) release() {
	s.closeOnce.Do(func() {
		s.state.Update(func(st *runstate.State) { st.Ready, st.Stopped = false, time.Now() })
		_ = s.home.close()
		s.lock.Release()
	})
}

// publishDirectory pushes a directory change to every Watch stream.
func (s *Server) publishDirectory(change taonetv1.DirectoryChange, e ledger.Entry) {
	s.hub.publish(directoryEvent(change, e))
}

// Publish pushes an event to every Watch stream (the round scheduler uses
// it for RoundOpened, EvaluationStarted and RoundClosed) and moves the
// state file to the round's phase.
func (s *Server) Publish(ev *taonetv1.WatchResponse) {
	s.hub.publish(ev)
	s.state.Observe(ev)
}

// pollRevocations reads the revocations table every RevocationPoll. A newly
// revoked identity, peer or client, has its streams cut and a REVOKED
// directory change is pushed to every peer; the TLS layer and the auth
// interceptors refuse it from then on.
func (s *Server) pollRevocations(ctx context.Context) {
	t := time.NewTicker(s.cfg.RevocationPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		added, err := s.revoked.Refresh(ctx, s.home.db)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Error("read revocations", "err", err)
			}
			continue
		}
		s.dirMu.Lock()
		for _, id := range added {
			n := s.streams.Cut(id, fmt.Errorf("%w: %s", certs.ErrRevoked, id))
			s.peers.forget(id)
			s.presence.forget(id)
			s.exchange.Forget(id)
			s.rounds.forget(id)
			s.cfg.Logger.Info("revoked", "identity", id, "streams_cut", n)
			// Peers and clients alike: every peer refuses the identity
			// from now on, on open connections too.
			s.hub.publish(revokedEvent(id))
		}
		s.dirMu.Unlock()
	}
}

// renewOwnCertificate reissues the coordinator's certificate at its renewal
// point; new handshakes pick it up through the Source.
func (s *Server) renewOwnCertificate(ctx context.Context) {
	for {
		wait := time.Until(certs.RenewAt(s.src.Leaf()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, time.Second)):
		}
		src, err := s.home.coordinatorCert(ctx, s.cfg.LeafLifetime, true)
		if err != nil {
			s.cfg.Logger.Error("renew coordinator certificate", "err", err)
			continue
		}
		if err := s.src.Set(*src.Certificate()); err != nil {
			s.cfg.Logger.Error("renew coordinator certificate", "err", err)
		}
	}
}
