package peer

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
	"github.com/taonet/taonet/internal/grpcsrv"
	"github.com/taonet/taonet/internal/homelock"
	"github.com/taonet/taonet/internal/httpops"
	"github.com/taonet/taonet/internal/metrics"
	"github.com/taonet/taonet/internal/runstate"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ProtocolVersion is the wire protocol this peer speaks.
const ProtocolVersion = 1

// Peer is a running peer: its Peer service on Listen (mutual TLS,
// reflection, health), its place in the coordinator's directory and its
// Watch stream, and, with Config.HTTP, the operations HTTP server
// (/metrics, /healthz, /readyz). Make one with New, then call Run.
type Peer struct {
	cfg       Config
	id        *identity
	model     Model
	engine    *torch.Model // nil when cfg.ServeModel is served
	pools     *distill.Pools
	shard     []int
	dir       *directory
	lis       net.Listener
	advertise string
	server    *Server
	coord     *coordConn
	teachers  *Teachers // this peer's connections to its teachers, closed by Run
	lock      *homelock.Lock
	rounds    rounds // the round in progress as a student (round.go)
	opening   opening
	receipts  *receipts
	registry  *prometheus.Registry
	metrics   *Metrics
	http      *httpops.Server  // nil without Config.HTTP
	state     *runstate.Writer // the home's state file, for status commands
	wg        sync.WaitGroup
}

// New enrolls on the first run (token and CA pin) or reuses the stored
// certificate, listens on cfg.Listen and prepares the coordinator
// connection. Nothing is served until Run.
//
// The peer holds its home's exclusive lock (internal/homelock) from New
// until Run returns: a second peer on the same home is refused.
func New(ctx context.Context, cfg Config) (*Peer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lock, err := homelock.Acquire(cfg.Home)
	if err != nil {
		return nil, err
	}
	p, err := newPeer(ctx, cfg)
	if err != nil {
		lock.Release()
		return nil, err
	}
	p.lock = lock
	return p, nil
}

