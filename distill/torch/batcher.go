package torch

import (
	"fmt"
	"slices"

	"github.com/taonet/taonet/distill"
)

// batcher fills Fit's training batches from a Dataset with the values
// Dataset.Fill writes, by table: Fill normalises each pixel byte on its
// own with float64 arithmetic, which cost about a tenth of an mlp step.
// The batches it fills need no finiteness scan and their labels no range
// check: newBatcher checks the table and every label once.
type batcher struct {
	d   *distill.Dataset
	lut [256]float32 // lut[p] is what Fill writes for pixel byte p
}

// newBatcher checks that the examples idx of d exist and have labels
// below classes, and builds the table.
func newBatcher(d *distill.Dataset, idx []int, classes int) (*batcher, error) {
	f := d.Features()
	for _, i := range idx {
		if i < 0 || i >= d.Len() || len(d.Pixels) < (i+1)*f {
			return nil, fmt.Errorf("example %d is not in the data set (%d examples)", i, d.Len())
		}
		if int(d.Labels[i]) >= classes {
			return nil, fmt.Errorf("example %d has label %d, not below the model's %d classes", i, d.Labels[i], classes)
		}
	}
	b := &batcher{d: d}
	// The table is Fill's own output for every byte value.
	bytes := make([]byte, len(b.lut))
	for i := range bytes {
		bytes[i] = byte(i)
	}
	one := &distill.Dataset{Rows: 1, Cols: len(bytes), Classes: 1, Pixels: bytes, Labels: []byte{0}}
	one.Fill([]int{0}, b.lut[:], nil)
	if err := finite("normalised pixel", b.lut[:]); err != nil {
		return nil, err
	}
	// Should Fill ever stop treating each byte on its own, the table would
	// be wrong: compare it with Fill on a few examples and refuse to train.
	n := min(len(idx), 8)
	want, got := make([]float32, n*f), make([]float32, n*f)
	d.Fill(idx[:n], want, nil)
	b.fill(idx[:n], got, make([]int64, n))
	if !slices.Equal(want, got) {
		return nil, fmt.Errorf("batcher: the pixel table disagrees with Dataset.Fill")
	}
	return b, nil
}

// fill writes the normalised images of the examples idx into x and their
// labels into y, as d.Fill(idx, x, y) does.
func (b *batcher) fill(idx []int, x []float32, y []int64) {
	f := b.d.Features()
	for r, i := range idx {
		px := b.d.Pixels[i*f : (i+1)*f]
		row := x[r*f : (r+1)*f]
		row = row[:len(px)]
		for j, p := range px {
			row[j] = b.lut[p]
		}
		y[r] = int64(b.d.Labels[i])
	}
}
