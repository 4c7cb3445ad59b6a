package distill_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill"
)

// balanced is a pool of n examples with labels cycling over 10 classes.
func balanced(n int) ([]int, []byte) {
	pool := make([]int, n)
	labels := make([]byte, n)
	for i := range pool {
		pool[i] = i
		labels[i] = byte(i % 10)
	}
	return pool, labels
}

func TestPartition(t *testing.T) {
	pool, labels := balanced(5000)
	t.Run("OK/deterministic", func(t *testing.T) {
		a, err := distill.Partition(pool, labels, 10, 8, 0.3, 42)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := distill.Partition(pool, labels, 10, 8, 0.3, 42)
		c, _ := distill.Partition(pool, labels, 10, 8, 0.3, 43)
		d, _ := distill.Partition(pool, labels, 10, 9, 0.3, 42)
		if !slices.EqualFunc(a, b, slices.Equal) {
			t.Fatal("same (seed, n) gave different shards")
		}
		if slices.EqualFunc(a, c, slices.Equal) || slices.Equal(a[0], d[0]) {
			t.Fatal("another seed or peer count gave the same shards")
		}
	})
	t.Run("OK/disjoint-cover", func(t *testing.T) {
		shards, err := distill.Partition(pool, labels, 10, 10, 0.1, 7)
		if err != nil {
			t.Fatal(err)
		}
		var all []int
		for i, s := range shards {
			if len(s) < distill.MinShard {
				t.Errorf("shard %d has %d examples", i, len(s))
			}
			if !slices.IsSorted(s) {
				t.Errorf("shard %d is not sorted", i)
			}
			all = append(all, s...)
		}
		slices.Sort(all)
		if !slices.Equal(all, pool) {
			t.Fatalf("shards hold %d examples (with repeats or gaps), pool %d", len(all), len(pool))
		}
	})
	// dominant is the mean over shards of the share of a shard's most
	// frequent class: 0.1 for a perfectly even mix, 1 for one class each.
	dominant := func(shards [][]int) float64 {
		sum := 0.0
		for _, s := range shards {
			var count [10]int
			for _, i := range s {
				count[labels[i]]++
			}
			sum += float64(slices.Max(count[:])) / float64(len(s))
		}
		return sum / float64(len(shards))
	}
	for _, tc := range []struct {
		name     string
		alpha    float64
		min, max float64
	}{
		{"OK/skewed-alpha-0.1", 0.1, 0.5, 1},
		{"OK/even-alpha-1000", 1000, 0.1, 0.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := 0.0
			for seed := range uint64(5) {
				shards, err := distill.Partition(pool, labels, 10, 10, tc.alpha, seed)
				if err != nil {
					t.Fatal(err)
				}
				got += dominant(shards) / 5
			}
			if got < tc.min || got > tc.max {
				t.Fatalf("dominant-class share %.3f, want in [%v, %v]", got, tc.min, tc.max)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		n     int
		alpha float64
		pool  []int
	}{
		{"ErrNoPeers", 0, 1, pool},
		{"ErrAlphaZero", 3, 0, pool},
		{"ErrAlphaNaN", 3, math.NaN(), pool},
		{"ErrTooFew", 10, 1, pool[:99]},
		{"ErrBadIndex", 2, 1, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 99999}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := distill.Partition(tc.pool, labels, 10, tc.n, tc.alpha, 1); err == nil {
				t.Fatal("no error")
			}
		})
	}
	t.Run("ErrNoClasses", func(t *testing.T) {
		if _, err := distill.Partition(pool, labels, -1, 2, 1, 1); err == nil || !strings.Contains(err.Error(), "classes") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrDuplicateIndex", func(t *testing.T) {
		dup := append(slices.Clone(pool[:40]), pool[3])
		if _, err := distill.Partition(dup, labels, 10, 2, 1, 1); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestGamma(t *testing.T) {
	for _, shape := range []float64{0.1, 0.5, 1, 2.5, 10} {
		t.Run("OK", func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 40000
			var sum, sq float64
			for range n {
				g := distill.Gamma(rng, shape)
				if g < 0 || math.IsNaN(g) {
					t.Fatalf("draw %v", g)
				}
				sum += g
				sq += g * g
			}
			mean := sum / n
			variance := sq/n - mean*mean
			// Gamma(k, 1) has mean k and variance k.
			if math.Abs(mean-shape) > 0.05*shape+0.01 || math.Abs(variance-shape) > 0.1*shape+0.01 {
				t.Fatalf("shape %v: mean %.4f variance %.4f", shape, mean, variance)
			}
		})
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i, n int
		ok   bool
	}{{"0/10", 0, 10, true}, {"9/10", 9, 10, true}, {"10/10", 0, 0, false}, {"-1/3", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}, {"0/0", 0, 0, false}} {
		i, n, err := distill.ParseShard(tc.in)
		if (err == nil) != tc.ok || i != tc.i || n != tc.n {
			t.Errorf("%q: got %d/%d, %v", tc.in, i, n, err)
		}
	}
}
