package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/exchange"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// RoundStore is what the scheduler needs of the ledger (ledger.DB has it):
// the directory, and rounds opened and settled.
type RoundStore interface {
	ActivePeers(ctx context.Context, after string, limit int) ([]ledger.Entry, error)
	LastRound(ctx context.Context) (uint64, error)
	GetRound(ctx context.Context, number uint64) (*ledger.Round, error)
	OpenRound(ctx context.Context, number, seed uint64, seedHash []byte) error
	Settle(ctx context.Context, number uint64, validationSeed []byte, evals []ledger.Evaluation) (*ledger.Settlement, error)
	AbortOpen(ctx context.Context) (int, error)
}

// Evaluator asks one peer for its logits on a batch set (over mutual TLS
// with the coordinator's identity, in the real network).
type Evaluator interface {
	Forward(ctx context.Context, peer ledger.Entry, call exchange.Call) (*exchange.Result, error)
}

// Validation is the operator's labeled pool the peers never see.
type Validation struct {
	Data *distill.Dataset
	Pool []int // indices into Data
}

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Store     RoundStore
	Evaluator Evaluator
	Clock     Clock
	// Publish sends an event to every Watch stream.
	Publish func(*taonetv1.WatchResponse)
	// Away reports a peer left out of rounds (nil: none is).
	Away   func(identity string) bool
	Logger *slog.Logger
	// Validation is sampled for each round's evaluation.
	Validation Validation
	// Shape is one input's shape; Classes the task's class count.
	Shape   []int64
	Classes int
	// DistillTimeout and EvalTimeout are the phases' lengths.
	DistillTimeout time.Duration
	EvalTimeout    time.Duration
	// Transfer is the transfer sample size; TransferBatch the batch size
	// peers use for it and the coordinator for evaluation.
	Transfer      int
	TransferBatch int
	// ValidationSamples is the size of each round's validation sample.
	ValidationSamples int
	Score             ScoreConfig
	// Metrics records each round's phases, results, scores, payouts and
	// the supply; nil records nothing.
	Metrics *RoundMetrics
}

// Scheduler runs rounds one at a time: open, distill, evaluate, score,
// settle (docs/design.md "A round"). It keeps the smoothed losses and weights
// between rounds, and the open round's events for Watch streams that
// connect mid-round.
type Scheduler struct {
	cfg     SchedulerConfig
	running atomic.Bool

	mu       sync.Mutex
	opened   []*taonetv1.WatchResponse   // the round in progress (RoundOpened and its parts), nil between rounds
	started  *taonetv1.EvaluationStarted // its evaluation, once begun
	smoothed map[string]float64
	weights  map[string]float64
}

// errRoundRunning refuses a round while another is running.
var errRoundRunning = errors.New("a round is still running")

// NewScheduler checks cfg and returns a Scheduler.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	var errs []error
	if cfg.Store == nil || cfg.Evaluator == nil || cfg.Clock == nil || cfg.Publish == nil || cfg.Logger == nil {
		errs = append(errs, errors.New("store, evaluator, clock, publish and logger must be set"))
	}
	if cfg.Validation.Data == nil || len(cfg.Validation.Pool) == 0 {
		errs = append(errs, errors.New("a validation pool is needed"))
	}
	if cfg.DistillTimeout <= 0 || cfg.EvalTimeout <= 0 {
		errs = append(errs, fmt.Errorf("distill timeout %v and eval timeout %v must be positive", cfg.DistillTimeout, cfg.EvalTimeout))
	}
	if cfg.Transfer < 1 || cfg.TransferBatch < 1 || cfg.ValidationSamples < 1 {
		errs = append(errs, fmt.Errorf("transfer %d, transfer batch %d and validation samples %d must be positive", cfg.Transfer, cfg.TransferBatch, cfg.ValidationSamples))
	}
	if cfg.Validation.Data != nil && cfg.ValidationSamples > len(cfg.Validation.Pool) {
		errs = append(errs, fmt.Errorf("validation samples %d exceed the pool of %d", cfg.ValidationSamples, len(cfg.Validation.Pool)))
	}
	if err := cfg.Score.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return &Scheduler{cfg: cfg, smoothed: map[string]float64{}, weights: map[string]float64{}}, nil
}

