package coordinator

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	mathrand "math/rand/v2"
	"slices"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/ledger"
)

// uniformMargin is how far below ln(Classes) a loss must be to count as
// better than uniform guessing (float rounding puts uniform answers a hair
// below it).
const uniformMargin = 1e-6

// maxShareScale keeps every share an exact float64 product and far below
// the ledger's limit of MaxInt64 shares per evaluation.
const maxShareScale = 1 << 53

// ScoreConfig configures Score. DefaultScoreConfig fills every field;
// Validate names the value it refuses.
type ScoreConfig struct {
	// Classes is the number of classes of the network's task, at least 2.
	// ln(Classes) is the loss of uniform guessing: a peer at or above it
	// earns nothing.
	Classes int
	// Smoothing is the factor beta in [0, 1) of the moving average of each
	// peer's loss across rounds: smoothed = beta*previous + (1-beta)*loss;
	// a peer with no previous value starts at its loss. 0 keeps no history.
	Smoothing float64
	// DuplicateThreshold: two answers are the same when the largest
	// absolute difference between their log-probabilities, over every row
	// and class, is below it. Finite and non-negative; 0 finds none.
	DuplicateThreshold float64
	// ShareScale turns weights into integer shares: floor(weight *
	// ShareScale). In [1, 2^53].
	ShareScale uint64
}

// DefaultScoreConfig returns the defaults for a task of classes classes:
// smoothing 0.5 (a round's loss counts as much as all earlier ones),
// duplicate threshold 1e-3 (far above the float32 rounding of two runs of
// one model, far below the difference between two trained models) and
// 10^9 shares for a weight of 1.
func DefaultScoreConfig(classes int) ScoreConfig {
	return ScoreConfig{Classes: classes, Smoothing: 0.5, DuplicateThreshold: 1e-3, ShareScale: 1_000_000_000}
}

// Validate checks every field.
func (c ScoreConfig) Validate() error {
	var errs []error
	if c.Classes < 2 {
		errs = append(errs, fmt.Errorf("classes %d must be at least 2", c.Classes))
	}
	if !(c.Smoothing >= 0 && c.Smoothing < 1) {
		errs = append(errs, fmt.Errorf("smoothing %v must be in [0, 1)", c.Smoothing))
	}
	if !(c.DuplicateThreshold >= 0) || math.IsInf(c.DuplicateThreshold, 0) {
		errs = append(errs, fmt.Errorf("duplicate threshold %v must be finite and non-negative", c.DuplicateThreshold))
	}
	if c.ShareScale < 1 || c.ShareScale > maxShareScale {
		errs = append(errs, fmt.Errorf("share scale %d must be in [1, 2^53]", c.ShareScale))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("score config: %w", err)
	}
	return nil
}

// Answer is one peer's answer to the round's validation inputs.
type Answer struct {
	// Identity is the peer's SPIFFE ID.
	Identity string
	// Logits are the peer's outputs, one row per label; nil when the peer
	// did not answer in time.
	Logits *distill.Logits
	// Invalid, when not nil, says why the answer was malformed or not
	// finite on the wire.
	Invalid error
	// Order is the arrival order: lower arrived earlier.
	Order int
}

// Result is how Score judged one answer.
type Result struct {
	Identity string
	// Loss and Accuracy are this round's cross-entropy and accuracy; 0 for
	// a timeout or an invalid answer.
	Loss     float64
	Accuracy float64
	// Weight is the peer's share of the round, summing to 1 over the paid
	// peers; Shares is its integer form for ledger.Settle.
	Weight float64
	Shares uint64
	Status ledger.EvaluationStatus
	// Smoothed is the smoothed loss to remember for the next round. Only a
	// scored answer moves it; otherwise it is the previous value, or NaN
	// when there was none. Score reads a NaN previous value as none, so the
	// caller may store Smoothed as it comes.
	Smoothed float64
}

