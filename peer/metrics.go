package peer

import (
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/taonet/taonet/internal/metrics"
)

// Kinds of libtorch step, the values of taonet_train_step_duration_seconds'
// kind label.
const (
	stepRound     = "round"     // a round's distillation step (TrainStep)
	stepWarmup    = "warmup"    // a warmup step on the own shard (torch.Fit)
	stepGradients = "gradients" // incoming Backward gradients applied (one optimizer step)
)

// Outcomes of a teacher in a student's round (taonet_student_teachers_total).
const (
	teacherUsed       = "used"
	teacherDropped    = "dropped"
	teacherUnanswered = "unanswered"
	teacherUnweighted = "unweighted"
)

// stepBuckets span a small MLP step on a GPU (under a millisecond) to a
// large CNN batch on one CPU thread (seconds).
var stepBuckets = prometheus.ExponentialBuckets(0.00025, 2, 16)

// Metrics are a peer's Prometheus metrics. Besides the shared ones of
// package internal/metrics (taonet_exchange_*, taonet_grpc_*), they are:
//
//	taonet_train_step_duration_seconds{kind}   libtorch steps: round, warmup, gradients
//	taonet_model_forward_duration_seconds      one Forward batch through the model (serving)
//	taonet_forward_streams                     Forward streams being served
//	taonet_forward_queued_batches              decoded batches waiting for the model, all streams
//	taonet_forward_rows_total{source}          students' round rows answered by the model or from the round's cache
//	taonet_student_rounds_total{result}        rounds as a student: ok, error
//	taonet_student_round_duration_seconds      a student round, first Forward to checkpoint
//	taonet_student_loss                        mean training loss of the last student round
//	taonet_student_teachers_total{teacher, outcome}  used, dropped, unanswered, unweighted
//	taonet_round_number                        the last round this peer saw open
//
// GPU memory is not exported: the libtorch engine (distill/torch) does not
// report it. A nil *Metrics records nothing.
type Metrics struct {
	exchange *metrics.Exchange
	calls    *grpcprom.ServerMetrics
	step     *prometheus.HistogramVec
	forward  prometheus.Histogram
	rows     *prometheus.CounterVec
	streams  prometheus.Gauge
	queued   prometheus.Gauge
	rounds   *prometheus.CounterVec
	duration prometheus.Histogram
	loss     prometheus.Gauge
	teachers *prometheus.CounterVec
	round    prometheus.Gauge
}

// NewMetrics registers a peer's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ns := metrics.Namespace
	m := &Metrics{
		exchange: metrics.NewExchange(reg),
		calls:    metrics.NewServerMetrics(reg),
		step: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "train_step_duration_seconds",
			Help:    "Time of one libtorch training step, by kind: round (distillation), warmup (own shard), gradients (incoming Backward applied).",
			Buckets: stepBuckets}, []string{"kind"}),
		forward: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "model_forward_duration_seconds",
			Help: "Time of one served Forward batch through the model.", Buckets: stepBuckets}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "forward_rows_total",
			Help: "Input rows of students' Forward batches in rounds, by source of the answer: model (computed) or cache (answered earlier in the round to another student)."},
			[]string{"source"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "forward_streams",
			Help: "Peer.Forward streams being served."}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "forward_queued_batches",
			Help: "Decoded Forward batches waiting for the model, over every stream (each stream queues at most --in-flight)."}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "student_rounds_total",
			Help: "Rounds this peer took part in as a student, by result: ok, or error (cut short or failed)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "student_round_duration_seconds",
			Help:    "Time of a round as a student, from asking the teachers to saving the checkpoint.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600}}),
		loss: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "student_loss",
			Help: "Mean training loss of the steps of the last round as a student."}),
		teachers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "student_teachers_total",
			Help: "Teachers of this peer's rounds by identity and outcome: used, dropped (hidden checks), unanswered, unweighted."},
			[]string{"teacher", "outcome"}),
		round: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "round_number",
			Help: "Number of the last round this peer saw open."}),
	}
	reg.MustRegister(m.step, m.forward, m.rows, m.streams, m.queued, m.rounds, m.duration, m.loss, m.teachers, m.round)
	for _, r := range []string{"ok", "error"} {
		m.rounds.WithLabelValues(r)
	}
	for _, s := range []string{"model", "cache"} {
		m.rows.WithLabelValues(s)
	}
	return m
}

// exchangeMetrics is the exchange's counters (nil for a nil m).
func (m *Metrics) exchangeMetrics() *metrics.Exchange {
	if m == nil {
		return nil
	}
	return m.exchange
}

// observeStep records a libtorch step of kind that took since start.
func (m *Metrics) observeStep(kind string, start time.Time) {
	if m == nil {
		return
	}
	m.step.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// observeForward records a served Forward batch that took since start.
func (m *Metrics) observeForward(start time.Time) {
	if m == nil {
		return
	}
	m.forward.Observe(time.Since(start).Seconds())
}

// addForwardRows counts students' round rows answered from the cache and
// by the model.
func (m *Metrics) addForwardRows(cached, computed int) {
	if m == nil {
		return
	}
	m.rows.WithLabelValues("cache").Add(float64(cached))
	m.rows.WithLabelValues("model").Add(float64(computed))
}

// addStreams moves the Forward streams gauge by d.
func (m *Metrics) addStreams(d int) {
	if m == nil {
		return
	}
	m.streams.Add(float64(d))
}

// addQueued moves the queued Forward batches gauge by d.
func (m *Metrics) addQueued(d int) {
	if m == nil {
		return
	}
	m.queued.Add(float64(d))
}

// roundOpened records the round this peer saw open.
func (m *Metrics) roundOpened(r uint64) {
	if m == nil {
		return
	}
	m.round.Set(float64(r))
}

// studentRound records a round as a student.
func (m *Metrics) studentRound(rep *RoundReport) {
	if m == nil {
		return
	}
	result := "ok"
	if rep.Err != nil {
		result = "error"
	}
	m.rounds.WithLabelValues(result).Inc()
	m.duration.Observe(rep.Duration.Seconds())
	if rep.Steps > 0 {
		m.loss.Set(rep.Loss)
	}
	for outcome, ids := range map[string][]string{teacherUsed: rep.Teachers, teacherDropped: rep.Dropped,
		teacherUnanswered: rep.Unanswered, teacherUnweighted: rep.Unweighted} {
		for _, id := range ids {
			m.teachers.WithLabelValues(id, outcome).Inc()
		}
	}
}

// forget drops every series of a revoked identity.
func (m *Metrics) forget(identity string) {
	if m == nil {
		return
	}
	m.exchange.Forget(identity)
	m.teachers.DeletePartialMatch(prometheus.Labels{"teacher": identity})
}
