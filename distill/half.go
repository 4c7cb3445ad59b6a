package distill

import "math"

// Half-precision conversions for the float16 and bfloat16 wire dtypes.
// Narrowing rounds to nearest, ties to even (IEEE 754's default), and
// overflows to infinity; widening is exact. Signs, zeros, subnormals and
// infinities are kept. A NaN stays a NaN and comes out quiet (its top
// payload bits are kept where they fit), so no conversion ever turns a NaN
// into an infinity or a number.

const (
	f16SignMask = 0x8000
	f16ExpMask  = 0x7c00
	f16Quiet    = 0x0200
	f32Quiet    = 0x0040_0000
	bf16ExpMask = 0x7f80
	bf16Quiet   = 0x0040
)

// Float32ToFloat16 rounds f to the nearest IEEE 754 binary16 value (ties to
// even) and returns its bits. Magnitudes from 65520 up overflow to
// infinity, magnitudes up to 2^-25 become a signed zero, and a NaN becomes
// a quiet NaN.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & f16SignMask
	exp := int32(b>>23) & 0xff
	mant := b & 0x7f_ffff
	if exp == 0xff {
		if mant != 0 {
			return sign | f16ExpMask | f16Quiet | uint16(mant>>13)
		}
		return sign | f16ExpMask
	}
	e := exp - 127 + 15 // biased binary16 exponent
	if e >= 0x1f {
		return sign | f16ExpMask
	}
	if e <= 0 {
		// A binary16 subnormal (or zero): mantissa in units of 2^-24.
		// Below 2^-25 everything rounds to zero; float32 subnormals land
		// here too.
		if e < -10 {
			return sign
		}
		m := mant | 0x80_0000
		shift := uint32(14 - e)
		return sign | uint16(roundShift(m, shift))
	}
	// A carry out of the mantissa moves to the next binade, and out of
	// the largest one to infinity, which is the right answer in both cases.
	return sign | uint16(roundShift(uint32(e)<<23|mant, 13))
}

// roundShift returns x >> shift rounded to nearest, ties to even.
func roundShift(x, shift uint32) uint32 {
	q := x >> shift
	rem := x & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return q
}

// Float16ToFloat32 returns the float32 value of binary16 bits h, exactly.
// A NaN comes back as a quiet NaN with h's payload.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&f16SignMask) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f:
		if mant != 0 {
			return math.Float32frombits(sign | 0x7f80_0000 | f32Quiet | mant<<13)
		}
		return math.Float32frombits(sign | 0x7f80_0000)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: shift the leading one up to the implicit bit.
		e := uint32(127 - 14)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp-15+127)<<23 | mant<<13)
}

// Float32ToBFloat16 rounds f to the nearest bfloat16 value (the top half of
// a float32, ties to even) and returns its bits. Magnitudes that round past
// the largest finite bfloat16 overflow to infinity, and a NaN becomes a
// quiet NaN.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fff_ffff > 0x7f80_0000 {
		return uint16(b>>16) | bf16Quiet
	}
	// Adding just under half an ulp, plus one when the kept part is odd,
	// rounds to nearest with ties to even; a carry runs into the exponent
	// and from the largest finite value to infinity.
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BFloat16ToFloat32 returns the float32 value of bfloat16 bits h, exactly.
// A NaN comes back as a quiet NaN with h's payload.
func BFloat16ToFloat32(h uint16) float32 {
	if h&bf16ExpMask == bf16ExpMask && h&0x7f != 0 {
		h |= bf16Quiet
	}
	return math.Float32frombits(uint32(h) << 16)
}
