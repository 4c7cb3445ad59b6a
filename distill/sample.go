package distill

import (
	"math/bits"
	"math/rand/v2"
	"slices"
)

// transferStream is the PCG stream of TransferSample ("transfer" in
// ASCII), so that the same round seed used elsewhere draws other numbers.
const transferStream = 0x7472616e73666572

// TransferSample draws the round's transfer sample: n entries of pool,
// in draw order, the same for every party that knows seed. It is a partial
// Fisher-Yates shuffle of a copy of pool: position i is swapped with
// i + uniform(len(pool) - i), where uniform(m) is Lemire's multiply-and-
// reject reduction of the Uint64 outputs of a PCG-DXSM generator seeded
// with (seed, 0x7472616e73666572). The reduction is written here, not
// taken from math/rand/v2's Rand methods, so that peers built with
// different Go releases agree.
//
// The entries are distinct positions of pool, so distinct entries of pool
// give distinct indices. n is clamped to [0, len(pool)]; pool is not
// changed.
func TransferSample(seed uint64, pool []int, n int) []int {
	n = max(0, min(n, len(pool)))
	src := rand.NewPCG(seed, transferStream)
	p := slices.Clone(pool)
	for i := range n {
		j := i + int(uniform(src, uint64(len(p)-i)))
		p[i], p[j] = p[j], p[i]
	}
	return p[:n:n]
}

// uniform returns a uniform value in [0, m) for m > 0 (Lemire, "Fast
// random integer generation in an interval", 2019).
func uniform(src *rand.PCG, m uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), m)
	if lo < m {
		threshold := -m % m
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), m)
		}
	}
	return hi
}