// Resume restores the weights and smoothed losses from the last settled
// round, so a restarted coordinator keeps paying by history.
func (s *Scheduler) Resume(ctx context.Context) error {
	last, err := s.cfg.Store.LastRound(ctx)
	if err != nil || last == 0 {
		return err
	}
	for n := last; n > 0 && n+20 > last; n-- {
		r, err := s.cfg.Store.GetRound(ctx, n)
		if err != nil {
			return err
		}
		if r.State != ledger.RoundSettled {
			continue
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range r.Evaluations {
			if e.Status == ledger.EvalScored || e.Status == ledger.EvalDuplicate {
				s.smoothed[e.Identity] = e.Loss
			}
			s.weights[e.Identity] = e.Weight
		}
		return nil
	}
	return nil
}

// Current returns the events of the round in progress for a Watch stream
// that connects mid-round: RoundOpened, then EvaluationStarted once begun.
func (s *Scheduler) Current() []*taonetv1.WatchResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*taonetv1.WatchResponse
	out = append(out, s.opened...)
	if s.started != nil {
		out = append(out, &taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_EvaluationStarted{EvaluationStarted: s.started}})
	}
	return out
}

// Weights returns the current weight of every peer that has one.
func (s *Scheduler) Weights() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]float64, len(s.weights))
	for k, v := range s.weights {
		out[k] = v
	}
	return out
}

// Tick runs one round unless one is already running, in which case it
// logs the skipped tick and returns errRoundRunning at once.
func (s *Scheduler) Tick(ctx context.Context) (*RoundReport, error) {
	if !s.running.CompareAndSwap(false, true) {
		s.cfg.Logger.WarnContext(ctx, "round tick skipped: a round is still running")
		return nil, errRoundRunning
	}
	defer s.running.Store(false)
	return s.RunRound(ctx)
}

// RoundReport is what a round did.
type RoundReport struct {
	Round      uint64
	Peers      int
	Results    []Result
	Settlement *ledger.Settlement
	// Skipped is true when no peer was active and no round was opened.
	Skipped bool
}

// randomUint64 draws the round's transfer seed.
func randomUint64() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("round seed: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// directory reads every active peer that is not away.
func (s *Scheduler) directory(ctx context.Context) ([]ledger.Entry, error) {
	all, err := activePeers(ctx, s.cfg.Store)
	if err != nil || s.cfg.Away == nil {
		return all, err
	}
	out := all[:0]
	for _, e := range all {
		if !s.cfg.Away(e.Identity) {
			out = append(out, e)
		}
	}
	return out, nil
}

// RunRound runs one whole round now. With no active peer it opens nothing.
// A round that fails after it opened is aborted: nothing is paid for it.
func (s *Scheduler) RunRound(ctx context.Context) (*RoundReport, error) {
	start := time.Now()
	peers, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	if len(peers) == 0 {
		s.cfg.Logger.InfoContext(ctx, "round skipped: no active peer")
		s.cfg.Metrics.ended(roundSkipped)
		return &RoundReport{Skipped: true}, nil
	}
	last, err := s.cfg.Store.LastRound(ctx)
	if err != nil {
		return nil, err
	}
	number := last + 1
	seed, err := randomUint64()
	if err != nil {
		return nil, err
	}
	valSeed, valHash, err := NewValidationSeed()
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.OpenRound(ctx, number, seed, valHash); err != nil {
		return nil, err
	}
	s.cfg.Metrics.opened(number)
	s.cfg.Metrics.observePhase(phaseOpen, start)
	rep, err := s.play(ctx, number, seed, valSeed, valHash, peers)
	if err != nil {
		s.abort(number, err)
		return nil, err
	}
	return rep, nil
}

// abort marks the open round aborted and tells the watchers.
func (s *Scheduler) abort(number uint64, cause error) {
	s.cfg.Logger.Error("round aborted", "round", number, "err", cause)
	s.cfg.Metrics.ended(roundAborted)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.cfg.Store.AbortOpen(ctx); err != nil {
		s.cfg.Logger.Error("abort round", "round", number, "err", err)
	}
	s.setPhase(nil, nil)
	s.cfg.Publish(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundClosed{RoundClosed: &taonetv1.RoundClosed{
		Round: number, State: taonetv1.RoundState_ROUND_STATE_ABORTED,
	}}})
}

