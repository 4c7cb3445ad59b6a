package main

import (
	"testing"

	"github.com/taonet/taonet/distill/torch"
	"github.com/taonet/taonet/peer"
)

// TestCardMatchesEngine keeps the model card a peer announces (peer.CardFor,
// which must not link libtorch) equal to the models the engine builds.
func TestCardMatchesEngine(t *testing.T) {
	for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
		t.Run("OK/"+arch, func(t *testing.T) {
			m, err := torch.NewModel(arch, torch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			card, err := peer.CardFor(arch)
			if err != nil {
				t.Fatal(err)
			}
			if card.GetParameters() != uint64(m.NumParams()) {
				t.Fatalf("card says %d parameters, the engine's %s has %d", card.GetParameters(), arch, m.NumParams())
			}
		})
	}
	t.Run("ErrUnknown", func(t *testing.T) {
		if _, err := peer.CardFor("transformer"); err == nil {
			t.Fatal("unknown architecture accepted")
		}
	})
}