// Score judges one round's answers against the validation labels
// (docs/design.md "A round", step 4) and returns one Result per answer, in the
// order of answers. The results depend on the answers' Order and Identity,
// never on their place in the slice.
//
// An answer without logits is a timeout; one with Invalid set, or whose
// logits distill.CrossEntropy refuses (wrong classes or rows, not finite),
// is invalid. Both score 0 and keep their previous smoothed loss. The
// others are scored by distill.CrossEntropy and distill.Accuracy, except
// that of near-identical answers only the earliest is scored and the rest
// are duplicates (see markDuplicates); a duplicate's loss and accuracy are
// reported, but it is paid nothing and, not being its own work, keeps its
// previous smoothed loss.
//
// Weights: with u = ln(Classes) and s a scored peer's new smoothed loss,
// the peer's raw weight is (u - s)^2 when s < u and this round's loss is
// below u (both by at least 1e-6, so that uniform guessing with rounding
// errors earns nothing), and 0 otherwise; weights are the raw weights divided by their
// sum (all 0 when the sum is 0). The square is zero at uniform guessing,
// so nothing jumps at the boundary, and it strictly decreases in the loss
// below it, favouring better models more than a linear margin would, with
// no scale to tune. Shares are floor(weight * ShareScale), at least 1 for
// a positive weight.
//
// Errors: an invalid cfg; labels that are empty or outside [0, Classes).
func Score(cfg ScoreConfig, labels []int64, answers []Answer, previous map[string]float64) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	if len(labels) == 0 {
		return nil, errors.New("score: no labels")
	}
	for i, y := range labels {
		if y < 0 || y >= int64(cfg.Classes) {
			return nil, fmt.Errorf("score: label %d is %d, not in [0, %d)", i, y, cfg.Classes)
		}
	}
	results := make([]Result, len(answers))
	lps := make([][]float64, len(answers))
	for i, a := range answers {
		results[i], lps[i] = judge(cfg.Classes, labels, a)
		results[i].Smoothed = math.NaN()
		if prev, ok := previous[a.Identity]; ok && prev >= 0 && !math.IsInf(prev, 0) {
			results[i].Smoothed = prev
		}
	}
	markDuplicates(cfg.DuplicateThreshold, answers, lps, results)
	for i := range results {
		r := &results[i]
		if r.Status != ledger.EvalScored {
			continue
		}
		if math.IsNaN(r.Smoothed) {
			r.Smoothed = r.Loss
		} else {
			r.Smoothed = cfg.Smoothing*r.Smoothed + (1-cfg.Smoothing)*r.Loss
		}
	}
	assignWeights(cfg, results)
	return results, nil
}

// judge scores one answer on its own, leaving Smoothed and duplicates to
// Score. It also returns the answer's log-probabilities (nil unless
// scored), which the duplicate check reuses: computing them is most of
// Score's time.
func judge(classes int, labels []int64, a Answer) (Result, []float64) {
	r := Result{Identity: a.Identity, Status: ledger.EvalInvalid}
	switch {
	case a.Invalid != nil:
		return r, nil
	case a.Logits == nil:
		r.Status = ledger.EvalTimeout
		return r, nil
	case a.Logits.Classes != classes || a.Logits.Rows() != len(labels) || len(a.Logits.Values)%classes != 0:
		return r, nil
	}
	lp, err := distill.LogSoftmax(*a.Logits, 1)
	if err != nil {
		return r, nil
	}
	loss := 0.0
	for row, y := range labels {
		loss -= lp[row*classes+int(y)]
	}
	loss /= float64(len(labels))
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return r, nil
	}
	acc, err := distill.Accuracy(*a.Logits, labels)
	if err != nil {
		return r, nil
	}
	return Result{Identity: a.Identity, Loss: loss, Accuracy: acc, Status: ledger.EvalScored}, lp
}

