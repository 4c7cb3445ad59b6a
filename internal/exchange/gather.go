package exchange

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"google.golang.org/grpc/mem"

	"github.com/taonet/taonet/distill"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// littleEndian is whether float32 logits can be copied from the wire into
// a []float32 as bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// gather reassembles float32 logits, whole or in chunks, straight into
// Forward's result: the data is copied once, from the received buffers to
// its place. It checks what TensorReader and distill.DecodeLogits check
// (a declared size within the limit and matching the shape, chunks of one
// batch consecutive and in order with the same dtype and shape, the shape
// the rows that were asked, finite values). Other dtypes go through
// TensorReader.
type gather struct {
	out     []float32 // rows * classes of the whole call
	classes int
	limit   uint64

	// the chunked answer in progress
	pending bool
	batch   uint64
	lo, hi  int // its rows
	shape   []int64
	dst     []byte // the batch's logits in out, as bytes
	next    uint32
	off     int
}

// wants reports whether an answer in dtype dt is the gatherer's: float32
// on a little-endian host, or anything while its chunks are in progress
// (so that a change of dtype is refused).
func (g *gather) wants(dt taonetv1.DataType) bool {
	return g.pending || (littleEndian && dt == taonetv1.DataType_DATA_TYPE_FLOAT32)
}

// add takes one message of batch id, which fills rows [lo, hi) of the
// result: its tensor t (whose own data is used when data is nil) and chunk
// header c. It reports whether the batch is complete.
func (g *gather) add(id uint64, lo, hi int, t *taonetv1.Tensor, c *taonetv1.Chunk, data mem.BufferSlice) (bool, error) {
	if g.pending && id != g.batch {
		return false, fmt.Errorf("%w: batch %d began before batch %d was complete", ErrMidTensor, id, g.batch)
	}
	if data == nil {
		data = mem.BufferSlice{mem.SliceBuffer(t.GetData())}
	}
	if g.pending {
		return g.chunk(id, t, c, data)
	}
	want, err := g.check(id, hi-lo, t)
	if err != nil {
		return false, err
	}
	dst := g.bytes(lo, hi)
	if c == nil {
		if n := data.Len(); n != want {
			return false, fmt.Errorf("%w: batch %d carries %d bytes, shape %v of float32 needs %d", distill.ErrBadTensor, id, n, t.GetShape(), want)
		}
		data.CopyTo(dst)
		return true, g.finite(lo, hi)
	}
	if c.GetSeq() != 0 {
		return false, fmt.Errorf("chunk: seq %d, want 0", c.GetSeq())
	}
	if c.GetTotalBytes() > g.limit {
		return false, fmt.Errorf("%w: batch %d declares %d bytes, the limit is %d", distill.ErrTooLarge, id, c.GetTotalBytes(), g.limit)
	}
	g.pending, g.batch, g.lo, g.hi, g.shape, g.dst, g.next, g.off = true, id, lo, hi, t.GetShape(), dst, 0, 0
	return g.chunk(id, t, c, data)
}

// check refuses a tensor that is not float32 [rows, classes] within the
// limit and returns its size in bytes.
func (g *gather) check(id uint64, rows int, t *taonetv1.Tensor) (int, error) {
	if t == nil {
		return 0, fmt.Errorf("%w: batch %d carries no tensor", distill.ErrBadTensor, id)
	}
	if t.GetDtype() != taonetv1.DataType_DATA_TYPE_FLOAT32 {
		return 0, fmt.Errorf("%w: dtype %v, want float32", distill.ErrBadTensor, t.GetDtype())
	}
	n, err := distill.TensorBytes(t.GetDtype(), t.GetShape(), g.limit)
	if err != nil {
		return 0, err
	}
	if s := t.GetShape(); len(s) != 2 || s[1] != int64(g.classes) {
		return 0, fmt.Errorf("%w: logits shape %v, want [rows %d]", distill.ErrBadTensor, s, g.classes)
	} else if s[0] != int64(rows) {
		return 0, fmt.Errorf("%d rows answered, %d asked", s[0], rows)
	}
	return int(n), nil
}

// chunk adds the next chunk of the batch in progress.
func (g *gather) chunk(id uint64, t *taonetv1.Tensor, c *taonetv1.Chunk, data mem.BufferSlice) (bool, error) {
	switch {
	case c == nil:
		return false, fmt.Errorf("%w: batch %d: a whole tensor in the middle of its chunks", ErrMidTensor, id)
	case t == nil:
		return false, fmt.Errorf("%w: batch %d carries no tensor", distill.ErrBadTensor, id)
	case t.GetDtype() != taonetv1.DataType_DATA_TYPE_FLOAT32 || !slices.Equal(t.GetShape(), g.shape):
		return false, fmt.Errorf("%w: batch %d chunk %d changes dtype or shape", distill.ErrBadTensor, id, c.GetSeq())
	case c.GetSeq() != g.next:
		return false, fmt.Errorf("chunk: seq %d, want %d", c.GetSeq(), g.next)
	case c.GetTotalBytes() != uint64(len(g.dst)):
		return false, fmt.Errorf("%w: batch %d declares %d bytes, shape %v of float32 needs %d", distill.ErrBadTensor, id, c.GetTotalBytes(), g.shape, len(g.dst))
	case data.Len() > len(g.dst)-g.off:
		return false, fmt.Errorf("chunk: seq %d overruns the declared %d bytes", c.GetSeq(), len(g.dst))
	}
	g.off += data.CopyTo(g.dst[g.off:])
	g.next++
	if !c.GetLast() {
		return false, nil
	}
	if g.off != len(g.dst) {
		return false, fmt.Errorf("chunk: last chunk ends at %d of %d declared bytes", g.off, len(g.dst))
	}
	g.pending = false
	return true, g.finite(g.lo, g.hi)
}

// bytes is rows [lo, hi) of out as bytes, its capacity ending with them.
func (g *gather) bytes(lo, hi int) []byte {
	v := g.out[lo*g.classes : hi*g.classes : hi*g.classes]
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// finite refuses NaN or Inf in rows [lo, hi) of out.
func (g *gather) finite(lo, hi int) error {
	v := g.out[lo*g.classes : hi*g.classes]
	if i := firstNonFinite(v); i >= 0 {
		return fmt.Errorf("logits: row %d class %d: %w (%v)", i/g.classes, i%g.classes, distill.ErrNotFinite, v[i])
	}
	return nil
}
