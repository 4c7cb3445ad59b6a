package distill

import (
	"errors"
	"fmt"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ErrTooLarge reports a declared size over the receiver's limit.
var ErrTooLarge = errors.New("tensor too large")

// Chunks cuts data into slices of at most max bytes with the Chunk header
// each one travels with (seq from 0, the total declared in every chunk,
// last on the final one). Empty data gives one empty last chunk.
func Chunks(data []byte, max int) ([][]byte, []*taonetv1.Chunk, error) {
	if max < 1 {
		return nil, nil, fmt.Errorf("chunks: size %d", max)
	}
	var parts [][]byte
	var heads []*taonetv1.Chunk
	for seq, off := 0, 0; ; seq++ {
		end := min(off+max, len(data))
		parts = append(parts, data[off:end])
		heads = append(heads, &taonetv1.Chunk{Seq: uint32(seq), TotalBytes: uint64(len(data)), Last: end == len(data)})
		if end == len(data) {
			return parts, heads, nil
		}
		off = end
	}
}

// Assembler reassembles one tensor's chunks in order. It refuses a declared
// total over Limit before allocating, and any chunk out of sequence, with a
// changed total, overrunning the total, or ending short.
type Assembler struct {
	Limit uint64 // largest total a sender may declare, in bytes

	buf  []byte
	next uint32
	want uint64
	done bool
}

// Add takes the next chunk and its slice of data. It returns the whole
// data once the last chunk is in.
func (a *Assembler) Add(c *taonetv1.Chunk, data []byte) ([]byte, bool, error) {
	if c == nil {
		return nil, false, errors.New("chunk: missing header")
	}
	if a.done {
		return nil, false, errors.New("chunk: tensor already complete")
	}
	if c.GetSeq() != a.next {
		return nil, false, fmt.Errorf("chunk: seq %d, want %d", c.GetSeq(), a.next)
	}
	if a.next == 0 {
		if c.GetTotalBytes() > a.Limit {
			return nil, false, fmt.Errorf("chunk: %w: declared %d bytes, limit %d", ErrTooLarge, c.GetTotalBytes(), a.Limit)
		}
		a.want = c.GetTotalBytes()
		a.buf = make([]byte, 0, a.want)
	} else if c.GetTotalBytes() != a.want {
		return nil, false, fmt.Errorf("chunk: seq %d declares %d bytes, seq 0 declared %d", c.GetSeq(), c.GetTotalBytes(), a.want)
	}
	if uint64(len(a.buf))+uint64(len(data)) > a.want {
		return nil, false, fmt.Errorf("chunk: seq %d overruns the declared %d bytes", c.GetSeq(), a.want)
	}
	a.buf = append(a.buf, data...)
	a.next++
	if !c.GetLast() {
		return nil, false, nil
	}
	if uint64(len(a.buf)) != a.want {
		return nil, false, fmt.Errorf("chunk: last chunk ends at %d of %d declared bytes", len(a.buf), a.want)
	}
	a.done = true
	return a.buf, true, nil
}
