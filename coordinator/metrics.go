package coordinator

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taonet/taonet/internal/metrics"
	"github.com/taonet/taonet/ledger"
)

// Round phases, the values of taonet_round_phase_duration_seconds' phase
// label: open (read the directory, record the round, publish RoundOpened),
// distill (the peers' window), evaluate (the validation Forward to every
// peer), score and settle (the ledger transaction).
const (
	phaseOpen     = "open"
	phaseDistill  = "distill"
	phaseEvaluate = "evaluate"
	phaseScore    = "score"
	phaseSettle   = "settle"
)

// Results of taonet_rounds_total.
const (
	roundSettled = "settled"
	roundAborted = "aborted"
	roundSkipped = "skipped"
)

// phaseBuckets spans a score of a few peers (milliseconds) to a long
// distillation window (ten minutes).
var phaseBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// RoundMetrics are the scheduler's metrics:
//
//	taonet_round_phase_duration_seconds{phase}  histogram, see the phase constants
//	taonet_rounds_total{result}                 settled, aborted or skipped (no active peer)
//	taonet_round_number                         the last round opened
//	taonet_evaluation_loss{peer}                cross-entropy (nats) in the last settled round
//	taonet_evaluation_accuracy_ratio{peer}
//	taonet_evaluation_weight_ratio{peer}
//	taonet_evaluations_total{peer, status}      scored, timeout, invalid, duplicate
//	taonet_payout_rao_total{peer}               rao paid since this process started
//	taonet_supply_minted_rao                    all rao minted (the ledger's supply)
//	taonet_emission_rao                         what the next paying round mints
//
// The evaluation gauges hold the peers of the last settled round only: a
// peer out of it (left, away, revoked) drops out of them. A nil
// *RoundMetrics records nothing.
type RoundMetrics struct {
	phase    *prometheus.HistogramVec
	rounds   *prometheus.CounterVec
	round    prometheus.Gauge
	loss     *prometheus.GaugeVec
	accuracy *prometheus.GaugeVec
	weight   *prometheus.GaugeVec
	evals    *prometheus.CounterVec
	payouts  *prometheus.CounterVec
	minted   prometheus.Gauge
	emission prometheus.Gauge

	mu     sync.Mutex
	supply ledger.Supply // as last set or settled
}

// NewRoundMetrics registers the round metrics with reg.
func NewRoundMetrics(reg prometheus.Registerer) *RoundMetrics {
	ns := metrics.Namespace
	peer := []string{"peer"}
	m := &RoundMetrics{
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "round_phase_duration_seconds",
			Help: "Time each phase of a round took: open, distill, evaluate, score, settle.", Buckets: phaseBuckets}, []string{"phase"}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rounds_total",
			Help: "Rounds by result: settled, aborted (nothing paid), skipped (no active peer, none opened)."}, []string{"result"}),
		round: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "round_number",
			Help: "Number of the last round opened."}),
		loss: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "evaluation_loss",
			Help: "Each peer's cross-entropy (nats) on the validation sample of the last settled round."}, peer),
		accuracy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "evaluation_accuracy_ratio",
			Help: "Each peer's accuracy on the validation sample of the last settled round."}, peer),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "evaluation_weight_ratio",
			Help: "Each peer's weight (share of the emission) in the last settled round."}, peer),
		evals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "evaluations_total",
			Help: "Evaluations of settled rounds by peer and status: scored, timeout, invalid, duplicate."}, []string{"peer", "status"}),
		payouts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "payout_rao_total",
			Help: "Rao paid to each peer by rounds settled since this process started (1 TAO = 1e9 rao)."}, peer),
		minted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "supply_minted_rao",
			Help: "All rao minted so far, as in the ledger."}),
		emission: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "emission_rao",
			Help: "Rao the next round with any positive weight mints, by the halving schedule."}),
	}
	reg.MustRegister(m.phase, m.rounds, m.round, m.loss, m.accuracy, m.weight, m.evals, m.payouts, m.minted, m.emission)
	for _, r := range []string{roundSettled, roundAborted, roundSkipped} {
		m.rounds.WithLabelValues(r) // present at 0 before the first round
	}
	return m
}

