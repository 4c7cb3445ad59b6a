package distill

import (
	"fmt"
	"path/filepath"
)

// Fashion-MNIST facts: the Debian package's folder and the per-pixel
// normalisation (mean and standard deviation of the training images).
const (
	FashionMNISTDir = "/usr/share/datasets/fashion-mnist"
	FashionClasses  = 10
	pixelMean       = 0.2860
	pixelStd        = 0.3530
)

// Dataset is a labeled set of grayscale images kept as bytes.
type Dataset struct {
	Rows, Cols int    // image height and width
	Classes    int    // labels are in [0, Classes)
	Pixels     []byte // Len() images of Rows*Cols bytes, row-major
	Labels     []byte // one label per image
}

// Len is the number of examples.
func (d *Dataset) Len() int { return len(d.Labels) }

// Features is the number of values per example (Rows*Cols).
func (d *Dataset) Features() int { return d.Rows * d.Cols }

// Fill writes the normalised images of the examples idx into x (len(idx) *
// Features() values) and their labels into y (len(idx) values, or nil).
func (d *Dataset) Fill(idx []int, x []float32, y []int64) {
	f := d.Features()
	for r, i := range idx {
		px := d.Pixels[i*f : (i+1)*f]
		row := x[r*f : (r+1)*f]
		for j, p := range px {
			row[j] = float32((float64(p)/255 - pixelMean) / pixelStd)
		}
		if y != nil {
			y[r] = int64(d.Labels[i])
		}
	}
}

// LoadFashionMNIST reads the training and test splits from dir (the
// train-* and t10k-* IDX files, gzipped, as Debian's dataset-fashion-mnist
// ships them).
func LoadFashionMNIST(dir string) (train, test *Dataset, err error) {
	load := func(prefix string) (*Dataset, error) {
		return LoadIDX(filepath.Join(dir, prefix+"-images-idx3-ubyte.gz"),
			filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz"), FashionClasses)
	}
	if train, err = load("train"); err != nil {
		return nil, nil, fmt.Errorf("load fashion-mnist: %w", err)
	}
	if test, err = load("t10k"); err != nil {
		return nil, nil, fmt.Errorf("load fashion-mnist: %w", err)
	}
	if train.Rows != test.Rows || train.Cols != test.Cols {
		return nil, nil, fmt.Errorf("load fashion-mnist: train images are %dx%d, test %dx%d", train.Rows, train.Cols, test.Rows, test.Cols)
	}
	return train, test, nil
}

// Pools is the split of docs/design.md "Data and models". Of the training split,
// the first sixth (10,000 of Fashion-MNIST's 60,000) is the public
// unlabeled transfer pool every peer has, the rest (50,000) the private pool
// that Partition shares among peers. Of the test split, the first half
// (5,000) is the coordinator's validation pool and the second half (5,000)
// the report pool, which never influences weights. The split is contiguous,
// so every party derives it without a seed.
type Pools struct {
	Train, Test *Dataset
	Transfer    []int // indices into Train
	Private     []int // indices into Train
	Validation  []int // indices into Test
	Report      []int // indices into Test
	All         []int // every index of Train: the centralized reference
}

// SplitPools splits train and test as Pools documents. Each pool must come
// out non-empty.
func SplitPools(train, test *Dataset) (*Pools, error) {
	if train.Len() < 6 || test.Len() < 2 {
		return nil, fmt.Errorf("split pools: %d training and %d test examples are too few", train.Len(), test.Len())
	}
	nt := train.Len() / 6
	nv := test.Len() / 2
	return &Pools{
		Train:      train,
		Test:       test,
		Transfer:   span(0, nt),
		Private:    span(nt, train.Len()),
		Validation: span(0, nv),
		Report:     span(nv, test.Len()),
		All:        span(0, train.Len()),
	}, nil
}

func span(from, to int) []int {
	s := make([]int, to-from)
	for i := range s {
		s[i] = from + i
	}
	return s
}
