// Package testdata makes small data sets for tests of other packages. It is
// imported by tests only.
package testdata

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/taonet/taonet/distill"
)

// TinyFashion writes a small, learnable Fashion-MNIST look-alike into a new
// folder and returns it: train and test examples of 28x28 noise in which
// the label lights up one band of 78 pixels. The files are IDX, gzipped,
// named as Debian's dataset-fashion-mnist names them.
func TinyFashion(tb testing.TB, train, test int) string {
	tb.Helper()
	dir := tb.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct {
		prefix string
		n      int
	}{{"train", train}, {"t10k", test}} {
		d := &distill.Dataset{Rows: 28, Cols: 28, Classes: 10, Pixels: make([]byte, s.n*784), Labels: make([]byte, s.n)}
		for i := range s.n {
			y := rng.IntN(10)
			d.Labels[i] = byte(y)
			for j := range 784 {
				d.Pixels[i*784+j] = byte(rng.IntN(60))
			}
			for j := y * 78; j < (y+1)*78; j++ {
				d.Pixels[i*784+j] = 250
			}
		}
		err := distill.WriteIDX(d, filepath.Join(dir, s.prefix+"-images-idx3-ubyte.gz"), filepath.Join(dir, s.prefix+"-labels-idx1-ubyte.gz"))
		if err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
