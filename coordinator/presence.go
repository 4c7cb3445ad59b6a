package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// presence tells which joined peers are away: a peer whose Watch streams
// have all been gone for longer than the grace period (counted from its
// last stream's end, its join, or the coordinator's start, whichever is
// latest) is away until it opens a Watch stream or joins again. Away peers
// stay in the ledger's directory as active; presence is a live property of
// this process, so a restarted coordinator gives every peer a fresh grace
// period.
type presence struct {
	grace time.Duration
	start time.Time

	mu       sync.Mutex
	watching map[string]int       // open Watch streams per identity
	lost     map[string]time.Time // when the last Watch stream of an identity ended
	away     map[string]bool
}

func newPresence(grace time.Duration, now time.Time) *presence {
	return &presence{grace: grace, start: now, watching: map[string]int{}, lost: map[string]time.Time{}, away: map[string]bool{}}
}

// watchOpened records an open Watch stream of identity and reports whether
// that brings it back from away.
func (p *presence) watchOpened(identity string) (back bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watching[identity]++
	delete(p.lost, identity)
	back = p.away[identity]
	delete(p.away, identity)
	return back
}

// watchClosed records the end of a Watch stream of identity.
func (p *presence) watchClosed(identity string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watching[identity]--; p.watching[identity] <= 0 {
		delete(p.watching, identity)
		p.lost[identity] = now
	}
}

// joined clears away for identity: a Join starts a fresh grace period
// (JoinPeer sets joined_at) and publishes JOINED.
func (p *presence) joined(identity string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.away, identity)
	delete(p.lost, identity)
}

// forget drops identity (it left or was revoked).
func (p *presence) forget(identity string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.away, identity)
	delete(p.lost, identity)
}

// isAway reports whether identity is away.
func (p *presence) isAway(identity string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.away[identity]
}

// countAway is how many peers are away now.
func (p *presence) countAway() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.away)
}

// sweep marks away the peers of active that have had no Watch stream for
// longer than the grace period at now, and returns those newly away.
func (p *presence) sweep(active []ledger.Entry, now time.Time) []ledger.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gone []ledger.Entry
	for _, e := range active {
		if p.watching[e.Identity] > 0 || p.away[e.Identity] {
			continue
		}
		since := p.start
		if t, ok := p.lost[e.Identity]; ok && t.After(since) {
			since = t
		}
		if e.JoinedAt.After(since) {
			since = e.JoinedAt
		}
		if now.Sub(since) > p.grace {
			p.away[e.Identity] = true
			gone = append(gone, e)
		}
	}
	return gone
}

// sweepAway marks peers away every grace/4 (at least every second) and
// publishes AWAY for each, under the directory lock like every directory
// change.
func (s *Server) sweepAway(ctx context.Context) {
	every := max(s.cfg.AwayAfter/4, 10*time.Millisecond)
	every = min(every, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The read is under the lock too: a Join between a read and the
		// sweep would otherwise be judged by its old joined_at.
		s.dirMu.Lock()
		active, err := activePeers(ctx, s.home.db)
		if err != nil {
			s.dirMu.Unlock()
			if ctx.Err() == nil {
				s.cfg.Logger.Error("read directory for presence", "err", err)
			}
			continue
		}
		for _, e := range s.presence.sweep(active, time.Now()) {
			s.cfg.Logger.Info("peer away", "identity", e.Identity, "grace", s.cfg.AwayAfter)
			s.publishDirectory(taonetv1.DirectoryChange_DIRECTORY_CHANGE_AWAY, e)
		}
		s.dirMu.Unlock()
	}
}

// activePeers reads every active peer of the ledger's directory, a page at
// a time.
func activePeers(ctx context.Context, store interface {
	ActivePeers(ctx context.Context, after string, limit int) ([]ledger.Entry, error)
}) ([]ledger.Entry, error) {
	var all []ledger.Entry
	after := ""
	for {
		page, err := store.ActivePeers(ctx, after, maxPageSize)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < maxPageSize {
			return all, nil
		}
		after = page[len(page)-1].Identity
	}
}