// newPeer is New under the home's lock.
func newPeer(ctx context.Context, cfg Config) (*Peer, error) {
	id, err := loadOrEnroll(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Every line this peer logs from now on names it.
	cfg.Logger = cfg.Logger.With("peer", id.src.ID().String())
	p := &Peer{cfg: cfg, id: id, dir: newDirectory(), registry: metrics.NewRegistry()}
	p.metrics = NewMetrics(p.registry)
	if p.receipts, err = newReceipts(cfg.Home, id.ca); err != nil {
		return nil, err
	}
	p.teachers = NewTeachers(p.Dialer(), cfg.Limits)
	p.teachers.metrics = p.metrics
	if err := p.openModel(); err != nil {
		return nil, err
	}
	p.server, err = NewServer(ServerConfig{Source: id.src, Pool: id.pool, Member: p.dir.contains, Model: p.model,
		Limits: cfg.Limits, Gradients: cfg.Gradients, Logger: cfg.Logger, Metrics: p.metrics})
	if err != nil {
		p.closeModel()
		return nil, err
	}
	metrics.Ready(p.registry, p.server.Readiness.Ready)
	td := id.src.ID().TrustDomain
	toCoord := certs.MTLSClientConfig(id.src, id.pool, certs.AuthorizeID(certs.CoordinatorID(td)))
	if p.coord, err = dialCoordinator(cfg.Coordinator, toCoord); err != nil {
		p.closeModel()
		return nil, err
	}
	if p.lis, err = net.Listen("tcp", cfg.Listen); err != nil {
		_ = p.coord.close()
		p.closeModel()
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	p.lis = cfg.Limits.listener(p.lis, cfg.Logger)
	p.advertise = cfg.Advertise
	if p.advertise == "" {
		p.advertise = p.lis.Addr().String()
	}
	if cfg.HTTP != "" {
		p.http, err = httpops.Listen(httpops.Config{Addr: cfg.HTTP, Public: cfg.HTTPPublic, Gatherer: p.registry,
			Ready: p.server.Readiness.Err, Logger: cfg.Logger, ShutdownGrace: cfg.ShutdownGrace})
		if err != nil {
			_ = p.lis.Close()
			_ = p.coord.close()
			p.closeModel()
			return nil, err
		}
	}
	p.state = runstate.NewWriter(cfg.Home, runstate.State{Listen: p.lis.Addr().String(), Advertise: p.advertise,
		Coordinator: cfg.Coordinator, HTTP: p.httpAddr()}, cfg.Logger)
	return p, nil
}

// Metrics is the peer's own Prometheus registry (never the global one),
// served on /metrics with Config.HTTP: see Metrics for what it holds, and
// the Go and process collectors.
func (p *Peer) Metrics() prometheus.Gatherer { return p.registry }

// HTTP is the operations HTTP server, nil without Config.HTTP. Mount more
// handlers on it (Handle) before or while Run serves it.
func (p *Peer) HTTP() *httpops.Server { return p.http }

// httpAddr is the operations server's address, "" when it is off.
func (p *Peer) httpAddr() string {
	if p.http == nil {
		return ""
	}
	return p.http.Addr().String()
}

// Ready is nil once the peer's model is loaded (restored from its
// checkpoint, or warmed up on its shard when it had none) and Run serves
// it, else an error saying why not: what gRPC health and /readyz report.
func (p *Peer) Ready() error { return p.server.Readiness.Err() }

// Addr is where the Peer service listens.
func (p *Peer) Addr() net.Addr { return p.lis.Addr() }

// ID is this peer's identity.
func (p *Peer) ID() certs.ID { return p.id.src.ID() }

// Certificate is this peer's current leaf certificate.
func (p *Peer) Certificate() *certs.Source { return p.id.src }

// Dialer returns a Dialer for other peers with this peer's identity.
func (p *Peer) Dialer() *Dialer { return NewDialer(p.id.src, p.id.pool) }

// Directory returns this peer's current view of the directory.
func (p *Peer) Directory() []*taonetv1.PeerInfo { return p.dir.list() }

// Run serves the Peer service, joins the directory and keeps a Watch
// stream open (reconnecting with exponential backoff), renews the
// certificate before it expires, and on ctx cancellation leaves the
// directory and stops. A peer with a libtorch model and no checkpoint
// first warms up on its own shard (see warmup) while already serving, and
// only then joins; every RoundOpened starts its part of the round as a
// student (see startRound). It returns an error when the coordinator
// refuses this peer for good (revoked, or a card the network does not
// accept). It is ready (gRPC health, /readyz) once the warmup is over, and
// not ready again from the moment it begins to stop; the operations HTTP
// server stops last.
func (p *Peer) Run(ctx context.Context) error {
	stopHTTP := p.serveHTTP()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.rounds.mu.Lock()
	p.rounds.ctx = ctx
	p.rounds.mu.Unlock()
	serveErr := make(chan error, 1)
	p.wg.Go(func() { serveErr <- p.server.GRPC.Serve(p.lis) })
	p.wg.Go(func() { p.renewLoop(ctx) })
	p.cfg.Logger.Info("peer serving", "addr", p.Addr().String(), "advertise", p.advertise, "http", p.httpAddr())
	partErr := make(chan error, 1)
	if p.engine != nil && p.cfg.WarmupEpochs > 0 {
		p.server.Readiness.SetNotReady("loading the model: warming up on its shard when it has no checkpoint")
	}
	p.wg.Go(func() {
		if err := p.warmup(ctx); err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("warmup failed; joining with the model as it is", "err", err)
		}
		p.server.Readiness.SetReady()
		p.state.Update(func(st *runstate.State) { st.Ready = p.server.Readiness.Ready() })
		partErr <- p.participate(ctx)
	})
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	case err = <-partErr:
	}
	cancel()
	p.server.Readiness.Shutdown()
	p.state.Update(func(st *runstate.State) { st.Ready = false })
	p.leave()
	grpcsrv.Stop(p.server.GRPC, p.cfg.ShutdownGrace)
	p.wg.Wait()
	_ = p.teachers.Close()
	_ = p.coord.close()
	p.closeModel()
	stopHTTP()
	p.state.Update(func(st *runstate.State) { st.Stopped = time.Now() })
	p.lock.Release()
	return err
}

