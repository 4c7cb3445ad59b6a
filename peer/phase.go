package peer

import "sync"

// phase is where the network's current round stands, as this peer learned
// it from Watch: the round number and whether its evaluation phase has
// begun. During evaluation Forward answers only the coordinator, so no peer
// can relay another peer's answers to the validator.
type phase struct {
	mu         sync.RWMutex
	round      uint64
	evaluating bool
}

// open records that round r is open and distilling. A repeated open of
// the current round (a Watch stream that reconnected gets the round's
// events again) leaves its phase as it is.
func (p *phase) open(r uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r == p.round {
		return
	}
	p.round, p.evaluating = r, false
}

// evaluate records that round r's evaluation began.
func (p *phase) evaluate(r uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.round, p.evaluating = r, true
}

// close records that round r closed.
func (p *phase) close(r uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.round == r {
		p.evaluating = false
	}
}

// get returns the round and whether it is evaluating.
func (p *phase) get() (uint64, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.round, p.evaluating
}
