package distill

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// insertionMaxK is the largest k that TopKFromLogitsAs selects by insertion
// into a sorted list of k (one pass, no allocation); a larger k sorts the
// row once instead, so that a big k never costs classes * k.
const insertionMaxK = 32

// TopKFromLogits is TopKFromLogitsAs with float32 values.
func TopKFromLogits(l Logits, k int) (*taonetv1.TopK, error) {
	return TopKFromLogitsAs(l, k, taonetv1.DataType_DATA_TYPE_FLOAT32)
}

// TopKFromLogitsAs keeps, per row, the k largest log-probabilities of l and
// their classes, in descending order (ties by lower class), with values in
// dtype dt (float32, float16 or bfloat16, rounded to nearest even) and
// int32 indices. A log-probability below the most negative finite value of
// dt is sent as that value rather than as -Inf: its probability, exp of
// either, is 0 in float64 all the same. Errors: those of LogSoftmax, k not
// in [1, classes], and a dt that is not a float dtype (ErrBadTensor).
func TopKFromLogitsAs(l Logits, k int, dt taonetv1.DataType) (*taonetv1.TopK, error) {
	lp, err := LogSoftmax(l, 1)
	if err != nil {
		return nil, err
	}
	if k < 1 || k > l.Classes {
		return nil, fmt.Errorf("top-k: k %d not in [1, %d]", k, l.Classes)
	}
	lowest := -maxFinite(dt)
	rows := l.Rows()
	vals := make([]float32, 0, rows*k)
	idx := make([]int32, 0, rows*k)
	buf := make([]int, 0, k)
	if k > insertionMaxK {
		buf = make([]int, 0, l.Classes)
	}
	for r := range rows {
		row := lp[r*l.Classes : (r+1)*l.Classes]
		for _, c := range topK(row, k, buf) {
			vals = append(vals, float32(max(row[c], lowest)))
			idx = append(idx, int32(c))
		}
	}
	shape := []int64{int64(rows), int64(k)}
	vt, err := EncodeFloats(dt, shape, vals)
	if err != nil {
		return nil, fmt.Errorf("top-k values: %w", err)
	}
	it, err := EncodeInt32(shape, idx)
	if err != nil {
		return nil, err
	}
	return &taonetv1.TopK{Vocab: uint32(l.Classes), K: uint32(k), Values: vt, Indices: it}, nil
}

// topK returns the classes of the k largest values of row (no NaN), in
// descending order with ties by lower class, in buf's memory: buf needs
// capacity k, or len(row) when k > insertionMaxK.
func topK(row []float64, k int, buf []int) []int {
	if k > insertionMaxK {
		order := buf[:len(row)]
		for c := range order {
			order[c] = c
		}
		slices.SortFunc(order, func(a, b int) int {
			if row[a] != row[b] {
				return cmp.Compare(row[b], row[a])
			}
			return cmp.Compare(a, b)
		})
		return order[:k]
	}
	top := buf[:0]
	for c, v := range row {
		n := len(top)
		if n == k {
			if v <= row[top[k-1]] {
				continue // an equal value keeps the lower class already in
			}
			n = k - 1 // v replaces the smallest
		} else {
			top = append(top, 0)
		}
		for n > 0 && row[top[n-1]] < v {
			top[n] = top[n-1]
			n--
		}
		top[n] = c
	}
	return top
}

// maxFinite is the largest finite value of float dtype dt.
func maxFinite(dt taonetv1.DataType) float64 {
	switch dt {
	case taonetv1.DataType_DATA_TYPE_FLOAT16:
		return float64(Float16ToFloat32(0x7bff)) // 65504
	case taonetv1.DataType_DATA_TYPE_BFLOAT16:
		return float64(BFloat16ToFloat32(0x7f7f)) // about 3.39e38
	}
	return math.MaxFloat32
}

// Tolerances of TopKProbs for the sender's own arithmetic (float32 or
// better): a kept mass may exceed 1 by massSlack and a log-probability may
// exceed 0 by logProbSlack, as TopKProbs allowed when values were float32
// only. Rounding to the values dtype then moves each log-probability by up
// to half the dtype's spacing at it (halfSpacing): TopKProbs first moves
// each value back by that much in the direction that favours the row, then
// applies these.
const (
	massSlack    = 1e-4
	logProbSlack = 1e-6
)

