package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// pollEvery is how often the demo asks the coordinator.
const pollEvery = 250 * time.Millisecond

// waitJoined polls the directory until every peer of peers is in it,
// writing a line for each as it joins. A peer joins once its warm-up on
// its own shard is done, so this is also the end of the warm-up.
func waitJoined(ctx context.Context, cc grpc.ClientConnInterface, peers []peerSpec, c clock, w io.Writer) error {
	client := taonetv1.NewCoordinatorClient(cc)
	out := newProgress(w, c)
	want := byName(peers)
	seen := map[string]bool{}
	for {
		dir, err := listPeers(ctx, client)
		if err != nil && ctx.Err() != nil {
			out.clear()
			return fmt.Errorf("waiting for peers to join (%d of %d joined): %w", len(seen), len(peers), ctx.Err())
		}
		for _, p := range dir {
			if _, ok := want[p.GetName()]; !ok || seen[p.GetName()] {
				continue
			}
			seen[p.GetName()] = true
			card := p.GetCard()
			out.line("%*s  %-8s joined  %s, %s parameters  (%d of %d)", timeCol, c.stamp(), p.GetName(),
				card.GetArchitecture(), thousands(card.GetParameters()), len(seen), len(peers))
		}
		if len(seen) == len(peers) {
			return nil
		}
		out.tick(fmt.Sprintf("warming up: %d of %d joined", len(seen), len(peers)))
		select {
		case <-ctx.Done():
			out.clear()
			return fmt.Errorf("waiting for peers to join (%d of %d joined): %w", len(seen), len(peers), ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// listPeers reads the whole directory (joined peers, not away).
func listPeers(ctx context.Context, client taonetv1.CoordinatorClient) ([]*taonetv1.PeerInfo, error) {
	var all []*taonetv1.PeerInfo
	token := ""
	for {
		resp, err := client.ListPeers(ctx, &taonetv1.ListPeersRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list peers: %w", err)
		}
		all = append(all, resp.GetPeers()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// thousands writes n with commas: 63,786.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