// serveHTTP starts the operations HTTP server, when there is one, and
// returns the function that stops it and waits for it.
func (p *Peer) serveHTTP() (stop func()) {
	if p.http == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.http.Serve(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			p.cfg.Logger.Error("operations http server", "err", err)
		}
	}
}

// openModel serves cfg.ServeModel, or builds the libtorch model: restored
// from its checkpoint in Home when there is one, else fresh.
func (p *Peer) openModel() error {
	cfg := p.cfg
	if cfg.ServeModel != nil {
		p.model = cfg.ServeModel
		return nil
	}
	pools, err := loadPools(cfg.Data)
	if err != nil {
		return err
	}
	shard, _, err := trainingSet(pools, cfg.Shard, cfg.Alpha, cfg.Seed)
	if err != nil {
		return err
	}
	if cfg.Shard == "" {
		shard = pools.Private
	}
	m, err := NewEngine(cfg.Model, cfg.Device, cfg.Threads, cfg.Seed, cfg.LR)
	if err != nil {
		return err
	}
	ckpt := CheckpointPath(cfg.Home, cfg.Model)
	if _, err := os.Stat(ckpt); err == nil {
		if err := m.Load(ckpt); err != nil {
			m.Close()
			return err
		}
		cfg.Logger.Info("model restored", "checkpoint", ckpt)
	}
	tm, err := NewTorchModel(m, "fmnist", []int64{1, int64(pools.Train.Rows), int64(pools.Train.Cols)})
	if err != nil {
		m.Close()
		return err
	}
	p.model, p.engine, p.pools, p.shard = tm, m, pools, shard
	return nil
}

// Close frees what New took (listener, connections, model, the home's
// lock) for a Peer that will not Run; Run frees them itself when it
// returns. It is safe to call after Run and twice.
func (p *Peer) Close() error {
	_ = p.lis.Close()
	if p.http != nil {
		_ = p.http.Close()
	}
	p.state.Update(func(st *runstate.State) { st.Stopped = time.Now() })
	_ = p.teachers.Close()
	_ = p.coord.close()
	p.closeModel()
	p.lock.Release()
	return nil
}

// closeModel frees the libtorch model.
func (p *Peer) closeModel() {
	if p.engine != nil {
		p.engine.Close()
	}
}

// Model is the model this peer serves.
func (p *Peer) Model() Model { return p.model }

// leave tells the coordinator this peer is going, within LeaveTimeout.
func (p *Peer) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.LeaveTimeout)
	defer cancel()
	if _, err := p.coord.client().Leave(ctx, &taonetv1.LeaveRequest{}); err != nil {
		p.cfg.Logger.Warn("leave", "err", err)
	}
}

// fatal reports whether a coordinator refusal will not change by retrying.
func fatal(err error) bool {
	switch status.Code(err) {
	case codes.PermissionDenied, codes.FailedPrecondition, codes.InvalidArgument:
		return true
	}
	return false
}

// foreignNetwork reports a coordinator whose certificate this home's CA
// did not sign: retrying cannot help.
func foreignNetwork(err error) bool {
	return status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "certificate signed by unknown authority")
}