// setSupply sets the supply gauges from the ledger's supply.
func (m *RoundMetrics) setSupply(s ledger.Supply) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.supply = s
	m.minted.Set(float64(s.Minted))
	m.emission.Set(float64(s.Emission))
}

// observePhase records that phase took since start.
func (m *RoundMetrics) observePhase(phase string, start time.Time) {
	if m == nil {
		return
	}
	m.phase.WithLabelValues(phase).Observe(time.Since(start).Seconds())
}

// opened records round number as opened.
func (m *RoundMetrics) opened(number uint64) {
	if m == nil {
		return
	}
	m.round.Set(float64(number))
}

// ended counts a round by result.
func (m *RoundMetrics) ended(result string) {
	if m == nil {
		return
	}
	m.rounds.WithLabelValues(result).Inc()
}

// settled records a settled round: its evaluations replace the gauges'
// peers, its payouts add up, and the supply moves by its emission (a round
// settled again by the idempotent path minted nothing new).
func (m *RoundMetrics) settled(st *ledger.Settlement, results []Result) {
	if m == nil {
		return
	}
	m.loss.Reset()
	m.accuracy.Reset()
	m.weight.Reset()
	for _, r := range results {
		m.evals.WithLabelValues(r.Identity, string(r.Status)).Inc()
		if r.Status != ledger.EvalScored && r.Status != ledger.EvalDuplicate {
			continue // no loss to show: the peer did not answer, or not validly
		}
		m.loss.WithLabelValues(r.Identity).Set(r.Loss)
		m.accuracy.WithLabelValues(r.Identity).Set(r.Accuracy)
		m.weight.WithLabelValues(r.Identity).Set(r.Weight)
	}
	if st.AlreadySettled {
		return
	}
	for _, p := range st.Payouts {
		m.payouts.WithLabelValues(p.Account).Add(float64(p.Rao))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.supply.Minted += st.Emission
	m.supply.Emission = ledger.Emission(m.supply.Cap, m.supply.InitialEmission, m.supply.Minted)
	m.minted.Set(float64(m.supply.Minted))
	m.emission.Set(float64(m.supply.Emission))
}

// forget drops every series of a revoked identity.
func (m *RoundMetrics) forget(identity string) {
	if m == nil {
		return
	}
	for _, v := range []*prometheus.GaugeVec{m.loss, m.accuracy, m.weight} {
		v.DeleteLabelValues(identity)
	}
	m.evals.DeletePartialMatch(prometheus.Labels{"peer": identity})
	m.payouts.DeleteLabelValues(identity)
}

// hubCollector reports the Watch hub's queues at each scrape:
//
//	taonet_watch_streams                open Watch streams
//	taonet_watch_queued_events          events queued for them in all
//	taonet_watch_queue_max_events       the most queued for one stream
//	taonet_watch_queue_capacity_events  a stream's buffer; at it the stream is cut
//	taonet_watch_cut_total              streams cut for falling behind
type hubCollector struct {
	h                                  *hub
	streams, queued, fullest, capacity *prometheus.Desc
	cuts                               *prometheus.Desc
}

func newHubCollector(h *hub) *hubCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "", name), help, nil, nil)
	}
	return &hubCollector{h: h,
		streams:  d("watch_streams", "Coordinator.Watch streams open."),
		queued:   d("watch_queued_events", "Events queued for the open Watch streams, in all."),
		fullest:  d("watch_queue_max_events", "Most events queued for one Watch stream."),
		capacity: d("watch_queue_capacity_events", "Events one Watch stream may fall behind before it is cut."),
		cuts:     d("watch_cut_total", "Watch streams cut for falling too far behind."),
	}
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.streams, c.queued, c.fullest, c.capacity, c.cuts} {
		ch <- d
	}
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	streams, queued, fullest := c.h.depth()
	ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(streams))
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(queued))
	ch <- prometheus.MustNewConstMetric(c.fullest, prometheus.GaugeValue, float64(fullest))
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(c.h.buffer))
	ch <- prometheus.MustNewConstMetric(c.cuts, prometheus.CounterValue, float64(c.h.cuts.Load()))
}
