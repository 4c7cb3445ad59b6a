package distill

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// MinShard is the fewest examples Partition leaves any peer; a Dirichlet
// draw that gives a peer fewer is drawn again (deterministically).
const MinShard = 10

// maxDraws bounds the redraws of Partition before it gives up.
const maxDraws = 1000

// Partition splits pool (indices into a dataset whose labels are labels)
// among n peers with a Dirichlet(alpha) label skew: for every class, the
// class's examples are shuffled and cut in proportions drawn from
// Dirichlet(alpha, ..., alpha) over the peers. Small alpha (0.1) gives each
// peer a few dominant classes; large alpha (100) nearly the same mix for
// all. The result depends only on (seed, n, alpha, pool, labels): every
// party computes the same shards, which are disjoint, cover the pool and
// each hold at least MinShard examples, in ascending order.
func Partition(pool []int, labels []byte, classes, n int, alpha float64, seed uint64) ([][]int, error) {
	switch {
	case classes < 1:
		return nil, fmt.Errorf("partition: %d classes", classes)
	case n < 1:
		return nil, fmt.Errorf("partition: %d peers", n)
	case !(alpha > 0) || math.IsInf(alpha, 0):
		return nil, fmt.Errorf("partition: alpha %v is not positive", alpha)
	case len(pool) < n*MinShard:
		return nil, fmt.Errorf("partition: %d examples are too few for %d peers of at least %d", len(pool), n, MinShard)
	}
	byClass := make([][]int, classes)
	seen := make([]bool, len(labels))
	for _, i := range pool {
		if i < 0 || i >= len(labels) || int(labels[i]) >= classes {
			return nil, fmt.Errorf("partition: pool index %d has no valid label", i)
		}
		if seen[i] {
			return nil, fmt.Errorf("partition: pool index %d appears twice", i)
		}
		seen[i] = true
		byClass[labels[i]] = append(byClass[labels[i]], i)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	for range maxDraws {
		shards := draw(rng, byClass, n, alpha)
		if slices.IndexFunc(shards, func(s []int) bool { return len(s) < MinShard }) < 0 {
			for _, s := range shards {
				slices.Sort(s)
			}
			return shards, nil
		}
	}
	return nil, fmt.Errorf("partition: no draw in %d gave every one of %d peers %d examples (alpha %v)", maxDraws, n, MinShard, alpha)
}

// draw makes one Dirichlet label-skew assignment.
func draw(rng *rand.Rand, byClass [][]int, n int, alpha float64) [][]int {
	shards := make([][]int, n)
	for _, members := range byClass {
		idx := slices.Clone(members)
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		p := dirichlet(rng, n, alpha)
		start, acc := 0, 0.0
		for j := range n {
			acc += p[j]
			end := int(math.Round(acc * float64(len(idx))))
			if j == n-1 {
				end = len(idx)
			}
			end = max(end, start)
			shards[j] = append(shards[j], idx[start:end]...)
			start = end
		}
	}
	return shards
}

// dirichlet draws n proportions from Dirichlet(alpha, ..., alpha).
func dirichlet(rng *rand.Rand, n int, alpha float64) []float64 {
	for {
		p := make([]float64, n)
		sum := 0.0
		for j := range p {
			p[j] = Gamma(rng, alpha)
			sum += p[j]
		}
		if sum > 0 && !math.IsInf(sum, 0) {
			for j := range p {
				p[j] /= sum
			}
			return p
		}
	}
}

// Gamma draws from Gamma(shape, 1) by Marsaglia and Tsang's method
// ("A simple method for generating gamma variables", 2000), boosting
// shapes below 1 with U^(1/shape).
func Gamma(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return Gamma(rng, shape+1) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// ParseShard parses "i/n" (0 <= i < n) as used by `peer train --shard`.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 <= i < n", s)
	}
	return i, n, nil
}