// markDuplicates turns into duplicates the scored answers that are within
// threshold of an earlier scored answer that is not itself a duplicate.
// Answers are taken in arrival order (Order, then Identity), so a copier
// must answer after its original, and an answer is only ever a duplicate
// of one it is itself near-identical to: chains of small differences do
// not add up.
//
// Comparing every pair would cost O(n^2 * size). Instead each kept answer
// is filed by a signature, the mean of its log-probabilities, which moves
// by less than the threshold between near-identical answers (the mean of
// differences is at most their maximum); an answer is compared in full
// only with kept answers whose signature lies within the threshold of its
// own, and a full comparison stops at the first entry that differs.
func markDuplicates(threshold float64, answers []Answer, lps [][]float64, results []Result) {
	if threshold == 0 {
		return
	}
	var order []int
	for i := range answers {
		if results[i].Status == ledger.EvalScored {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(i, j int) int {
		return cmp.Or(cmp.Compare(answers[i].Order, answers[j].Order), cmp.Compare(answers[i].Identity, answers[j].Identity), cmp.Compare(i, j))
	})
	type kept struct {
		sig float64
		lp  []float64
	}
	var byFirst []kept // sorted by sig
	for _, i := range order {
		lp := lps[i]
		sig := 0.0
		for _, v := range lp {
			sig += v
		}
		sig /= float64(len(lp))
		// The slack covers the rounding of the two means.
		window := threshold + 1e-9*(1+math.Abs(sig))
		from, _ := slices.BinarySearchFunc(byFirst, sig-window, func(k kept, s float64) int { return cmp.Compare(k.sig, s) })
		dup := false
		for _, k := range byFirst[from:] {
			if k.sig > sig+window {
				break
			}
			if nearIdentical(k.lp, lp, threshold) {
				dup = true
				break
			}
		}
		if dup {
			results[i].Status = ledger.EvalDuplicate
			continue
		}
		at, _ := slices.BinarySearchFunc(byFirst, sig, func(k kept, s float64) int { return cmp.Compare(k.sig, s) })
		byFirst = slices.Insert(byFirst, at, kept{sig: sig, lp: lp})
	}
}

// nearIdentical reports whether every |a[i] - b[i]| is below threshold.
func nearIdentical(a, b []float64, threshold float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !(math.Abs(a[i]-b[i]) < threshold) {
			return false
		}
	}
	return true
}

// assignWeights sets Weight and Shares from the smoothed losses, as Score
// documents. The raw weights are summed in identity order so that the
// result does not depend on the order of answers.
func assignWeights(cfg ScoreConfig, results []Result) {
	uniform := math.Log(float64(cfg.Classes))
	// Uniform guessing, all logits equal, averages ln(Classes) less a
	// rounding error of about 1e-14 over a few hundred rows; the margin
	// keeps it from earning a share.
	eligible := uniform - uniformMargin
	raw := make([]float64, len(results))
	byID := make([]int, 0, len(results))
	for i, r := range results {
		if r.Status != ledger.EvalScored || r.Loss >= eligible || r.Smoothed >= eligible {
			continue
		}
		d := uniform - r.Smoothed
		raw[i] = d * d
		byID = append(byID, i)
	}
	slices.SortFunc(byID, func(i, j int) int {
		return cmp.Or(cmp.Compare(results[i].Identity, results[j].Identity), cmp.Compare(i, j))
	})
	total := 0.0
	for _, i := range byID {
		total += raw[i]
	}
	if !(total > 0) {
		return
	}
	for _, i := range byID {
		w := raw[i] / total
		results[i].Weight = w
		if w > 0 {
			results[i].Shares = max(uint64(w*float64(cfg.ShareScale)), 1)
		}
	}
}

// NewValidationSeed returns a fresh secret validation seed, 32 bytes from
// crypto/rand, and its SHA-256: the hash is published when a round opens
// and ledger.Settle checks the seed against it. Errors: the system's random
// source failed.
func NewValidationSeed() (seed, hash []byte, err error) {
	seed = make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, fmt.Errorf("validation seed: %w", err)
	}
	sum := sha256.Sum256(seed)
	return seed, sum[:], nil
}

// ValidationSample draws n distinct entries of pool, in draw order, as
// anyone holding the revealed seed can repeat: a partial Fisher-Yates
// shuffle of a copy of pool, position i swapped with i + Uint64N(len-i) of
// a math/rand/v2 Rand over ChaCha8 keyed with the 32-byte seed. pool is not
// changed. Errors: a seed that is not 32 bytes; n outside [0, len(pool)];
// a negative or repeated entry in pool.
func ValidationSample(seed []byte, pool []int, n int) ([]int, error) {
	if len(seed) != 32 {
		return nil, fmt.Errorf("validation sample: seed is %d bytes, want 32", len(seed))
	}
	if n < 0 || n > len(pool) {
		return nil, fmt.Errorf("validation sample: %d items from a pool of %d", n, len(pool))
	}
	seen := make(map[int]bool, len(pool))
	for _, x := range pool {
		if x < 0 || seen[x] {
			return nil, fmt.Errorf("validation sample: pool index %d is negative or repeated", x)
		}
		seen[x] = true
	}
	rng := mathrand.New(mathrand.NewChaCha8([32]byte(seed)))
	p := slices.Clone(pool)
	for i := range n {
		j := i + int(rng.Uint64N(uint64(len(p)-i)))
		p[i], p[j] = p[j], p[i]
	}
	return p[:n], nil
}
