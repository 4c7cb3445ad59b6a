package distill_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// fuzzLimit bounds what a fuzzed tensor may declare, so that a shape can
// be refused by size and nothing large is ever allocated.
const fuzzLimit = 1 << 16

// fuzzShape is the first ndim (at most 3) of d0, d1, d2.
func fuzzShape(ndim uint8, d0, d1, d2 int64) []int64 {
	return []int64{d0, d1, d2}[:min(int(ndim), 3)]
}

// FuzzDecodeTensor feeds arbitrary tensors to every decoder. None may
// panic; each accepts exactly what CheckTensor accepts in its dtypes; and
// what decodes re-encodes to the same bytes (float16 and bfloat16 too,
// except that a NaN comes back quiet).
func FuzzDecodeTensor(f *testing.F) {
	f.Add(int32(taonetv1.DataType_DATA_TYPE_FLOAT32), uint8(2), int64(1), int64(2), int64(0), []byte{0, 0, 0xc0, 0x3f, 0, 0, 0x80, 0xff})
	f.Add(int32(taonetv1.DataType_DATA_TYPE_FLOAT16), uint8(1), int64(4), int64(0), int64(0), []byte{0, 0x3c, 1, 0x7c, 0, 0xfc, 1, 0})
	f.Add(int32(taonetv1.DataType_DATA_TYPE_BFLOAT16), uint8(3), int64(1), int64(1), int64(2), []byte{0x80, 0x3f, 0x81, 0x7f})
	f.Add(int32(taonetv1.DataType_DATA_TYPE_INT64), uint8(1), int64(1), int64(0), int64(0), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(int32(taonetv1.DataType_DATA_TYPE_INT32), uint8(2), int64(2), int64(1), int64(0), []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0})
	f.Add(int32(taonetv1.DataType_DATA_TYPE_UINT8), uint8(1), int64(3), int64(0), int64(0), []byte{0, 1, 0xff})
	f.Add(int32(taonetv1.DataType_DATA_TYPE_FLOAT32), uint8(2), int64(1<<40), int64(1<<40), int64(0), []byte{})
	f.Add(int32(taonetv1.DataType_DATA_TYPE_UINT8), uint8(1), int64(-1), int64(0), int64(0), []byte{1})
	f.Add(int32(0), uint8(0), int64(0), int64(0), int64(0), []byte(nil))
	f.Add(int32(99), uint8(1), int64(1), int64(0), int64(0), []byte{1})
	f.Fuzz(func(t *testing.T, dtype int32, ndim uint8, d0, d1, d2 int64, data []byte) {
		dt := taonetv1.DataType(dtype)
		shape := fuzzShape(ndim, d0, d1, d2)
		tn := &taonetv1.Tensor{Dtype: dt, Shape: shape, Data: data}
		checked := distill.CheckTensor(tn, fuzzLimit)
		if checked != nil && !errors.Is(checked, distill.ErrBadTensor) {
			t.Fatalf("CheckTensor: %v is not ErrBadTensor", checked)
		}
		// agree fails unless a decoder accepted exactly the tensors that
		// CheckTensor accepts with one of its dtypes.
		agree := func(name string, err error, ok bool) {
			t.Helper()
			if want := checked == nil && ok; (err == nil) != want {
				t.Fatalf("%s: error %v, CheckTensor %v, dtype %v", name, err, checked, dt)
			}
			if err != nil && !errors.Is(err, distill.ErrBadTensor) {
				t.Fatalf("%s: %v is not ErrBadTensor", name, err)
			}
		}
		same := func(name string, re *taonetv1.Tensor, err error) {
			t.Helper()
			if err != nil || re.Dtype != dt || !bytes.Equal(re.Data, data) {
				t.Fatalf("%s re-encodes to %v % x (%v), want %v % x", name, re.GetDtype(), re.GetData(), err, dt, data)
			}
		}

		floats, err := distill.DecodeFloats(tn, fuzzLimit)
		agree("DecodeFloats", err, dt == taonetv1.DataType_DATA_TYPE_FLOAT32 || dt == taonetv1.DataType_DATA_TYPE_FLOAT16 || dt == taonetv1.DataType_DATA_TYPE_BFLOAT16)
		if err == nil {
			re, err := distill.EncodeFloats(dt, shape, floats)
			if err != nil {
				t.Fatalf("EncodeFloats: %v", err)
			}
			if dt == taonetv1.DataType_DATA_TYPE_FLOAT32 {
				same("DecodeFloats", re, nil)
			} else {
				checkHalfBytes(t, dt, re.Data, data)
			}
		}
		i64, err := distill.DecodeInt64(tn, fuzzLimit)
		agree("DecodeInt64", err, dt == taonetv1.DataType_DATA_TYPE_INT64)
		if err == nil {
			re, err := distill.EncodeInt64(shape, i64)
			same("DecodeInt64", re, err)
		}
		i32, err := distill.DecodeInt32(tn, fuzzLimit)
		agree("DecodeInt32", err, dt == taonetv1.DataType_DATA_TYPE_INT32)
		if err == nil {
			re, err := distill.EncodeInt32(shape, i32)
			same("DecodeInt32", re, err)
		}
		u8, err := distill.DecodeUint8(tn, fuzzLimit)
		agree("DecodeUint8", err, dt == taonetv1.DataType_DATA_TYPE_UINT8)
		if err == nil {
			re, err := distill.EncodeUint8(shape, u8)
			same("DecodeUint8", re, err)
		}
	})
}

