package peer

import (
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
	case taonetv1.DirectoryChange_DIRECTORY_CHANGE_LEFT, taonetv1.DirectoryChange_DIRECTORY_CHANGE_REVOKED:
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