// halfSpacing is how far rounding to float dtype dt can have moved a value
// that became v: half the distance from v to its neighbour away from zero
// (at a power of two, the larger of its two gaps). For float16 that is
// 2^-12 near log(0.5), for bfloat16 2^-9, for float32 2^-25.
func halfSpacing(dt taonetv1.DataType, v float32) float64 {
	mant, emin := 23, -126
	switch dt {
	case taonetv1.DataType_DATA_TYPE_FLOAT16:
		mant, emin = 10, -14
	case taonetv1.DataType_DATA_TYPE_BFLOAT16:
		mant = 7
	}
	_, e := math.Frexp(math.Abs(float64(v))) // |v| in [2^(e-1), 2^e)
	if v == 0 {
		e = emin + 1
	}
	return math.Ldexp(1, max(e-1, emin)-mant-1)
}

// TopKProbs rebuilds full distributions ([rows, vocab]) from a TopK whose
// values are float32, float16 or bfloat16 log-probabilities: the kept
// classes get their probabilities and the remaining mass is spread evenly
// over the other vocab - k classes, so every row sums to 1. A kept mass
// just over 1 (with k = vocab, just off 1), as rounding to the values dtype
// leaves it, is scaled to exactly 1.
//
// Errors: k not in [1, vocab]; a values or indices tensor that does not
// decode (wrong dtype, size, or over limit bytes: ErrBadTensor); counts
// that do not make whole rows of k; a result over limit bytes; an index out
// of range or repeated in a row; a log-probability that is not finite or
// is above 0; a kept mass above 1, or with k = vocab below 1. "Above" and
// "below" allow 1e-6 for a log-probability and 1e-4 for a mass, after
// moving each value back by as much as its rounding to the values dtype can
// have moved it (see halfSpacing), so that an honest sender's row is never
// refused for the dtype it chose.
func TopKProbs(tk *taonetv1.TopK, limit uint64) ([]float64, error) {
	vocab, k := int(tk.GetVocab()), int(tk.GetK())
	if k < 1 || k > vocab {
		return nil, fmt.Errorf("top-k: k %d, vocab %d", k, vocab)
	}
	vals, err := DecodeFloats(tk.GetValues(), limit)
	if err != nil {
		return nil, fmt.Errorf("top-k values: %w", err)
	}
	idx, err := decodeIndices(tk.GetIndices(), limit)
	if err != nil {
		return nil, fmt.Errorf("top-k indices: %w", err)
	}
	if len(vals) != len(idx) || len(vals)%k != 0 {
		return nil, fmt.Errorf("top-k: %d values and %d indices for k %d", len(vals), len(idx), k)
	}
	rows := len(vals) / k
	if uint64(rows) > limit/8/uint64(vocab) {
		return nil, fmt.Errorf("top-k: %d rows of %d classes exceed %d bytes", rows, vocab, limit)
	}
	dt := tk.GetValues().GetDtype()
	out := make([]float64, rows*vocab)
	seen := make([]bool, vocab)
	for r := range rows {
		row := out[r*vocab : (r+1)*vocab]
		rowIdx := idx[r*k : (r+1)*k]
		// kept is the row's kept mass; least and most are what it could
		// have been before the values were rounded to dt.
		kept, least, most := 0.0, 0.0, 0.0
		for j, c := range rowIdx {
			if c < 0 || c >= int64(vocab) || seen[c] {
				return nil, fmt.Errorf("top-k: row %d: class %d out of range or repeated", r, c)
			}
			v := float64(vals[r*k+j])
			h := halfSpacing(dt, vals[r*k+j])
			if math.IsNaN(v) || math.IsInf(v, 0) || v-h > logProbSlack {
				return nil, fmt.Errorf("top-k: row %d: log-probability %v", r, v)
			}
			seen[c] = true
			row[c] = math.Exp(min(v, 0))
			kept += row[c]
			least += math.Exp(min(v-h, 0))
			most += math.Exp(min(v+h, 0))
		}
		if least > 1+massSlack {
			return nil, fmt.Errorf("top-k: row %d keeps probability %.5f > 1", r, kept)
		}
		if k == vocab && most < 1-massSlack {
			return nil, fmt.Errorf("top-k: row %d keeps probability %.5f < 1 with every class kept", r, kept)
		}
		if kept > 1 || k == vocab {
			for _, c := range rowIdx {
				row[c] /= kept
			}
		} else {
			each := (1 - kept) / float64(vocab-k)
			for c := range row {
				if !seen[c] {
					row[c] = each
				}
			}
		}
		for _, c := range rowIdx {
			seen[c] = false
		}
	}
	return out, nil
}

// decodeIndices reads top-k class indices, sent as int32 (what
// TopKFromLogitsAs sends: 4 bytes an entry) or int64.
func decodeIndices(t *taonetv1.Tensor, limit uint64) ([]int64, error) {
	if t.GetDtype() != taonetv1.DataType_DATA_TYPE_INT32 {
		return DecodeInt64(t, limit)
	}
	v, err := DecodeInt32(t, limit)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out, nil
}