// checkHalfBytes fails unless got, the re-encoding of want, holds the same
// 16-bit values, but for each NaN, which must stay a NaN with the quiet bit
// set.
func checkHalfBytes(t *testing.T, dt taonetv1.DataType, got, want []byte) {
	t.Helper()
	exp, quiet := uint16(0x7c00), uint16(0x0200)
	if dt == taonetv1.DataType_DATA_TYPE_BFLOAT16 {
		exp, quiet = 0x7f80, 0x0040
	}
	if len(got) != len(want) {
		t.Fatalf("%v re-encodes to %d bytes, want %d", dt, len(got), len(want))
	}
	for i := 0; i < len(want); i += 2 {
		g, w := binary.LittleEndian.Uint16(got[i:]), binary.LittleEndian.Uint16(want[i:])
		if w&exp == exp && w&^(exp|0x8000) != 0 {
			w |= quiet
		}
		if g != w {
			t.Fatalf("%v element %d re-encodes to %#04x, want %#04x", dt, i/2, g, w)
		}
	}
}

// FuzzAssembler feeds an Assembler the chunks of a script: each group of
// four bytes is one chunk (flags, length, two bytes of a seq or total),
// its data taken in turn from payload. It must never panic nor hold more
// than Limit bytes, and once it completes its bytes are exactly the data of
// the chunks it accepted, as many as the first accepted chunk declared.
// The chunks that Chunks cuts from payload must also reassemble exactly.
func FuzzAssembler(f *testing.F) {
	f.Add(uint16(10), uint32(10), uint8(4), []byte{0, 4, 0, 0, 0, 4, 0, 0, 1, 2, 0, 0}, []byte("0123456789"))
	f.Add(uint16(9), uint32(10), uint8(4), []byte{0, 4, 0, 0}, []byte("0123456789"))
	f.Add(uint16(100), uint32(10), uint8(3), []byte{0, 4, 0, 0, 2, 4, 2, 0, 0, 4, 0, 0, 1, 4, 0, 0}, []byte("0123456789ab"))
	f.Add(uint16(100), uint32(5), uint8(1), []byte{4, 3, 7, 0, 1, 8, 0, 0, 0, 3, 0, 0, 1, 2, 0, 0}, []byte("0123456789"))
	f.Add(uint16(0), uint32(0), uint8(0), []byte{1, 0, 0, 0, 1, 0, 0, 0}, []byte(nil))
	f.Fuzz(func(t *testing.T, limit uint16, total uint32, size uint8, script, payload []byte) {
		checkChunksRoundTrip(t, uint64(limit), int(size), payload)

		a := distill.Assembler{Limit: uint64(limit)}
		var accepted []byte
		declared := uint64(0)
		off, seq := 0, uint32(0)
		for i := 0; i+4 <= len(script); i += 4 {
			flags, n, lo, hi := script[i], int(script[i+1]), script[i+2], script[i+3]
			c := &taonetv1.Chunk{Seq: seq, TotalBytes: uint64(total), Last: flags&1 != 0}
			if flags&2 != 0 {
				c.Seq = uint32(lo) | uint32(hi)<<8
			}
			if flags&4 != 0 {
				c.TotalBytes = uint64(lo) | uint64(hi)<<8
			}
			n = min(n, len(payload)-off)
			data := payload[off : off+n]
			off += n
			got, done, err := a.Add(c, data)
			if err != nil {
				if got != nil || done {
					t.Fatalf("chunk %d: error %v with %d bytes, done %v", i/4, err, len(got), done)
				}
				continue
			}
			if c.Seq == 0 {
				declared = c.TotalBytes
			}
			accepted = append(accepted, data...)
			seq++
			if uint64(len(accepted)) > uint64(limit) {
				t.Fatalf("chunk %d: accepted %d bytes, limit %d", i/4, len(accepted), limit)
			}
			if done {
				if uint64(len(got)) > uint64(limit) || uint64(len(got)) != declared || !bytes.Equal(got, accepted) {
					t.Fatalf("completed with %d bytes % x, want the %d declared % x (limit %d)", len(got), got, declared, accepted, limit)
				}
				if _, _, err := a.Add(&taonetv1.Chunk{Seq: seq}, nil); err == nil {
					t.Fatal("a chunk after completion was accepted")
				}
				return
			}
		}
	})
}

