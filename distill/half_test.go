package distill_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taonet/taonet/distill"
)

// format describes a binary floating-point format narrower than float32,
// with the converters under test and what a reference needs to know.
type format struct {
	name   string
	narrow func(float32) uint16
	widen  func(uint16) float32
	mant   int     // stored mantissa bits
	emin   int     // exponent of the smallest normal
	max    float64 // largest finite value
	expBit uint16  // exponent mask
	quiet  uint16  // quiet bit of a NaN
}

var formats = []format{
	{"Float16", distill.Float32ToFloat16, distill.Float16ToFloat32, 10, -14, 65504, 0x7c00, 0x0200},
	{"BFloat16", distill.Float32ToBFloat16, distill.BFloat16ToFloat32, 7, -126, 0x1.fep127, 0x7f80, 0x0040},
}

func (f format) isNaN(h uint16) bool {
	return h&f.expBit == f.expBit && h&^(f.expBit|0x8000) != 0
}

// ref rounds x to f by float64 arithmetic, independently of the code under
// test: a multiple of the spacing at x's binade, ties to even, infinite
// past the largest finite value.
func (f format) ref(x float32) float64 {
	v := float64(x)
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return v
	}
	_, exp := math.Frexp(math.Abs(v)) // |v| in [2^(exp-1), 2^exp)
	q := math.Ldexp(1, max(exp-1, f.emin)-f.mant)
	r := math.RoundToEven(math.Abs(v)/q) * q
	if r > f.max {
		r = math.Inf(1)
	}
	return math.Copysign(r, v)
}

// valueOf decodes narrow bits h from their fields, independently of widen.
func (f format) valueOf(h uint16) float64 {
	ebits := 15 - f.mant // 5 or 8 exponent bits
	bias := 1<<(ebits-1) - 1
	e := int(h>>f.mant) & (1<<ebits - 1)
	m := float64(h & (1<<f.mant - 1))
	var v float64
	switch {
	case e == 1<<ebits-1:
		v = math.Inf(1)
	case e == 0:
		v = math.Ldexp(m, f.emin-f.mant)
	default:
		v = math.Ldexp(1+m/float64(int(1)<<f.mant), e-bias)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

func TestHalfAllValues(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			for i := range 1 << 16 {
				h := uint16(i)
				w := f.widen(h)
				back := f.narrow(w)
				if f.isNaN(h) {
					if !math.IsNaN(float64(w)) || math.Float32bits(w)&0x0040_0000 == 0 {
						t.Fatalf("%#04x widens to %#08x, want a quiet NaN", h, math.Float32bits(w))
					}
					if !f.isNaN(back) || back&f.quiet == 0 || back != h|f.quiet {
						t.Fatalf("NaN %#04x comes back as %#04x, want the quiet %#04x", h, back, h|f.quiet)
					}
					continue
				}
				if got, want := float64(w), f.valueOf(h); got != want || math.Signbit(got) != math.Signbit(want) {
					t.Fatalf("%#04x widens to %v, want %v", h, got, want)
				}
				if back != h {
					t.Fatalf("%#04x widens to %v and narrows to %#04x", h, w, back)
				}
			}
		})
	}
}

// TestHalfMidpoints checks rounding at every tie of either format: the
// midpoint between two neighbours goes to the even one, and the float32
// values just either side of it go to the nearer one. The neighbour past
// the largest finite value is infinity.
func TestHalfMidpoints(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			for _, sign := range []uint16{0, 0x8000} {
				for h := uint16(0); h < f.expBit; h++ {
					lo, hi := f.valueOf(h), f.valueOf(h+1)
					if h+1 == f.expBit {
						hi = f.valueOf(h) + (f.valueOf(h) - f.valueOf(h-1)) // one step past the largest finite value
					}
					mid := float32((lo + hi) / 2)
					if float64(mid) != (lo+hi)/2 {
						t.Fatalf("%#04x: midpoint %v not exact in float32", h, (lo+hi)/2)
					}
					even := h
					if h&1 == 1 {
						even = h + 1
					}
					s := float32(1)
					if sign != 0 {
						s = -1
					}
					for _, tc := range []struct {
						x    float32
						want uint16
					}{
						{s * mid, sign | even},
						{s * math.Nextafter32(mid, 0), sign | h},
						{s * math.Nextafter32(mid, float32(math.Inf(1))), sign | (h + 1)},
					} {
						if got := f.narrow(tc.x); got != tc.want {
							t.Fatalf("%v (%#08x) narrows to %#04x, want %#04x", tc.x, math.Float32bits(tc.x), got, tc.want)
						}
					}
				}
			}
		})
	}
}