// participate joins and watches until ctx ends, reconnecting with
// exponential backoff between BackoffMin and BackoffMax.
func (p *Peer) participate(ctx context.Context) error {
	backoff := p.cfg.BackoffMin
	for {
		err := p.session(ctx, func() { backoff = p.cfg.BackoffMin })
		if ctx.Err() != nil {
			return nil
		}
		if fatal(err) {
			return fmt.Errorf("coordinator refused this peer: %w", err)
		}
		if foreignNetwork(err) {
			return fmt.Errorf("the coordinator at %s is not of this home's network (its certificate is not signed by %s in %s): %w",
				p.cfg.Coordinator, CAFile, p.cfg.Home, err)
		}
		p.cfg.Logger.Warn("coordinator session ended; reconnecting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.cfg.BackoffMax)
	}
}

// session is one Join + Watch: it returns when the stream breaks.
func (p *Peer) session(ctx context.Context, connected func()) error {
	client := p.coord.client()
	if _, err := client.Join(ctx, &taonetv1.JoinRequest{ProtocolVersion: ProtocolVersion, AdvertiseAddress: p.advertise, Card: p.model.Card()}); err != nil {
		return err
	}
	stream, err := client.Watch(ctx, &taonetv1.WatchRequest{})
	if err != nil {
		return err
	}
	all, err := listPeers(ctx, client)
	if err != nil {
		return err
	}
	p.dir.replace(all)
	connected()
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		p.onEvent(ev)
	}
}

func listPeers(ctx context.Context, client taonetv1.CoordinatorClient) ([]*taonetv1.PeerInfo, error) {
	var all []*taonetv1.PeerInfo
	token := ""
	for {
		resp, err := client.ListPeers(ctx, &taonetv1.ListPeersRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetPeers()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// renewLoop renews the certificate at certs.RenewFraction of its lifetime,
// retrying every BackoffMin..BackoffMax on failure.
func (p *Peer) renewLoop(ctx context.Context) {
	retry := p.cfg.BackoffMin
	for {
		wait := time.Until(certs.RenewAt(p.id.src.Leaf()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := p.id.renew(ctx, p.cfg.Home, p.coord.client())
		if err == nil {
			// Calls on the old connection would still present the old
			// certificate, which the coordinator refuses once it expires.
			err = p.coord.redial()
		}
		switch {
		case err == nil:
			retry = p.cfg.BackoffMin
			p.cfg.Logger.Info("certificate renewed", "not_after", p.id.src.Leaf().NotAfter)
		case ctx.Err() != nil:
			return
		default:
			p.cfg.Logger.Warn("renew certificate", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, p.cfg.BackoffMax)
		}
	}
}

// onEvent applies one Watch event to the directory and the round phase.
// It runs on the session's goroutine, one event at a time.
func (p *Peer) onEvent(ev *taonetv1.WatchResponse) {
	p.state.Observe(ev)
	switch {
	case ev.GetDirectoryChanged() != nil:
		ch := ev.GetDirectoryChanged()
		p.dir.apply(ch)
		if ch.GetChange() == taonetv1.DirectoryChange_DIRECTORY_CHANGE_REVOKED {
			p.server.Revoke(ch.GetPeer().GetIdentity())
		}
	case ev.GetRoundOpened() != nil:
		p.metrics.roundOpened(ev.GetRoundOpened().GetRound())
		p.server.OpenRound(ev.GetRoundOpened().GetRound())
		if opened := p.opening.start(ev.GetRoundOpened()); opened != nil {
			p.startRound(opened)
		}
	case ev.GetRoundOpenedPart() != nil:
		opened, err := p.opening.add(ev.GetRoundOpenedPart())
		if err != nil {
			p.cfg.Logger.Warn("round event dropped", "err", err)
		}
		if opened != nil {
			p.startRound(opened)
		}
	case ev.GetEvaluationStarted() != nil:
		p.server.StartEvaluation(ev.GetEvaluationStarted().GetRound())
	case ev.GetRoundClosed() != nil:
		p.server.CloseRound(ev.GetRoundClosed().GetRound())
		if err := p.receipts.keep(ev.GetRoundClosed()); err != nil {
			p.cfg.Logger.Error("round receipt refused: the coordinator's signed history does not hold together",
				"round", ev.GetRoundClosed().GetRound(), "err", err)
		}
	}
}