func (s *Scheduler) setPhase(opened []*taonetv1.WatchResponse, started *taonetv1.EvaluationStarted) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened, s.started = opened, started
}

// play runs the phases of an opened round.
func (s *Scheduler) play(ctx context.Context, number, seed uint64, valSeed, valHash []byte, peers []ledger.Entry) (*RoundReport, error) {
	log := s.cfg.Logger.With("round", number)
	now := s.cfg.Clock.Now()
	distillEnd := now.Add(s.cfg.DistillTimeout)
	opened := &taonetv1.RoundOpened{
		Round: number, Seed: seed, ValidationSeedHash: valHash,
		Transfer:         &taonetv1.TransferSpec{Pool: "fmnist-transfer", Samples: uint32(s.cfg.Transfer), BatchSize: uint32(s.cfg.TransferBatch)},
		DistillDeadline:  timestamppb.New(distillEnd),
		EvaluateDeadline: timestamppb.New(distillEnd.Add(s.cfg.EvalTimeout)),
	}
	events := openedEvents(opened, peers, s.Weights())
	s.setPhase(events, nil)
	for _, ev := range events {
		s.cfg.Publish(ev)
	}
	log.InfoContext(ctx, "round opened", "peers", len(peers), "distill", s.cfg.DistillTimeout)

	distilling := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.cfg.Clock.After(s.cfg.DistillTimeout):
	}
	s.cfg.Metrics.observePhase(phaseDistill, distilling)
	started := &taonetv1.EvaluationStarted{Round: number, Deadline: timestamppb.New(s.cfg.Clock.Now().Add(s.cfg.EvalTimeout))}
	s.setPhase(events, started)
	s.cfg.Publish(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_EvaluationStarted{EvaluationStarted: started}})

	// The evaluation asks whoever is active now: a peer that left during
	// distillation scores nothing, one that joined late may still score.
	peers, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	return s.evaluateAndSettle(ctx, log, number, valSeed, peers)
}

// evaluateAndSettle runs the evaluation phase, scores and settles.
func (s *Scheduler) evaluateAndSettle(ctx context.Context, log *slog.Logger, number uint64, valSeed []byte, peers []ledger.Entry) (*RoundReport, error) {
	idx, err := ValidationSample(valSeed, s.cfg.Validation.Pool, s.cfg.ValidationSamples)
	if err != nil {
		return nil, err
	}
	d := s.cfg.Validation.Data
	x := make([]float32, len(idx)*d.Features())
	labels := make([]int64, len(idx))
	d.Fill(idx, x, labels)
	evaluating := time.Now()
	answers := s.evaluate(ctx, number, x, peers)
	s.cfg.Metrics.observePhase(phaseEvaluate, evaluating)
	scoring := time.Now()
	s.mu.Lock()
	previous := make(map[string]float64, len(s.smoothed))
	for k, v := range s.smoothed {
		previous[k] = v
	}
	s.mu.Unlock()
	results, err := Score(s.cfg.Score, labels, answers, previous)
	if err != nil {
		return nil, err
	}
	evals := make([]ledger.Evaluation, len(results))
	for i, r := range results {
		evals[i] = ledger.Evaluation{Identity: r.Identity, Loss: r.Loss, Accuracy: r.Accuracy, Weight: r.Weight, Shares: r.Shares, Status: r.Status}
	}
	s.cfg.Metrics.observePhase(phaseScore, scoring)
	settling := time.Now()
	st, err := s.cfg.Store.Settle(ctx, number, valSeed, evals)
	if err != nil {
		return nil, fmt.Errorf("settle round %d: %w", number, err)
	}
	s.cfg.Metrics.observePhase(phaseSettle, settling)
	s.cfg.Metrics.settled(st, results)
	s.cfg.Metrics.ended(roundSettled)
	s.remember(results)
	s.setPhase(nil, nil)
	s.cfg.Publish(&taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundClosed{RoundClosed: closedEvent(number, valSeed, st, results)}})
	for _, r := range results {
		log.InfoContext(ctx, "evaluated", "peer", r.Identity, "status", string(r.Status), "loss", r.Loss, "accuracy", r.Accuracy, "weight", r.Weight)
	}
	log.InfoContext(ctx, "round settled", "emission_rao", st.Emission, "payouts", len(st.Payouts))
	return &RoundReport{Round: number, Peers: len(peers), Results: results, Settlement: st}, nil
}

