package coordinator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/taonet/taonet/distill"
)

// Validation file names in a --validation folder of the operator's own.
const (
	ValidationImages = "validation-images-idx3-ubyte.gz"
	ValidationLabels = "validation-labels-idx1-ubyte.gz"
)

// LoadValidation reads the operator's labeled validation pool from dir:
// either validation-images-idx3-ubyte.gz and validation-labels-idx1-ubyte.gz
// (the whole file is the pool), or a Fashion-MNIST folder (train-* and
// t10k-*), whose pool is the first half of the test split
// (distill.Pools.Validation). public reports the latter: its labels are
// public, so in such a network a peer could look them up.
func LoadValidation(dir string, classes int) (v Validation, public bool, err error) {
	images, labels := filepath.Join(dir, ValidationImages), filepath.Join(dir, ValidationLabels)
	if _, err := os.Stat(images); err == nil {
		d, err := distill.LoadIDX(images, labels, classes)
		if err != nil {
			return Validation{}, false, fmt.Errorf("load validation: %w", err)
		}
		pool := make([]int, d.Len())
		for i := range pool {
			pool[i] = i
		}
		return Validation{Data: d, Pool: pool}, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Validation{}, false, fmt.Errorf("load validation: %w", err)
	}
	train, test, err := distill.LoadFashionMNIST(dir)
	if err != nil {
		return Validation{}, false, fmt.Errorf("load validation: %s has neither %s nor Fashion-MNIST: %w", dir, ValidationImages, err)
	}
	pools, err := distill.SplitPools(train, test)
	if err != nil {
		return Validation{}, false, fmt.Errorf("load validation: %w", err)
	}
	return Validation{Data: test, Pool: pools.Validation}, true, nil
}
