package roundchain

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// HashSize is the size of a chain hash in bytes (SHA-256).
const HashSize = sha256.Size

// domain opens every encoded record: it names the encoding and its version,
// so a hash of this encoding can never be mistaken for a hash of anything
// else the coordinator signs.
const domain = "taonet/round/v1"

// ErrBadRecord is returned (wrapped) for a record that has no canonical
// encoding: a previous hash that is not 32 bytes, an identity or account
// that is empty or appears twice, or a NaN score.
var ErrBadRecord = errors.New("bad round record")

// Genesis returns the previous hash of the first settled round: 32 zero
// bytes.
func Genesis() []byte { return make([]byte, HashSize) }

// Record is what the chain hash of a settled round covers.
type Record struct {
	Number         uint64
	Seed           uint64 // the transfer seed
	SeedHash       []byte // SHA-256 of ValidationSeed, published when the round opened
	ValidationSeed []byte
	Emission       uint64 // rao
	// Evaluations and Payouts may come in any order: Encode sorts copies.
	Evaluations []Evaluation
	Payouts     []Payout
}

// Evaluation is one peer's result in a record.
type Evaluation struct {
	Identity string
	Loss     float64
	Accuracy float64
	Weight   float64
	Shares   uint64
	Status   string // scored, timeout, invalid or duplicate
	Payout   uint64 // rao
}

// Payout is one payout of a record.
type Payout struct {
	Account string
	Amount  uint64 // rao
}

// Encode returns the canonical encoding of r chained to previous (see the
// package documentation). Errors wrap ErrBadRecord.
func (r *Record) Encode(previous []byte) ([]byte, error) {
	if len(previous) != HashSize {
		return nil, fmt.Errorf("%w: round %d: previous hash is %d bytes, want %d", ErrBadRecord, r.Number, len(previous), HashSize)
	}
	evals := slices.Clone(r.Evaluations)
	slices.SortFunc(evals, func(a, b Evaluation) int { return cmp.Compare(a.Identity, b.Identity) })
	pays := slices.Clone(r.Payouts)
	slices.SortFunc(pays, func(a, b Payout) int { return cmp.Compare(a.Account, b.Account) })
	for i, e := range evals {
		if e.Identity == "" || (i > 0 && evals[i-1].Identity == e.Identity) {
			return nil, fmt.Errorf("%w: round %d: evaluation identity %q is empty or appears twice", ErrBadRecord, r.Number, e.Identity)
		}
	}
	for i, p := range pays {
		if p.Account == "" || (i > 0 && pays[i-1].Account == p.Account) {
			return nil, fmt.Errorf("%w: round %d: payout account %q is empty or appears twice", ErrBadRecord, r.Number, p.Account)
		}
	}
	var w encoder
	w.bytes([]byte(domain))
	w.buf.Write(previous)
	w.uint64(r.Number)
	w.uint64(r.Seed)
	w.bytes(r.SeedHash)
	w.bytes(r.ValidationSeed)
	w.uint64(r.Emission)
	w.uint32(len(evals))
	for _, e := range evals {
		w.bytes([]byte(e.Identity))
		for _, f := range []float64{e.Loss, e.Accuracy, e.Weight} {
			if err := w.float64(f); err != nil {
				return nil, fmt.Errorf("%w: round %d: evaluation of %s: %v", ErrBadRecord, r.Number, e.Identity, err)
			}
		}
		w.uint64(e.Shares)
		w.bytes([]byte(e.Status))
		w.uint64(e.Payout)
	}
	w.uint32(len(pays))
	for _, p := range pays {
		w.bytes([]byte(p.Account))
		w.uint64(p.Amount)
	}
	return w.buf.Bytes(), nil
}

// Hash returns the chain hash of r after previous: SHA-256 of its
// canonical encoding. Errors wrap ErrBadRecord.
func Hash(previous []byte, r *Record) ([]byte, error) {
	enc, err := r.Encode(previous)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(enc)
	return sum[:], nil
}

// encoder writes the canonical encoding's primitives.
type encoder struct{ buf bytes.Buffer }

func (w *encoder) uint32(n int) {
	w.buf.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
}

func (w *encoder) uint64(n uint64) {
	w.buf.Write(binary.BigEndian.AppendUint64(nil, n))
}

func (w *encoder) bytes(b []byte) {
	w.uint32(len(b))
	w.buf.Write(b)
}

func (w *encoder) float64(f float64) error {
	if math.IsNaN(f) {
		return errors.New("NaN has no canonical encoding")
	}
	if f == 0 {
		f = 0 // -0 and +0 encode alike
	}
	w.uint64(math.Float64bits(f))
	return nil
}
