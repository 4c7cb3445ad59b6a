package coordinator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/ledger"
)

// scoreClasses is the class count of the scoring tests; scoreUniform is
// the loss of uniform guessing over them.
const scoreClasses = 10

var (
	scoreUniform = math.Log(scoreClasses)
	scoreLabels  = []int64{0, 1, 2, 3, 4, 5, 6, 7}
)

// scoreLogits returns logits of m on each row's label and 0 elsewhere.
func scoreLogits(labels []int64, classes int, m float32) *distill.Logits {
	l := &distill.Logits{Classes: classes, Values: make([]float32, len(labels)*classes)}
	for r, y := range labels {
		l.Values[r*classes+int(y)] = m
	}
	return l
}

// scoreNudged returns a copy of l with delta added to one logit that is not
// a label (row 0, class 9), which moves that log-probability by a little
// less than delta.
func scoreNudged(l *distill.Logits, delta float32) *distill.Logits {
	c := &distill.Logits{Classes: l.Classes, Values: slices.Clone(l.Values)}
	c.Values[9] += delta
	return c
}

// scoreShifted returns a copy of l with every logit raised by delta, which
// leaves the log-probabilities as they are (up to rounding).
func scoreShifted(l *distill.Logits, delta float32) *distill.Logits {
	c := &distill.Logits{Classes: l.Classes, Values: slices.Clone(l.Values)}
	for i := range c.Values {
		c.Values[i] += delta
	}
	return c
}

// scoreLoss is the cross-entropy of l on scoreLabels.
func scoreLoss(tb testing.TB, l *distill.Logits) float64 {
	tb.Helper()
	loss, err := distill.CrossEntropy(*l, scoreLabels)
	if err != nil {
		tb.Fatalf("cross-entropy: %v", err)
	}
	return loss
}

// scoreMaxDiff is the largest difference between the log-probabilities of
// a and b.
func scoreMaxDiff(tb testing.TB, a, b *distill.Logits) float64 {
	tb.Helper()
	pa, err := distill.LogSoftmax(*a, 1)
	if err != nil {
		tb.Fatal(err)
	}
	pb, err := distill.LogSoftmax(*b, 1)
	if err != nil {
		tb.Fatal(err)
	}
	d := 0.0
	for i := range pa {
		d = max(d, math.Abs(pa[i]-pb[i]))
	}
	return d
}

// scoreRaw is the documented raw weight of a smoothed loss s.
func scoreRaw(s float64) float64 {
	if s >= scoreUniform {
		return 0
	}
	return (scoreUniform - s) * (scoreUniform - s)
}

func scoreAnswer(id string, order int, l *distill.Logits) coordinator.Answer {
	return coordinator.Answer{Identity: id, Order: order, Logits: l}
}

// scoreWant is the expected judgement of one answer. raw is the expected
// raw weight, normalised over the case; NaN smoothed means none.
type scoreWant struct {
	status   ledger.EvaluationStatus
	loss     float64
	smoothed float64
	raw      float64
}

func scoredAs(loss, smoothed float64, eligible bool) scoreWant {
	w := scoreWant{status: ledger.EvalScored, loss: loss, smoothed: smoothed}
	if eligible {
		w.raw = scoreRaw(smoothed)
	}
	return w
}

func unscoredAs(status ledger.EvaluationStatus, loss, smoothed float64) scoreWant {
	return scoreWant{status: status, loss: loss, smoothed: smoothed}
}

func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*(1+math.Abs(b))
}

// checkScore compares results with want and checks what holds for every
// result: weights sum to 1 (or are all 0), shares follow the weights.
func checkScore(t *testing.T, cfg coordinator.ScoreConfig, answers []coordinator.Answer, got []coordinator.Result, want []scoreWant) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	total := 0.0
	for _, w := range want {
		total += w.raw
	}
	sum := 0.0
	for i, r := range got {
		w := want[i]
		wantWeight := 0.0
		if total > 0 {
			wantWeight = w.raw / total
		}
		if r.Identity != answers[i].Identity || r.Status != w.status || !sameFloat(r.Loss, w.loss) ||
			!sameFloat(r.Smoothed, w.smoothed) || !sameFloat(r.Weight, wantWeight) {
			t.Errorf("result %d = %+v, want %s status %s loss %v smoothed %v weight %v",
				i, r, answers[i].Identity, w.status, w.loss, w.smoothed, wantWeight)
		}
		wantShares := uint64(r.Weight * float64(cfg.ShareScale))
		if r.Weight > 0 && wantShares == 0 {
			wantShares = 1
		}
		if r.Shares != wantShares {
			t.Errorf("%s: %d shares for weight %v, want %d", r.Identity, r.Shares, r.Weight, wantShares)
		}
		sum += r.Weight
	}
	if want := min(total, 1); math.Abs(sum-want) > 1e-12 {
		t.Errorf("weights sum to %v, want %v", sum, want)
	}
}

