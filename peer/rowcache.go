package peer

import (
	"hash/maphash"
	"slices"
	"sync"
	"unsafe"
)

// maxCachedRows bounds the rows a rowCache keeps for one round: with
// Fashion-MNIST's 784 inputs and 10 classes about 26 MB. A round's
// transfer sample is 1,000 rows by default, plus each student's hidden
// checks; rows past the bound are answered by the model, uncached.
const maxCachedRows = 8192

// rowCache keeps the logits this peer answered students for each input
// row of the current round, so that the round's transfer rows, which every
// student sends (in its own order, with its own hidden rows mixed in), go
// through the model once per round rather than once per student. The
// first student to ask about a row gets the model's answer of that
// moment, and later students the same answer, even if this peer has
// trained meanwhile: a teacher's round answers come from one model.
//
// Rows are found by a hash of their values under a secret per-process
// seed and then compared value by value, so two different rows never
// share an answer. Only the newest round is kept; a job of an older round
// bypasses the cache.
type rowCache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	round uint64
	rows  map[uint64][]cachedRow
	n     int
}

type cachedRow struct {
	x, logits []float32
}

func newRowCache() *rowCache {
	return &rowCache{seed: maphash.MakeSeed(), rows: map[uint64][]cachedRow{}}
}

// rowCacheUnless is a new rowCache, or nil (no cache) when off is set.
func rowCacheUnless(off bool) *rowCache {
	if off {
		return nil
	}
	return newRowCache()
}

// hash is the hash of one input row's values.
func (c *rowCache) hash(row []float32) uint64 {
	if len(row) == 0 {
		return maphash.Bytes(c.seed, nil)
	}
	return maphash.Bytes(c.seed, unsafe.Slice((*byte)(unsafe.Pointer(&row[0])), len(row)*4))
}

// fill writes into out (rows*classes) the cached logits of every row of x
// (rows of f values) and returns the positions of the rows it does not
// hold. ok is false when round is older than the cache's: the caller
// answers the whole job from the model and stores nothing.
func (c *rowCache) fill(round uint64, x []float32, f, classes int, out []float32) (missing []int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if round < c.round {
		return nil, false
	}
	if round > c.round {
		c.round, c.rows, c.n = round, map[uint64][]cachedRow{}, 0
	}
	for r := range len(x) / f {
		row := x[r*f : (r+1)*f]
		found := false
		for _, e := range c.rows[c.hash(row)] {
			if slices.Equal(e.x, row) {
				copy(out[r*classes:(r+1)*classes], e.logits)
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, r)
		}
	}
	return missing, true
}

// add keeps the logits of rows of round, while there is room. x and
// logits are copied.
func (c *rowCache) add(round uint64, x []float32, f int, logits []float32, classes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if round != c.round {
		return // a newer round started while the model answered
	}
	for r := range len(x) / f {
		if c.n >= maxCachedRows {
			return
		}
		row := x[r*f : (r+1)*f]
		h := c.hash(row)
		if slices.ContainsFunc(c.rows[h], func(e cachedRow) bool { return slices.Equal(e.x, row) }) {
			continue // another student's answer got there first
		}
		c.rows[h] = append(c.rows[h], cachedRow{x: slices.Clone(row), logits: slices.Clone(logits[r*classes : (r+1)*classes])})
		c.n++
	}
}
