package ledger_test

import (
	"math"
	"testing"

	"github.com/taonet/taonet/ledger"
)

func TestFormatTAO(t *testing.T) {
	tests := []struct {
		rao  uint64
		want string
	}{
		{0, "0"},
		{1, "0.000000001"},
		{10, "0.00000001"},
		{1_000_000_000, "1"},
		{1_500_000_000, "1.5"},
		{123_456_789_012, "123.456789012"},
		{ledger.Cap, "21000000"},
		{math.MaxUint64, "18446744073.709551615"},
	}
	for _, tt := range tests {
		t.Run("OK"+tt.want, func(t *testing.T) {
			if got := ledger.FormatTAO(tt.rao); got != tt.want {
				t.Fatalf("FormatTAO(%d) = %q, want %q", tt.rao, got, tt.want)
			}
			back, err := ledger.ParseTAO(tt.want)
			if err != nil || back != tt.rao {
				t.Fatalf("ParseTAO(%q) = %d, %v; want %d", tt.want, back, err, tt.rao)
			}
		})
	}
}

func TestParseTAO(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		ok   bool
	}{
		{"OKWhole", "2", 2_000_000_000, true},
		{"OKLeadingPoint", ".5", 500_000_000, true},
		{"OKTrailingZeros", "1.500000000", 1_500_000_000, true},
		{"ErrEmpty", "", 0, false},
		{"ErrPointOnly", ".", 0, false},
		{"ErrTrailingPoint", "1.", 0, false},
		{"ErrTenDecimals", "0.0000000001", 0, false},
		{"ErrNegative", "-1", 0, false},
		{"ErrPlus", "+1", 0, false},
		{"ErrExponent", "1e3", 0, false},
		{"ErrSpace", " 1", 0, false},
		{"ErrTwoPoints", "1.2.3", 0, false},
		{"ErrTooLarge", "18446744073.709551616", 0, false},
		{"ErrWholeTooLarge", "18446744074", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ledger.ParseTAO(tt.in)
			if tt.ok && (err != nil || got != tt.want) {
				t.Fatalf("ParseTAO(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			if !tt.ok && err == nil {
				t.Fatalf("ParseTAO(%q) = %d, want an error", tt.in, got)
			}
		})
	}
}