func TestScore(t *testing.T) {
	nan := math.NaN()
	good, fair, poor := scoreLogits(scoreLabels, scoreClasses, 4), scoreLogits(scoreLabels, scoreClasses, 2), scoreLogits(scoreLabels, scoreClasses, 1)
	lGood, lFair, lPoor := scoreLoss(t, good), scoreLoss(t, fair), scoreLoss(t, poor)
	uniform := scoreLogits(scoreLabels, scoreClasses, 0)
	worse := scoreLogits(scoreLabels, scoreClasses, -1)
	barely := scoreLogits(scoreLabels, scoreClasses, 0.01)
	if l := scoreLoss(t, uniform); l < scoreUniform {
		t.Fatalf("uniform logits score %v, below ln(10) = %v", l, scoreUniform)
	}
	notFinite := scoreLogits(scoreLabels, scoreClasses, 2)
	notFinite.Values[3] = float32(math.Inf(1))
	fewRows := scoreLogits(scoreLabels[:7], scoreClasses, 2)
	fewClasses := scoreLogits(scoreLabels, 8, 2)

	const th = 1e-3
	near, far := scoreNudged(fair, 0.5*th), scoreNudged(fair, 2.5*th)
	chain1, chain2 := scoreNudged(fair, 0.75*th), scoreNudged(fair, 1.5*th)
	for _, c := range []struct {
		name string
		a, b *distill.Logits
		dup  bool
	}{
		{"shifted", fair, scoreShifted(fair, 5), true},
		{"near", fair, near, true},
		{"far", fair, far, false},
		{"chain x-y", fair, chain1, true},
		{"chain y-z", chain1, chain2, true},
		{"chain x-z", fair, chain2, false},
	} {
		if d := scoreMaxDiff(t, c.a, c.b); (d < th) != c.dup {
			t.Fatalf("test data: %s answers differ by %v, want duplicate %v at %v", c.name, d, c.dup, th)
		}
	}
	lFar, lChain2 := scoreLoss(t, far), scoreLoss(t, chain2)

	def := coordinator.DefaultScoreConfig(scoreClasses)
	with := func(edit func(*coordinator.ScoreConfig)) coordinator.ScoreConfig {
		c := def
		edit(&c)
		return c
	}
	tests := []struct {
		name     string
		cfg      coordinator.ScoreConfig
		answers  []coordinator.Answer
		previous map[string]float64
		want     []scoreWant
	}{
		{"OKLowerLossHigherWeight", def,
			[]coordinator.Answer{scoreAnswer("poor", 1, poor), scoreAnswer("good", 2, good), scoreAnswer("fair", 3, fair)}, nil,
			[]scoreWant{scoredAs(lPoor, lPoor, true), scoredAs(lGood, lGood, true), scoredAs(lFair, lFair, true)}},
		{"OKUniformOrWorseGetsNothing", def,
			[]coordinator.Answer{scoreAnswer("uniform", 1, uniform), scoreAnswer("worse", 2, worse), scoreAnswer("barely", 3, barely), scoreAnswer("fair", 4, fair)}, nil,
			[]scoreWant{scoredAs(scoreLoss(t, uniform), scoreLoss(t, uniform), false), scoredAs(scoreLoss(t, worse), scoreLoss(t, worse), false),
				scoredAs(scoreLoss(t, barely), scoreLoss(t, barely), true), scoredAs(lFair, lFair, true)}},
		{"OKTimeoutAndInvalidGetNothing", def,
			[]coordinator.Answer{
				{Identity: "late", Order: 9},
				{Identity: "malformed", Order: 1, Invalid: errors.New("bad dtype")},
				{Identity: "flagged", Order: 2, Invalid: errors.New("NaN"), Logits: good},
				scoreAnswer("inf", 3, notFinite), scoreAnswer("rows", 4, fewRows), scoreAnswer("classes", 5, fewClasses),
				scoreAnswer("fair", 6, fair)},
			map[string]float64{"late": 0.3, "rows": 0.2},
			[]scoreWant{unscoredAs(ledger.EvalTimeout, 0, 0.3), unscoredAs(ledger.EvalInvalid, 0, nan), unscoredAs(ledger.EvalInvalid, 0, nan),
				unscoredAs(ledger.EvalInvalid, 0, nan), unscoredAs(ledger.EvalInvalid, 0, 0.2), unscoredAs(ledger.EvalInvalid, 0, nan),
				scoredAs(lFair, lFair, true)}},
		{"OKNoneEligible", def,
			[]coordinator.Answer{{Identity: "late"}, scoreAnswer("uniform", 1, uniform)}, nil,
			[]scoreWant{unscoredAs(ledger.EvalTimeout, 0, nan), scoredAs(scoreLoss(t, uniform), scoreLoss(t, uniform), false)}},
		{"OKNoAnswers", def, nil, nil, []scoreWant{}},
		{"OKSmoothing", with(func(c *coordinator.ScoreConfig) { c.Smoothing, c.DuplicateThreshold = 0.75, 0 }),
			[]coordinator.Answer{
				scoreAnswer("steady", 1, poor), scoreAnswer("new", 2, poor), scoreAnswer("recovering", 3, good),
				scoreAnswer("hopeless", 4, good), scoreAnswer("slipping", 5, uniform), scoreAnswer("nan", 6, fair), scoreAnswer("negative", 7, fair)},
			map[string]float64{"steady": 0.2, "recovering": 2.6, "hopeless": 10, "slipping": 0.1, "nan": nan, "negative": -1, "absent": 0.5},
			[]scoreWant{
				scoredAs(lPoor, 0.75*0.2+0.25*lPoor, true),
				scoredAs(lPoor, lPoor, true),
				scoredAs(lGood, 0.75*2.6+0.25*lGood, true),                                  // smoothed 1.99 is still below ln(10)
				scoredAs(lGood, 0.75*10+0.25*lGood, false),                                  // smoothed above ln(10)
				scoredAs(scoreLoss(t, uniform), 0.75*0.1+0.25*scoreLoss(t, uniform), false), // this round no better than uniform
				scoredAs(lFair, lFair, true),
				scoredAs(lFair, lFair, true)}},
		{"OKSmoothingZeroUsesThisRound", with(func(c *coordinator.ScoreConfig) { c.Smoothing = 0 }),
			[]coordinator.Answer{scoreAnswer("a", 1, good), scoreAnswer("b", 2, poor)}, map[string]float64{"a": 2, "b": 0.01},
			[]scoreWant{scoredAs(lGood, lGood, true), scoredAs(lPoor, lPoor, true)}},
		{"OKDuplicateEarliestWins", def,
			[]coordinator.Answer{
				scoreAnswer("original", 2, fair), scoreAnswer("earliest", 1, scoreShifted(fair, 5)), scoreAnswer("near", 3, near),
				scoreAnswer("far", 4, far), scoreAnswer("tie-b", 5, good), scoreAnswer("tie-a", 5, good), {Identity: "late", Order: 0}},
			map[string]float64{"original": 0.4},
			[]scoreWant{
				unscoredAs(ledger.EvalDuplicate, lFair, 0.4), scoredAs(lFair, lFair, true), unscoredAs(ledger.EvalDuplicate, scoreLoss(t, near), nan),
				scoredAs(lFar, lFar, true), unscoredAs(ledger.EvalDuplicate, lGood, nan), scoredAs(lGood, lGood, true), unscoredAs(ledger.EvalTimeout, 0, nan)}},
		{"OKDuplicateOnlyOfAPaidAnswer", def,
			[]coordinator.Answer{scoreAnswer("z", 3, chain2), scoreAnswer("y", 2, chain1), scoreAnswer("x", 1, fair)}, nil,
			[]scoreWant{scoredAs(lChain2, lChain2, true), unscoredAs(ledger.EvalDuplicate, scoreLoss(t, chain1), nan), scoredAs(lFair, lFair, true)}},
		{"OKThresholdZeroFindsNone", with(func(c *coordinator.ScoreConfig) { c.DuplicateThreshold = 0 }),
			[]coordinator.Answer{scoreAnswer("a", 1, fair), scoreAnswer("b", 2, fair)}, nil,
			[]scoreWant{scoredAs(lFair, lFair, true), scoredAs(lFair, lFair, true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := coordinator.Score(tt.cfg, scoreLabels, tt.answers, tt.previous)
			if err != nil {
				t.Fatal(err)
			}
			checkScore(t, tt.cfg, tt.answers, got, tt.want)
		})
	}
	t.Run("OKPositiveWeightGetsAShare", func(t *testing.T) {
		cfg := with(func(c *coordinator.ScoreConfig) { c.ShareScale = 3 })
		got, err := coordinator.Score(cfg, scoreLabels, []coordinator.Answer{scoreAnswer("good", 1, good), scoreAnswer("barely", 2, barely)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Shares != 2 || got[1].Shares != 1 || got[1].Weight*3 >= 1 {
			t.Fatalf("shares %d and %d for weights %v and %v; want 2 and 1", got[0].Shares, got[1].Shares, got[0].Weight, got[1].Weight)
		}
	})
}

// scoreRandomAnswers returns n answers with random logits, every fifth a
// copy of an earlier one, and a few timeouts.
func scoreRandomAnswers(rng *rand.Rand, n, rows, classes int) ([]int64, []coordinator.Answer) {
	labels := make([]int64, rows)
	for i := range labels {
		labels[i] = rng.Int64N(int64(classes))
	}
	answers := make([]coordinator.Answer, n)
	for i := range answers {
		answers[i] = coordinator.Answer{Identity: fmt.Sprintf("peer-%03d", i), Order: rng.IntN(n)}
		switch {
		case i%7 == 6:
			continue // timeout
		case i%5 == 4 && answers[i-1].Logits != nil:
			answers[i].Logits = answers[i-1].Logits
			continue
		}
		answers[i].Logits = scoreRandomLogits(rng, labels, classes)
	}
	return labels, answers
}

// scoreRandomLogits returns noisy logits leaning towards the labels by a
// random skill.
func scoreRandomLogits(rng *rand.Rand, labels []int64, classes int) *distill.Logits {
	l := &distill.Logits{Classes: classes, Values: make([]float32, len(labels)*classes)}
	skill := rng.Float32() * 4
	for r, y := range labels {
		for c := range classes {
			l.Values[r*classes+c] = float32(rng.NormFloat64())
		}
		l.Values[r*classes+int(y)] += skill
	}
	return l
}

// TestScoreProperties checks, on random rounds, what must hold whatever
// the answers: the same input gives the same output, the order of the
// answers slice changes nothing, weights sum to 1 and fall as the smoothed
// loss rises, every positive weight has shares, and copies are caught.
func TestScoreProperties(t *testing.T) {
	cfg := coordinator.DefaultScoreConfig(scoreClasses)
	rng := rand.New(rand.NewPCG(3, 5))
	for round := range 10 {
		labels, answers := scoreRandomAnswers(rng, 60, 40, scoreClasses)
		previous := map[string]float64{}
		for _, a := range answers[:20] {
			previous[a.Identity] = rng.Float64() * 3
		}
		got, err := coordinator.Score(cfg, labels, answers, previous)
		if err != nil {
			t.Fatal(err)
		}
		again, err := coordinator.Score(cfg, labels, answers, previous)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("round %d: two runs differ", round)
		}
		perm := rng.Perm(len(answers))
		shuffled := make([]coordinator.Answer, len(answers))
		for i, p := range perm {
			shuffled[i] = answers[p]
		}
		moved, err := coordinator.Score(cfg, labels, shuffled, previous)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range perm {
			if fmt.Sprint(moved[i]) != fmt.Sprint(got[p]) {
				t.Fatalf("round %d: %s scored %+v after shuffling, %+v before", round, got[p].Identity, moved[i], got[p])
			}
		}
		sum, dups, paid := 0.0, 0, 0
		for i, r := range got {
			sum += r.Weight
			if r.Weight > 0 {
				paid++
				if r.Shares == 0 {
					t.Errorf("round %d: %s has weight %v and no shares", round, r.Identity, r.Weight)
				}
			}
			if r.Status == ledger.EvalDuplicate {
				dups++
			}
			for _, o := range got[i+1:] {
				if r.Weight > 0 && o.Weight > 0 && (r.Smoothed < o.Smoothed) != (r.Weight > o.Weight) {
					t.Errorf("round %d: %s (smoothed %v) weighs %v, %s (smoothed %v) %v", round, r.Identity, r.Smoothed, r.Weight, o.Identity, o.Smoothed, o.Weight)
				}
			}
		}
		if paid == 0 || math.Abs(sum-1) > 1e-12 {
			t.Fatalf("round %d: %d paid, weights sum to %v", round, paid, sum)
		}
		if dups < 8 { // every fifth answer copies the one before
			t.Fatalf("round %d: %d duplicates found, want at least 8", round, dups)
		}
	}
}

// TestScoreRemember feeds each round's Smoothed back as the next round's
// previous values, as the scheduler does, NaN included.
func TestScoreRemember(t *testing.T) {
	cfg := coordinator.DefaultScoreConfig(scoreClasses)
	fair := scoreLogits(scoreLabels, scoreClasses, 2)
	good := scoreLogits(scoreLabels, scoreClasses, 4)
	lFair, lGood := scoreLoss(t, fair), scoreLoss(t, good)
	remembered := map[string]float64{}
	rounds := [][]coordinator.Answer{
		{{Identity: "a"}, scoreAnswer("b", 1, fair)},
		{scoreAnswer("a", 1, good), {Identity: "b"}},
		{scoreAnswer("a", 1, fair), scoreAnswer("b", 2, good)},
	}
	for _, answers := range rounds {
		got, err := coordinator.Score(cfg, scoreLabels, answers, remembered)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			remembered[r.Identity] = r.Smoothed
		}
	}
	if want := 0.5*lGood + 0.5*lFair; !sameFloat(remembered["a"], want) {
		t.Errorf("a remembers %v, want %v (a timeout first leaves no history)", remembered["a"], want)
	}
	if want := 0.5*lFair + 0.5*lGood; !sameFloat(remembered["b"], want) {
		t.Errorf("b remembers %v, want %v (a timeout keeps the history)", remembered["b"], want)
	}
}

func TestScoreErrors(t *testing.T) {
	def := coordinator.DefaultScoreConfig(scoreClasses)
	answers := []coordinator.Answer{scoreAnswer("a", 1, scoreLogits(scoreLabels, scoreClasses, 2))}
	tests := []struct {
		name   string
		edit   func(*coordinator.ScoreConfig)
		labels []int64
	}{
		{"ErrOneClass", func(c *coordinator.ScoreConfig) { c.Classes = 1 }, scoreLabels},
		{"ErrSmoothingOne", func(c *coordinator.ScoreConfig) { c.Smoothing = 1 }, scoreLabels},
		{"ErrSmoothingNegative", func(c *coordinator.ScoreConfig) { c.Smoothing = -0.1 }, scoreLabels},
		{"ErrSmoothingNaN", func(c *coordinator.ScoreConfig) { c.Smoothing = math.NaN() }, scoreLabels},
		{"ErrThresholdNegative", func(c *coordinator.ScoreConfig) { c.DuplicateThreshold = -1e-3 }, scoreLabels},
		{"ErrThresholdNaN", func(c *coordinator.ScoreConfig) { c.DuplicateThreshold = math.NaN() }, scoreLabels},
		{"ErrThresholdInfinite", func(c *coordinator.ScoreConfig) { c.DuplicateThreshold = math.Inf(1) }, scoreLabels},
		{"ErrShareScaleZero", func(c *coordinator.ScoreConfig) { c.ShareScale = 0 }, scoreLabels},
		{"ErrShareScaleHuge", func(c *coordinator.ScoreConfig) { c.ShareScale = 1<<53 + 1 }, scoreLabels},
		{"ErrNoLabels", nil, nil},
		{"ErrLabelTooLarge", nil, []int64{0, 1, 2, 3, 4, 5, 6, scoreClasses}},
		{"ErrLabelNegative", nil, []int64{0, 1, 2, 3, 4, 5, 6, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := def
			if tt.edit != nil {
				tt.edit(&cfg)
				if cfg.Validate() == nil {
					t.Fatalf("validate accepted %+v", cfg)
				}
			}
			if got, err := coordinator.Score(cfg, tt.labels, answers, nil); err == nil {
				t.Fatalf("score accepted: %+v", got)
			}
		})
	}
	t.Run("OKDefault", func(t *testing.T) {
		if err := def.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := coordinator.Score(def, scoreLabels, answers, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestValidationSample(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	other := bytes.Clone(seed)
	other[31] ^= 1
	pool := make([]int, 1000)
	for i := range pool {
		pool[i] = 3 * i
	}
	t.Run("OK", func(t *testing.T) {
		before := slices.Clone(pool)
		got, err := coordinator.ValidationSample(seed, pool, 100)
		if err != nil {
			t.Fatal(err)
		}
		again, err := coordinator.ValidationSample(bytes.Clone(seed), before, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, again) {
			t.Fatal("the same seed drew two samples")
		}
		if !slices.Equal(pool, before) {
			t.Fatal("the pool was changed")
		}
		seen := map[int]bool{}
		for _, x := range got {
			if x%3 != 0 || x < 0 || x >= 3000 || seen[x] {
				t.Fatalf("%d is repeated or not from the pool: %v", x, got)
			}
			seen[x] = true
		}
		if len(got) != 100 {
			t.Fatalf("%d drawn, want 100", len(got))
		}
		moved, err := coordinator.ValidationSample(other, pool, 100)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, moved) {
			t.Fatal("another seed drew the same sample")
		}
	})
	t.Run("OKWholePool", func(t *testing.T) {
		got, err := coordinator.ValidationSample(seed, pool[:50], 50)
		if err != nil {
			t.Fatal(err)
		}
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		if !slices.Equal(sorted, pool[:50]) || slices.Equal(got, pool[:50]) {
			t.Fatalf("whole pool drawn as %v, want a shuffle of it", got)
		}
		if none, err := coordinator.ValidationSample(seed, pool, 0); err != nil || len(none) != 0 {
			t.Fatalf("nothing drawn as %v, %v", none, err)
		}
	})
	t.Run("OKStable", func(t *testing.T) {
		// Anyone auditing a round redraws its sample from the revealed
		// seed, so the draw must not change between versions.
		got, err := coordinator.ValidationSample(seed, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 6)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{11, 10, 4, 9, 6, 2}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sample = %v, want %v", got, want)
		}
	})
	for _, tt := range []struct {
		name string
		seed []byte
		pool []int
		n    int
	}{
		{"ErrShortSeed", seed[:31], pool, 1},
		{"ErrLongSeed", append(bytes.Clone(seed), 0), pool, 1},
		{"ErrTooMany", seed, pool[:3], 4},
		{"ErrNegativeCount", seed, pool, -1},
		{"ErrRepeatedIndex", seed, []int{1, 2, 1}, 1},
		{"ErrNegativeIndex", seed, []int{1, -2, 3}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := coordinator.ValidationSample(tt.seed, tt.pool, tt.n); err == nil {
				t.Fatalf("drew %v", got)
			}
		})
	}
}

func TestNewValidationSeed(t *testing.T) {
	ctx := context.Background()
	seed, hash, err := coordinator.NewValidationSeed()
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(seed); len(seed) != 32 || !bytes.Equal(hash, sum[:]) {
		t.Fatalf("seed %x, hash %x", seed, hash)
	}
	seed2, _, err := coordinator.NewValidationSeed()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(seed, seed2) {
		t.Fatal("two seeds are equal")
	}
	db, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "taonet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testdata.RoundSigner(t, db, testTD)
	if err := db.OpenRound(ctx, 1, 1, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Settle(ctx, 1, seed2, nil); ledger.ErrorCodeOf(err) != ledger.EINVALID {
		t.Fatalf("settle with another seed: %v, want EINVALID", err)
	}
	if _, err := db.Settle(ctx, 1, seed, nil); err != nil {
		t.Fatalf("settle with the seed: %v", err)
	}
}

// BenchmarkScore scores 500 answers of 500 rows of 10 classes: all
// different, all copies of one, and 50 groups of 10 copies. Duplicate
// detection compares few pairs in full, so the three take about as long.
func BenchmarkScore(b *testing.B) {
	const n, rows = 500, 500
	rng := rand.New(rand.NewPCG(1, 2))
	labels, _ := scoreRandomAnswers(rng, 0, rows, scoreClasses)
	distinct := make([]coordinator.Answer, n)
	for i := range distinct {
		distinct[i] = scoreAnswer(fmt.Sprintf("peer-%03d", i), rng.IntN(n), scoreRandomLogits(rng, labels, scoreClasses))
	}
	copies := slices.Clone(distinct)
	groups := slices.Clone(distinct)
	for i := range distinct {
		copies[i].Logits = scoreShifted(distinct[0].Logits, float32(i%3))
		groups[i].Logits = scoreShifted(distinct[i/10].Logits, float32(i%3))
	}
	cfg := coordinator.DefaultScoreConfig(scoreClasses)
	for _, bc := range []struct {
		name    string
		answers []coordinator.Answer
	}{{"Distinct", distinct}, {"Copies", copies}, {"Groups", groups}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := coordinator.Score(cfg, labels, bc.answers, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
