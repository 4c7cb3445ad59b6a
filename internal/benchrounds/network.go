package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/peer"
)

// network is one coordinator and its peers, all in this process, talking
// mutual-TLS gRPC over loopback.
type network struct {
	n      int
	dir    string
	srv    *coordinator.Server
	peers  []*peer.Peer
	phases *phases
	// warnings counts the warnings and errors logged by the coordinator
	// and the peers (a cut Watch stream, a refused call, a failed round).
	warnings *countingHandler

	cancelPeers, cancelCoord context.CancelFunc
	peerWG, coordWG          sync.WaitGroup
	coordErr                 error
}

// coordinatorConfig is the coordinator of the benchmark: rounds configured
// but never ticking on their own (RunRound drives them), a short distill
// phase that every round time subtracts (see roundTime), a generous
// evaluation deadline that a measured round must never reach, and
// enrollment unthrottled.
func coordinatorConfig(home, validation string, s Settings, log *slog.Logger) coordinator.Config {
	cfg := coordinator.DefaultConfig()
	cfg.Home, cfg.Listen, cfg.Logger = home, "127.0.0.1:0", log
	cfg.EnrollRate, cfg.EnrollBurst = rate.Limit(1e6), 1_000_000
	cfg.EnrollGlobalRate, cfg.EnrollGlobalBurst = rate.Limit(1e6), 1_000_000
	cfg.RoundEvery = 1000 * time.Hour
	cfg.DistillTimeout, cfg.EvalTimeout = s.Distill, s.EvalTimeout
	cfg.Validation, cfg.ValidationSamples, cfg.TransferBatch = validation, s.ValidationSamples, s.Batch
	cfg.WatchBuffer = s.WatchBuffer
	cfg.MaxConnsPerHost = cfg.MaxConns // every peer connects from 127.0.0.1
	return cfg
}

// peerConfig is one peer of the benchmark, serving m. Its per-caller call
// rate is raised: rounds here follow each other far faster than a real
// schedule, and the coordinator calls every peer once a round.
func peerConfig(home, coord string, tok *coordinator.NewToken, m peer.Model, log *slog.Logger) peer.Config {
	cfg := peer.DefaultConfig()
	cfg.Home, cfg.Coordinator, cfg.Token, cfg.CAPin = home, coord, tok.Token, tok.CAPin
	cfg.Listen, cfg.ServeModel, cfg.Logger = "127.0.0.1:0", m, log
	cfg.Limits.CallRate, cfg.Limits.CallBurst = rate.Limit(1e6), 1_000_000
	cfg.Limits.MaxConns, cfg.Limits.MaxConnsPerHost = 4096, 4096 // every student dials from 127.0.0.1
	cfg.LeaveTimeout, cfg.ShutdownGrace = time.Second, time.Second
	return cfg
}

// startNetwork makes a home under root, starts its coordinator, enrolls n
// peers and waits until every peer sees all n in its directory. None of
// this is measured.
func startNetwork(ctx context.Context, root string, n int, s Settings) (nw *network, err error) {
	nw = &network{n: n, dir: filepath.Join(root, fmt.Sprintf("net-%d", n)), phases: newPhases(), warnings: &countingHandler{}}
	defer func() {
		if err != nil {
			nw.close()
		}
	}()
	home, validation := filepath.Join(nw.dir, "coordinator"), filepath.Join(nw.dir, "validation")
	if err := os.MkdirAll(validation, 0o700); err != nil {
		return nw, err
	}
	if err := writeValidation(validation); err != nil {
		return nw, err
	}
	if err := coordinator.Init(ctx, coordinator.InitConfig{Home: home, TrustDomain: "bench.taonet",
		Hosts: []string{"127.0.0.1"}, Task: "fmnist"}); err != nil {
		return nw, err
	}
	tokens := make([]*coordinator.NewToken, n)
	for i := range tokens {
		if tokens[i], err = coordinator.CreateToken(ctx, home, fmt.Sprintf("p%04d", i), time.Hour); err != nil {
			return nw, err
		}
	}
	log := slog.New(nw.warnings)
	if nw.srv, err = coordinator.New(ctx, coordinatorConfig(home, validation, s, log)); err != nil {
		return nw, err
	}
	coordCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	nw.cancelCoord = cancel
	nw.coordWG.Go(func() { nw.coordErr = nw.srv.Run(coordCtx) })
	if err := nw.enroll(ctx, tokens, log); err != nil {
		return nw, err
	}
	peerCtx, cancelPeers := context.WithCancel(context.WithoutCancel(ctx))
	nw.cancelPeers = cancelPeers
	for _, p := range nw.peers {
		nw.peerWG.Go(func() {
			if err := p.Run(peerCtx); err != nil {
				log.Error("peer stopped", "peer", p.ID().String(), "err", err)
			}
		})
	}
	return nw, nw.waitJoined(ctx, 10*time.Minute)
}

// enroll makes the peers (key, CSR, Enroll) with a few workers.
func (nw *network) enroll(ctx context.Context, tokens []*coordinator.NewToken, log *slog.Logger) error {
	nw.peers = make([]*peer.Peer, len(tokens))
	errs := make([]error, len(tokens))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range next {
				home := filepath.Join(nw.dir, "peers", tokens[i].Identity.Name)
				cfg := peerConfig(home, nw.srv.Addr().String(), tokens[i], newFakeModel(i, len(tokens), nw.phases), log)
				nw.peers[i], errs[i] = peer.New(ctx, cfg)
			}
		})
	}
	for i := range tokens {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("enroll %d peers: %w", len(tokens), err)
	}
	return nil
}

// waitJoined waits until every peer's directory holds all n peers: each
// has joined and keeps a Watch stream open.
func (nw *network) waitJoined(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for i := 0; i < len(nw.peers); {
		if got := len(nw.peers[i].Directory()); got == nw.n {
			i++
			continue
		} else if time.Now().After(deadline) {
			return fmt.Errorf("peer %d sees %d of %d peers after %v", i, got, nw.n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// verify checks the ledger invariants (ledger.DB.Verify) and that rounds
// 1..want are all settled.
func (nw *network) verify(ctx context.Context, want uint64) error {
	home := filepath.Join(nw.dir, "coordinator")
	db, err := ledger.Open(ctx, filepath.Join(home, coordinator.DatabaseFile))
	if err != nil {
		return err
	}
	defer db.Close()
	ca, err := coordinator.ReadCA(home)
	if err != nil {
		return err
	}
	if _, err := db.Verify(ctx, ca); err != nil {
		return fmt.Errorf("%d peers: %w", nw.n, err)
	}
	last, err := db.LastRound(ctx)
	if err != nil {
		return err
	}
	if last != want {
		return fmt.Errorf("%d peers: the ledger's last round is %d, want %d", nw.n, last, want)
	}
	for r := uint64(1); r <= last; r++ {
		round, err := db.GetRound(ctx, r)
		if err != nil {
			return err
		}
		if round.State != ledger.RoundSettled {
			return fmt.Errorf("%d peers: round %d is %s", nw.n, r, round.State)
		}
	}
	return nil
}

// close stops the peers, then the coordinator, and removes the folder.
func (nw *network) close() {
	if nw.cancelPeers != nil {
		nw.cancelPeers()
		nw.peerWG.Wait()
	}
	if nw.cancelCoord != nil {
		nw.cancelCoord()
		nw.coordWG.Wait()
	}
	_ = os.RemoveAll(nw.dir)
}
