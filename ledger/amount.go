package ledger

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amounts in the ledger are integers in rao. These constants fix the units
// and the supply of docs/design.md "TAO".
const (
	// RaoPerTAO is the number of rao in one TAO.
	RaoPerTAO uint64 = 1_000_000_000
	// Cap is the supply cap: 21,000,000 TAO in rao.
	Cap uint64 = 21_000_000 * RaoPerTAO
	// DefaultEmission is the default emission of the first era (E0): 1 TAO.
	DefaultEmission uint64 = RaoPerTAO
)

// taoDecimals is the number of decimal places of one rao in TAO.
const taoDecimals = 9

// FormatTAO writes rao as an exact decimal TAO string with no trailing
// zeros: 1500000000 is "1.5", 1 is "0.000000001", 0 is "0".
func FormatTAO(rao uint64) string {
	whole := strconv.FormatUint(rao/RaoPerTAO, 10)
	frac := rao % RaoPerTAO
	if frac == 0 {
		return whole
	}
	digits := fmt.Sprintf("%09d", frac)
	return whole + "." + strings.TrimRight(digits, "0")
}

// ParseTAO reads an exact decimal TAO string ("1", "0.5", "0.000000001")
// into rao. It refuses signs, exponents, more than nine decimals and values
// that do not fit in a uint64, so no amount is ever rounded.
func ParseTAO(s string) (uint64, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("parse TAO %q: empty amount", s)
	}
	if hasDot && frac == "" {
		return 0, fmt.Errorf("parse TAO %q: no digits after the decimal point", s)
	}
	if len(frac) > taoDecimals {
		return 0, fmt.Errorf("parse TAO %q: more than %d decimals (1 rao is 0.000000001 TAO)", s, taoDecimals)
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("parse TAO %q: want decimal digits with an optional point, like 1.5", s)
	}
	var w uint64
	if whole != "" {
		var err error
		w, err = strconv.ParseUint(whole, 10, 64)
		if err != nil || w > math.MaxUint64/RaoPerTAO {
			return 0, fmt.Errorf("parse TAO %q: too large", s)
		}
	}
	var f uint64
	if frac != "" {
		padded := frac + strings.Repeat("0", taoDecimals-len(frac))
		f, _ = strconv.ParseUint(padded, 10, 64) // nine digits always fit
	}
	rao := w * RaoPerTAO
	if rao > math.MaxUint64-f {
		return 0, fmt.Errorf("parse TAO %q: too large", s)
	}
	return rao + f, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
