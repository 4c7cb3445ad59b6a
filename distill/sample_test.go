package distill_test

import (
	"slices"
	"testing"

	"github.com/taonet/taonet/distill"
)

func sampleSpan(from, to int) []int {
	s := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestTransferSample(t *testing.T) {
	pool := sampleSpan(1000, 1100)
	t.Run("OKDeterministic", func(t *testing.T) {
		a, b := distill.TransferSample(7, pool, 40), distill.TransferSample(7, slices.Clone(pool), 40)
		if !slices.Equal(a, b) {
			t.Fatalf("same seed, different samples:\n%v\n%v", a, b)
		}
		if c := distill.TransferSample(8, pool, 40); slices.Equal(a, c) {
			t.Fatal("seeds 7 and 8 drew the same sample")
		}
	})
	t.Run("OKPinned", func(t *testing.T) {
		// Every peer must draw the same indices whatever Go release built
		// it: a change here breaks rounds between old and new peers.
		for _, c := range []struct {
			seed uint64
			want []int
		}{
			{1, []int{1049, 1041, 1072, 1052, 1091, 1022, 1006, 1061}},
			{42, []int{1042, 1073, 1065, 1058, 1007, 1064, 1082, 1072}},
		} {
			if got := distill.TransferSample(c.seed, pool, 8); !slices.Equal(got, c.want) {
				t.Errorf("seed %d: %v, want %v", c.seed, got, c.want)
			}
		}
	})
	t.Run("OKDistinctFromPool", func(t *testing.T) {
		before := slices.Clone(pool)
		got := distill.TransferSample(3, pool, len(pool))
		if !slices.Equal(pool, before) {
			t.Fatal("the pool was changed")
		}
		sorted := slices.Sorted(slices.Values(got))
		if !slices.Equal(sorted, pool) {
			t.Fatalf("a full sample is not a permutation of the pool: %v", got)
		}
		if slices.Equal(got, pool) {
			t.Fatal("a full sample kept the pool's order")
		}
	})
	t.Run("OKPrefixOfLarger", func(t *testing.T) {
		// A smaller sample is the start of a larger one of the same seed.
		small, large := distill.TransferSample(9, pool, 10), distill.TransferSample(9, pool, 50)
		if !slices.Equal(small, large[:10]) {
			t.Fatalf("%v is not the start of %v", small, large)
		}
	})
	t.Run("OKClamped", func(t *testing.T) {
		if got := distill.TransferSample(1, pool, 500); len(got) != len(pool) {
			t.Fatalf("n over the pool: %d entries, want %d", len(got), len(pool))
		}
		if got := distill.TransferSample(1, pool, -3); len(got) != 0 {
			t.Fatalf("negative n: %v", got)
		}
		if got := distill.TransferSample(1, nil, 5); len(got) != 0 {
			t.Fatalf("empty pool: %v", got)
		}
	})
	t.Run("OKUniform", func(t *testing.T) {
		// The first draw over 4,000 seeds lands on each of 10 entries about
		// 400 times; 300..500 is over 5 standard deviations wide.
		small := sampleSpan(0, 10)
		counts := make([]int, 10)
		for seed := range uint64(4000) {
			counts[distill.TransferSample(seed, small, 1)[0]]++
		}
		for i, c := range counts {
			if c < 300 || c > 500 {
				t.Fatalf("entry %d drawn first %d times of 4000: %v", i, c, counts)
			}
		}
	})
}
