package peer

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/taonet/taonet/certs"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// directory is this peer's view of the coordinator's directory, learned
// from Join, ListPeers and Watch. It decides which peers may call.
type directory struct {
	mu    sync.RWMutex
	peers map[string]*taonetv1.PeerInfo
}

func newDirectory() *directory { return &directory{peers: map[string]*taonetv1.PeerInfo{}} }

// replace sets the whole directory.
func (d *directory) replace(list []*taonetv1.PeerInfo) {
	m := make(map[string]*taonetv1.PeerInfo, len(list))
	for _, p := range list {
		m[p.GetIdentity()] = proto.Clone(p).(*taonetv1.PeerInfo)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.peers = m
}

// apply applies one directory change.
func (d *directory) apply(ch *taonetv1.DirectoryChanged) {
	p := ch.GetPeer()
	if p == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch ch.GetChange() {
	case taonetv1.DirectoryChange_DIRECTORY_CHANGE_JOINED:
		d.peers[p.GetIdentity()] = proto.Clone(p).(*taonetv1.PeerInfo)
	case taonetv1.DirectoryChange_DIRECTORY_CHANGE_LEFT, taonetv1.DirectoryChange_DIRECTORY_CHANGE_REVOKED,
		taonetv1.DirectoryChange_DIRECTORY_CHANGE_AWAY:
		delete(d.peers, p.GetIdentity())
	}
}

// contains reports whether id is a peer in the directory.
func (d *directory) contains(id certs.ID) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.peers[id.String()]
	return ok
}

// list returns every entry.
func (d *directory) list() []*taonetv1.PeerInfo {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]*taonetv1.PeerInfo, 0, len(d.peers))
	for _, p := range d.peers {
		out = append(out, p)
	}
	return out
}

// opening assembles a RoundOpened sent in parts (RoundOpened.parts > 1):
// the round starts once every part arrived, in order.
type opening struct {
	round *taonetv1.RoundOpened
	got   uint32
}

// start begins a round's assembly and returns the round at once when it
// came whole.
func (o *opening) start(ev *taonetv1.RoundOpened) *taonetv1.RoundOpened {
	if ev.GetParts() <= 1 {
		o.round = nil
		return ev
	}
	o.round, o.got = proto.Clone(ev).(*taonetv1.RoundOpened), 1
	return nil
}

// add appends one part and returns the whole round when it was the last.
func (o *opening) add(part *taonetv1.RoundOpenedPart) (*taonetv1.RoundOpened, error) {
	if o.round == nil || part.GetRound() != o.round.GetRound() || part.GetPart() != o.got {
		return nil, fmt.Errorf("part %d of round %d does not follow what this peer holds", part.GetPart(), part.GetRound())
	}
	o.round.Directory = append(o.round.Directory, part.GetDirectory()...)
	o.round.Weights = append(o.round.Weights, part.GetWeights()...)
	if o.got++; o.got < o.round.GetParts() {
		return nil, nil
	}
	r := o.round
	o.round = nil
	return r, nil
}
