package peer

import (
	"fmt"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// CardFor returns the model card of an architecture from its static facts
// (DESIGN.md "Data and models"): task fmnist, input [1,28,28], 10 classes,
// on the CPU. Parameters are counted from the architectures the libtorch
// engine builds (distill/torch/shim): mlp 784-256-128-10, and cnn
// conv5x5(1->16), pool, conv5x5(16->32), pool, 1568-32-10.
func CardFor(model string) (*taonetv1.ModelCard, error) {
	card := &taonetv1.ModelCard{Task: "fmnist", Architecture: model, InputShape: []int64{1, 28, 28}, Classes: 10, Device: "cpu"}
	switch model {
	case "mlp":
		card.Parameters = 784*256 + 256 + 256*128 + 128 + 128*10 + 10
	case "cnn":
		card.Parameters = (16*25 + 16) + (32*16*25 + 32) + (32*7*7*32 + 32) + (32*10 + 10)
	default:
		return nil, fmt.Errorf("model %q is not mlp or cnn", model)
	}
	return card, nil
}
