package peer

import (
	"path/filepath"
	"sync"

	"github.com/taonet/taonet/distill"
)

// poolCache keeps each data folder's pools once per process: the datasets
// are read-only after loading, and several peers in one process (tests,
// benchmarks) share them.
var poolCache struct {
	mu    sync.Mutex
	pools map[string]*distill.Pools
}

// loadPools reads the Fashion-MNIST IDX files of dir and splits them into
// the pools of docs/design.md "Data and models".
func loadPools(dir string) (*distill.Pools, error) {
	key, err := filepath.Abs(dir)
	if err != nil {
		key = dir
	}
	poolCache.mu.Lock()
	defer poolCache.mu.Unlock()
	if p, ok := poolCache.pools[key]; ok {
		return p, nil
	}
	train, test, err := distill.LoadFashionMNIST(dir)
	if err != nil {
		return nil, err
	}
	p, err := distill.SplitPools(train, test)
	if err != nil {
		return nil, err
	}
	if poolCache.pools == nil {
		poolCache.pools = map[string]*distill.Pools{}
	}
	poolCache.pools[key] = p
	return p, nil
}
