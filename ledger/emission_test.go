package ledger_test

import (
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/taonet/taonet/ledger"
)

func TestEmission(t *testing.T) {
	const (
		capRao = ledger.Cap
		e0     = ledger.DefaultEmission
		half   = capRao / 2
	)
	// The shift reaches 0 once 2^h > E0: h = 30 for 1 TAO, i.e. once
	// cap - minted <= cap >> 30.
	shiftZeroAt := capRao - capRao>>30
	tests := []struct {
		name               string
		capRao, e0, minted uint64
		want               uint64
	}{
		{"OKGenesis", capRao, e0, 0, e0},
		{"OKOneRaoBeforeFirstHalving", capRao, e0, half - 1, e0},
		{"OKAtFirstHalving", capRao, e0, half, e0 / 2},
		{"OKOneRaoBeforeSecondHalving", capRao, e0, capRao - capRao/4 - 1, e0 / 2},
		{"OKAtSecondHalving", capRao, e0, capRao - capRao/4, e0 / 4},
		{"OKLastRaoOfShift", capRao, e0, shiftZeroAt - 1, 1},
		{"OKShiftReachesZero", capRao, e0, shiftZeroAt, 0},
		{"OKCapMinusOne", capRao, e0, capRao - 1, 0},
		{"OKCapReached", capRao, e0, capRao, 0},
		{"OKBeyondCap", capRao, e0, capRao + 5, 0},
		{"OKRemainderBelowReward", 100, 80, 30, 70},         // h = 0, 80 > 70 left
		{"OKShiftedRewardBelowRemainder", 100, 80, 55, 40},  // h = 1: 40 < 45 left
		{"OKRemainderBelowShiftedReward", 100, 200, 55, 45}, // h = 1: 100 > 45 left
		{"OKOddCap", 7, 8, 3, 4},                            // 7/4 < 2: h = 0, only 4 left
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ledger.Emission(tt.capRao, tt.e0, tt.minted); got != tt.want {
				t.Fatalf("Emission(%d, %d, %d) = %d, want %d", tt.capRao, tt.e0, tt.minted, got, tt.want)
			}
		})
	}
}

// TestEmissionCrossesThreshold runs rounds across the first halving: the
// round that starts one rao short of half the cap still mints E0, and the
// next one mints E0/2.
func TestEmissionCrossesThreshold(t *testing.T) {
	minted := ledger.Cap/2 - 1
	first := ledger.Emission(ledger.Cap, ledger.DefaultEmission, minted)
	if first != ledger.DefaultEmission {
		t.Fatalf("round before the threshold mints %d, want %d", first, ledger.DefaultEmission)
	}
	minted += first
	if got := ledger.Emission(ledger.Cap, ledger.DefaultEmission, minted); got != ledger.DefaultEmission/2 {
		t.Fatalf("round after crossing mints %d, want %d", got, ledger.DefaultEmission/2)
	}
	if got := ledger.NextHalvingAt(ledger.Cap, minted); got != ledger.Cap-ledger.Cap/4 {
		t.Fatalf("next halving at %d, want 75%% of the cap", got)
	}
}

// TestEra compares the integer era with an independent definition:
// floor(log2(x)) == floor(log2(floor(x))) for x >= 1, and floor(log2(n)) of
// an integer is its bit length minus one.
func TestEra(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(capRao, minted uint64) {
		t.Helper()
		r := capRao - minted
		want := uint(bits.Len64(capRao/r) - 1)
		if got := ledger.Era(capRao, minted); got != want {
			t.Fatalf("Era(%d, %d) = %d, want %d", capRao, minted, got, want)
		}
		next := ledger.NextHalvingAt(capRao, minted)
		if next <= minted && next != capRao {
			t.Fatalf("NextHalvingAt(%d, %d) = %d is not ahead", capRao, minted, next)
		}
		if next < capRao && (ledger.Era(capRao, next) != want+1 || ledger.Era(capRao, next-1) != want) {
			t.Fatalf("NextHalvingAt(%d, %d) = %d is not where the era changes", capRao, minted, next)
		}
	}
	for _, c := range []uint64{1, 2, 3, 7, 100, ledger.Cap, 1 << 62, ^uint64(0)} {
		for _, m := range []uint64{0, 1, c / 2, c/2 + 1, c - c/4, c - 1} {
			if m < c {
				check(c, m)
			}
		}
		for range 2000 {
			check(c, rng.Uint64N(c))
		}
	}
	if got := ledger.Era(ledger.Cap, ledger.Cap); got != 64 {
		t.Fatalf("Era at the cap = %d, want 64", got)
	}
	if got := ledger.NextHalvingAt(ledger.Cap, ledger.Cap); got != ledger.Cap {
		t.Fatalf("NextHalvingAt at the cap = %d, want the cap", got)
	}
}
