package certs

import (
	"context"
	"errors"
	"sync"
)

// ErrRevoked is returned (wrapped) for an identity whose certificates were
// revoked.
var ErrRevoked = errors.New("identity revoked")

// RevocationStore lists revoked identities. The ledger implements it on
// SQLite; `coordinator revoke` writes to it.
type RevocationStore interface {
	// RevokedIdentities returns every revoked SPIFFE ID.
	RevokedIdentities(ctx context.Context) ([]string, error)
}

// Revocations is an in-memory set of revoked identities, refreshed from a
// RevocationStore by its owner. It is safe for concurrent use.
type Revocations struct {
	mu  sync.RWMutex
	ids map[string]struct{}
}

// NewRevocations returns an empty set.
func NewRevocations() *Revocations {
	return &Revocations{ids: map[string]struct{}{}}
}

// Contains reports whether id is revoked.
func (r *Revocations) Contains(id ID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.ids[id.String()]
	return ok
}

// Refresh replaces the set with the store's contents and returns the
// identities that were not in it before.
func (r *Revocations) Refresh(ctx context.Context, store RevocationStore) ([]string, error) {
	list, err := store.RevokedIdentities(ctx)
	if err != nil {
		return nil, err
	}
	next := make(map[string]struct{}, len(list))
	var added []string
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range list {
		next[s] = struct{}{}
		if _, ok := r.ids[s]; !ok {
			added = append(added, s)
		}
	}
	r.ids = next
	return added, nil
}

// Add marks id revoked at once (e.g. right after a revoke command in the
// same process).
func (r *Revocations) Add(id ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[id.String()] = struct{}{}
}