// evaluate sends the validation inputs to every peer at once and gathers
// the answers that arrive before the evaluation deadline, in arrival order.
func (s *Scheduler) evaluate(ctx context.Context, number uint64, x []float32, peers []ledger.Entry) []Answer {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.cfg.Clock.After(s.cfg.EvalTimeout):
			cancel()
		case <-ctx.Done():
		}
	}()
	answers := make([]Answer, len(peers))
	// The inputs are encoded once for every peer.
	call, err := exchange.Call{Round: number, Inputs: x, Shape: s.cfg.Shape, Classes: s.cfg.Classes,
		Batch: s.cfg.TransferBatch, FirstBatch: 1, ChunkBytes: 1 << 20, Limit: 64 << 20}.Prepared()
	if err != nil {
		for i, p := range peers {
			answers[i] = Answer{Identity: p.Identity, Invalid: err}
		}
		return answers
	}
	var order atomic.Int64
	var wg sync.WaitGroup
	for i, p := range peers {
		answers[i] = Answer{Identity: p.Identity}
		wg.Go(func() {
			res, err := s.cfg.Evaluator.Forward(ctx, p, call)
			n := int(order.Add(1))
			switch {
			case err == nil:
				answers[i].Logits = &distill.Logits{Classes: s.cfg.Classes, Values: res.Logits}
				answers[i].Order = n
			case ctx.Err() != nil || unreachable(err):
				// no answer in time (or none at all: a dead peer): timeout
			default:
				answers[i].Invalid = err
				answers[i].Order = n
			}
		})
	}
	wg.Wait()
	return answers
}

// unreachable reports an error that means no answer came, as from a peer
// that is down, rather than a wrong answer.
func unreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// remember keeps the smoothed losses and weights for the next round.
func (s *Scheduler) remember(results []Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.weights = map[string]float64{}
	for _, r := range results {
		s.weights[r.Identity] = r.Weight
		if r.Smoothed == r.Smoothed { // not NaN: the peer has a history
			s.smoothed[r.Identity] = r.Smoothed
		}
	}
}

// roundEventPeers is the most peers one RoundOpened or RoundOpenedPart
// event names. A directory entry is at most about 1.2 KB (card fields,
// address and name are bounded at Join), so an event stays near 1.5 MB,
// well under the 4 MiB message limit, however large the network.
const roundEventPeers = 1000

// openedEvents fills opened with the round's directory and weights, split
// into RoundOpened and as many RoundOpenedPart events as it takes.
func openedEvents(opened *taonetv1.RoundOpened, peers []ledger.Entry, weights map[string]float64) []*taonetv1.WatchResponse {
	parts := max(1, (len(peers)+roundEventPeers-1)/roundEventPeers)
	opened.Parts = uint32(parts)
	out := []*taonetv1.WatchResponse{{Event: &taonetv1.WatchResponse_RoundOpened{RoundOpened: opened}}}
	for part := 0; part < parts; part++ {
		chunk := peers[part*roundEventPeers : min(len(peers), (part+1)*roundEventPeers)]
		dir := make([]*taonetv1.PeerInfo, len(chunk))
		ws := make([]*taonetv1.TeacherWeight, len(chunk))
		for i, p := range chunk {
			dir[i] = peerInfo(p)
			ws[i] = &taonetv1.TeacherWeight{Identity: p.Identity, Weight: weights[p.Identity]}
		}
		if part == 0 {
			opened.Directory, opened.Weights = dir, ws
			continue
		}
		out = append(out, &taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundOpenedPart{RoundOpenedPart: &taonetv1.RoundOpenedPart{
			Round: opened.GetRound(), Part: uint32(part), Directory: dir, Weights: ws,
		}}})
	}
	return out
}