// checkChunksRoundTrip cuts payload with Chunks and reassembles it under
// limit: it must come back whole, or be refused as ErrTooLarge at once
// when it is larger than limit.
func checkChunksRoundTrip(t *testing.T, limit uint64, size int, payload []byte) {
	t.Helper()
	parts, heads, err := distill.Chunks(payload, size)
	if size < 1 {
		if err == nil {
			t.Fatalf("Chunks took size %d", size)
		}
		return
	}
	if err != nil {
		t.Fatalf("Chunks: %v", err)
	}
	a := distill.Assembler{Limit: limit}
	for i := range parts {
		got, done, err := a.Add(heads[i], parts[i])
		if uint64(len(payload)) > limit {
			if i != 0 || !errors.Is(err, distill.ErrTooLarge) {
				t.Fatalf("%d bytes under limit %d: chunk %d: %v, want ErrTooLarge", len(payload), limit, i, err)
			}
			return
		}
		if err != nil || done != (i == len(parts)-1) {
			t.Fatalf("chunk %d of %d: done %v, %v", i, len(parts), done, err)
		}
		if done && !bytes.Equal(got, payload) {
			t.Fatalf("reassembled % x, want % x", got, payload)
		}
	}
}

// FuzzTopKProbs feeds TopKProbs arbitrary top-k messages. It must never
// panic, and what it accepts must be rows of vocab probabilities in [0, 1]
// that sum to 1.
func FuzzTopKProbs(f *testing.F) {
	f32 := int32(taonetv1.DataType_DATA_TYPE_FLOAT32)
	f16 := int32(taonetv1.DataType_DATA_TYPE_FLOAT16)
	bf16 := int32(taonetv1.DataType_DATA_TYPE_BFLOAT16)
	seed := func(vocab uint32, k uint32, dt taonetv1.DataType, rows int64, logits []float32) {
		tk, err := distill.TopKFromLogitsAs(distill.Logits{Classes: int(vocab), Values: logits}, int(k), dt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(vocab, k, int32(dt), rows, tk.Values.Data, int32(taonetv1.DataType_DATA_TYPE_INT64), tk.Indices.Data)
	}
	seed(5, 2, taonetv1.DataType_DATA_TYPE_FLOAT32, 2, []float32{0, 3, 1, 2, -1, 9, 9, 0, 0, 0})
	seed(5, 5, taonetv1.DataType_DATA_TYPE_FLOAT16, 1, []float32{0, 3, 1, 2, -1})
	seed(4, 1, taonetv1.DataType_DATA_TYPE_BFLOAT16, 2, []float32{0, 0, 0, 0, 1, 2, 3, 4})
	seed(2, 2, taonetv1.DataType_DATA_TYPE_FLOAT16, 1, []float32{0, -70000})
	idx := []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	f.Add(uint32(2), uint32(2), f16, int64(1), []byte{0x8b, 0xb9, 0x8b, 0xb9}, int32(taonetv1.DataType_DATA_TYPE_INT64), idx)
	f.Add(uint32(3), uint32(2), f32, int64(1), []byte{0, 0, 0, 0, 0, 0, 0, 0}, int32(taonetv1.DataType_DATA_TYPE_INT64), idx)
	f.Add(uint32(3), uint32(2), bf16, int64(1), []byte{0xc1, 0xff, 0x80, 0xbf}, int32(taonetv1.DataType_DATA_TYPE_INT64), idx)
	f.Add(uint32(1<<31), uint32(2), f16, int64(1), []byte{0, 0xbc, 0, 0xbc}, int32(taonetv1.DataType_DATA_TYPE_INT64), idx)
	f.Add(uint32(0), uint32(0), int32(0), int64(0), []byte(nil), int32(0), []byte(nil))
	f.Fuzz(func(t *testing.T, vocab, k uint32, valType int32, rows int64, vals []byte, idxType int32, indices []byte) {
		tk := &taonetv1.TopK{
			Vocab:   vocab,
			K:       k,
			Values:  &taonetv1.Tensor{Dtype: taonetv1.DataType(valType), Shape: []int64{rows, int64(k)}, Data: vals},
			Indices: &taonetv1.Tensor{Dtype: taonetv1.DataType(idxType), Shape: []int64{rows, int64(k)}, Data: indices},
		}
		p, err := distill.TopKProbs(tk, fuzzLimit)
		if err != nil {
			return
		}
		if uint64(len(p)) != uint64(rows)*uint64(vocab) || 8*uint64(len(p)) > fuzzLimit {
			t.Fatalf("%d probabilities for %d rows of %d classes (limit %d bytes)", len(p), rows, vocab, fuzzLimit)
		}
		checkRows(t, p, int(vocab), 1e-3)
	})
}
