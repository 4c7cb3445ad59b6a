package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// errSlowWatcher cuts a Watch stream that fell WatchBuffer events behind.
var errSlowWatcher = errors.New("watch stream fell too far behind; reconnect")

// errTooManyWatches refuses a Watch stream over MaxWatches per identity.
var errTooManyWatches = errors.New("too many Watch streams")

// hub fans events out to every open Watch stream. Directory changes come
// from the services and the revocation poller; the round scheduler (a later
// part) publishes round events the same way. Publish never blocks: a
// watcher whose buffer is full is cut and must reconnect.
type hub struct {
	buffer int
	max    int // Watch streams per identity
	mu     sync.Mutex
	subs   map[*watcher]struct{}
	byID   map[string]int // open streams per identity
	cuts   atomic.Uint64  // watchers cut for falling behind
}

// watcher is one open Watch stream.
type watcher struct {
	identity string
	events   chan *event
	cut      context.CancelCauseFunc
}

// newHub makes a hub whose watchers buffer buffer events, with at most
// maxPerID watchers per identity.
func newHub(buffer, maxPerID int) *hub {
	return &hub{buffer: buffer, max: maxPerID, subs: map[*watcher]struct{}{}, byID: map[string]int{}}
}

// subscribe registers a watcher for identity; cut ends its stream. It
// fails with errTooManyWatches when identity already has max watchers:
// each holds a buffer of events, so their number must not grow with what
// one caller asks for. Every watcher returned must be unsubscribed.
func (h *hub) subscribe(identity string, cut context.CancelCauseFunc) (*watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byID[identity] >= h.max {
		return nil, fmt.Errorf("%w: %s already has %d open, the most allowed; close one first", errTooManyWatches, identity, h.byID[identity])
	}
	w := &watcher{identity: identity, events: make(chan *event, h.buffer), cut: cut}
	h.subs[w] = struct{}{}
	h.byID[identity]++
	return w, nil
}

// unsubscribe removes w; its slot is free again even if publish already
// dropped it as too slow.
func (h *hub) unsubscribe(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, w)
	if h.byID[w.identity]--; h.byID[w.identity] <= 0 {
		delete(h.byID, w.identity)
	}
}

// publish queues ev, encoded once, for every watcher.
func (h *hub) publish(msg *taonetv1.WatchResponse) {
	ev := newEvent(msg)
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs {
		select {
		case w.events <- ev:
		default:
			delete(h.subs, w)
			w.cut(errSlowWatcher)
			h.cuts.Add(1)
		}
	}
}

// depth returns the Watch streams open, the events queued for them in all
// and the most queued for one of them (of buffer at most).
func (h *hub) depth() (streams, queued, fullest int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs {
		n := len(w.events)
		queued += n
		fullest = max(fullest, n)
	}
	return len(h.subs), queued, fullest
}