// TestHalfRandom compares narrowing with the float64 reference on random
// float32 bit patterns, and on more of them in the float16 range.
func TestHalfRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			for i := range 1 << 19 {
				b := rng.Uint32()
				if i%2 == 1 { // exponents 2^-27 .. 2^17
					b = b&0x807f_ffff | (100+rng.Uint32N(45))<<23
				}
				x := math.Float32frombits(b)
				got, want := float64(f.widen(f.narrow(x))), f.ref(x)
				if math.IsNaN(want) {
					if !math.IsNaN(got) {
						t.Fatalf("NaN %#08x narrows to %v", b, got)
					}
					continue
				}
				if got != want || math.Signbit(got) != math.Signbit(want) {
					t.Fatalf("%v (%#08x) rounds to %v, want %v", x, b, got, want)
				}
			}
		})
	}
}

func TestFloat16Cases(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    float32
		want uint16
	}{
		{"One", 1, 0x3c00},
		{"NegativeZero", float32(math.Copysign(0, -1)), 0x8000},
		{"TieToEvenDown", 1 + 0x1p-11, 0x3c00},
		{"TieToEvenUp", 1 + 3*0x1p-11, 0x3c02},
		{"AboveTie", math.Nextafter32(1+0x1p-11, 2), 0x3c01},
		{"SmallestSubnormal", 0x1p-24, 0x0001},
		{"HalfSmallestSubnormalToZero", 0x1p-25, 0x0000},
		{"AboveHalfSmallestSubnormal", math.Nextafter32(0x1p-25, 1), 0x0001},
		{"NegativeUnderflow", -0x1p-26, 0x8000},
		{"Float32Subnormal", 0x1p-140, 0x0000},
		{"LargestSubnormal", 0x3ffp-24, 0x03ff},
		{"SubnormalRoundsToNormal", 0x3ffp-24 + 0x1p-25, 0x0400},
		{"SmallestNormal", 0x1p-14, 0x0400},
		{"MaxFinite", 65504, 0x7bff},
		{"BelowInfTie", math.Nextafter32(65520, 0), 0x7bff},
		{"TieRoundsToInf", 65520, 0x7c00},
		{"NegativeOverflow", -1e5, 0xfc00},
		{"HugeOverflow", math.MaxFloat32, 0x7c00},
		{"Inf", float32(math.Inf(1)), 0x7c00},
		{"NegativeInf", float32(math.Inf(-1)), 0xfc00},
		{"QuietNaN", math.Float32frombits(0x7fc0_0000), 0x7e00},
		{"SignalingNaNQuieted", math.Float32frombits(0x7f80_0001), 0x7e00},
		{"NaNPayloadKept", math.Float32frombits(0xffa0_2000), 0xff01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := distill.Float32ToFloat16(tc.x); got != tc.want {
				t.Fatalf("Float32ToFloat16(%v) = %#04x, want %#04x", tc.x, got, tc.want)
			}
		})
	}
}

func TestBFloat16Cases(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    float32
		want uint16
	}{
		{"One", 1, 0x3f80},
		{"NegativeZero", float32(math.Copysign(0, -1)), 0x8000},
		{"TieToEvenDown", 1 + 0x1p-8, 0x3f80},
		{"TieToEvenUp", 1 + 3*0x1p-8, 0x3f82},
		{"AboveTie", math.Nextafter32(1+0x1p-8, 2), 0x3f81},
		{"SmallestSubnormal", 0x1p-133, 0x0001},
		{"HalfSmallestSubnormalToZero", 0x1p-134, 0x0000},
		{"LargestSubnormal", 0x7fp-133, 0x007f},
		{"SmallestNormal", 0x1p-126, 0x0080},
		{"MaxFinite", 0x1.fep127, 0x7f7f},
		{"BelowInfTie", math.Float32frombits(0x7f7f_7fff), 0x7f7f},
		{"TieRoundsToInf", math.Float32frombits(0x7f7f_8000), 0x7f80},
		{"MaxFloat32ToInf", -math.MaxFloat32, 0xff80},
		{"Inf", float32(math.Inf(1)), 0x7f80},
		{"SignalingNaNQuieted", math.Float32frombits(0x7f80_0001), 0x7fc0},
		{"NaNPayloadKept", math.Float32frombits(0xff81_0000), 0xffc1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := distill.Float32ToBFloat16(tc.x); got != tc.want {
				t.Fatalf("Float32ToBFloat16(%v) = %#04x, want %#04x", tc.x, got, tc.want)
			}
		})
	}
}
