package distill

import "math/rand/v2"

// Cycle walks the positions 0..n-1 in a shuffled order, reshuffling after
// each pass, so that training draws every example of a set once per pass.
// A peer's round draws its private and transfer batches with it.
type Cycle struct {
	order []int
	at    int
	rng   *rand.Rand
}

// NewCycle is a Cycle over n positions, shuffled by rng (also for every
// later pass).
func NewCycle(n int, rng *rand.Rand) *Cycle {
	return &Cycle{order: rng.Perm(n), rng: rng}
}

// Next is the next position. A Cycle over no positions panics.
func (c *Cycle) Next() int {
	if c.at == len(c.order) {
		c.rng.Shuffle(len(c.order), func(a, b int) { c.order[a], c.order[b] = c.order[b], c.order[a] })
		c.at = 0
	}
	c.at++
	return c.order[c.at-1]
}
