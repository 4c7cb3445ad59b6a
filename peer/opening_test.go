package peer_test

import (
	"fmt"
	"testing"

	"github.com/taonet/taonet/peer"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// roundInParts is a RoundOpened of round r split into parts events of two
// peers each.
func roundInParts(r uint64, parts int) []*taonetv1.WatchResponse {
	entries := func(part int) ([]*taonetv1.PeerInfo, []*taonetv1.TeacherWeight) {
		var dir []*taonetv1.PeerInfo
		var ws []*taonetv1.TeacherWeight
		for i := range 2 {
			id := fmt.Sprintf("spiffe://test.local/peer/p%d-%d", part, i)
			dir = append(dir, &taonetv1.PeerInfo{Identity: id})
			ws = append(ws, &taonetv1.TeacherWeight{Identity: id, Weight: 0.1})
		}
		return dir, ws
	}
	dir, ws := entries(0)
	out := []*taonetv1.WatchResponse{{Event: &taonetv1.WatchResponse_RoundOpened{RoundOpened: &taonetv1.RoundOpened{
		Round: r, Parts: uint32(parts), Directory: dir, Weights: ws}}}}
	for p := 1; p < parts; p++ {
		dir, ws := entries(p)
		out = append(out, &taonetv1.WatchResponse{Event: &taonetv1.WatchResponse_RoundOpenedPart{RoundOpenedPart: &taonetv1.RoundOpenedPart{
			Round: r, Part: uint32(p), Directory: dir, Weights: ws}}})
	}
	return out
}

// TestRoundOpenedInParts: a peer starts a round sent in parts once the
// last part arrives, with every part's directory and weights; a part out
// of order or of another round is refused and the round never starts
// half-known.
func TestRoundOpenedInParts(t *testing.T) {
	done, errs := peer.Assemble(roundInParts(4, 3))
	if len(errs) != 0 || len(done) != 1 {
		t.Fatalf("in order: %d rounds, errors %v", len(done), errs)
	}
	if r := done[0]; r.GetRound() != 4 || len(r.GetDirectory()) != 6 || len(r.GetWeights()) != 6 {
		t.Fatalf("round %d with %d entries and %d weights, want 6", r.GetRound(), len(r.GetDirectory()), len(r.GetWeights()))
	}
	if done, _ := peer.Assemble(roundInParts(5, 1)); len(done) != 1 {
		t.Fatal("a round in one event did not start")
	}

	ev := roundInParts(6, 3)
	if done, errs := peer.Assemble([]*taonetv1.WatchResponse{ev[0], ev[2], ev[1]}); len(done) != 0 || len(errs) == 0 {
		t.Fatalf("parts out of order: %d rounds, errors %v", len(done), errs)
	}
	other := roundInParts(7, 3)
	if done, errs := peer.Assemble([]*taonetv1.WatchResponse{ev[0], other[1], ev[1]}); len(done) != 0 || len(errs) == 0 {
		t.Fatalf("a part of another round: %d rounds, errors %v", len(done), errs)
	}
	// A new round replaces one still being assembled.
	if done, _ := peer.Assemble(append([]*taonetv1.WatchResponse{ev[0], ev[1]}, other...)); len(done) != 1 || done[0].GetRound() != 7 {
		t.Fatalf("a newer round while one was incomplete: %v", done)
	}
}
