package peer

import (
	"errors"
	"fmt"
	"sync"
)

// Errors of the gradient bookkeeping; the service maps them to statuses.
var (
	errUnknownBatch   = errors.New("unknown batch")
	errSecondBackward = errors.New("second Backward stream")
	errWrongRound     = errors.New("wrong round")
)

// recordKey names one answered batch: who asked, in which round, which
// batch.
type recordKey struct {
	caller string
	round  uint64
	batch  uint64
}

// records keeps, for the current round, the inputs of every batch this
// peer answered for a peer caller, so that the caller's Backward gradient
// can be applied to exactly those inputs. Memory is bounded by maxBytes
// (inputs beyond it are not kept, so their gradients are refused), and
// everything of earlier rounds is dropped when a round opens. Batches of
// the next round are kept too: a student that learned of the round first
// may ask before this peer's own RoundOpened arrives.
type records struct {
	maxBytes int

	mu       sync.Mutex
	round    uint64
	bytes    int
	byKey    map[recordKey][]float32
	backward map[string]bool // callers that opened a Backward stream this round
}

func newRecords(maxBytes int) *records {
	return &records{maxBytes: maxBytes, byKey: map[recordKey][]float32{}, backward: map[string]bool{}}
}

// setRound starts round r: every record of earlier rounds is dropped.
func (r *records) setRound(round uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if round <= r.round {
		return
	}
	r.round = round
	for k, x := range r.byKey {
		if k.round < round {
			r.bytes -= len(x) * 4
			delete(r.byKey, k)
		}
	}
	r.backward = map[string]bool{}
}

// current is the round records are kept for.
func (r *records) current() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.round
}

// keep stores x for (caller, round, batch) when round is the current round
// and the memory bound allows; it reports whether it did. A batch answered
// twice keeps the latest inputs.
func (r *records) keep(caller string, round, batch uint64, x []float32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if round == 0 || (round != r.round && round != r.round+1) {
		return false
	}
	k := recordKey{caller, round, batch}
	old := len(r.byKey[k]) * 4
	if r.bytes-old+len(x)*4 > r.maxBytes {
		return false
	}
	r.byKey[k] = x
	r.bytes += len(x)*4 - old
	return true
}

// openBackward admits caller's one Backward stream of round.
func (r *records) openBackward(caller string, round uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if round == 0 || round != r.round {
		return fmt.Errorf("%w: round %d, this peer is in round %d", errWrongRound, round, r.round)
	}
	if r.backward[caller] {
		return fmt.Errorf("%w: %s already sent its gradients for round %d", errSecondBackward, caller, round)
	}
	r.backward[caller] = true
	return nil
}

// inputs returns the inputs kept for (caller, round, batch).
func (r *records) inputs(caller string, round, batch uint64) ([]float32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if round != r.round {
		return nil, fmt.Errorf("%w: batch %d is of round %d, this peer is in round %d", errWrongRound, batch, round, r.round)
	}
	x, ok := r.byKey[recordKey{caller, round, batch}]
	if !ok {
		return nil, fmt.Errorf("%w: batch %d of round %d was not answered for %s", errUnknownBatch, batch, round, caller)
	}
	return x, nil
}
