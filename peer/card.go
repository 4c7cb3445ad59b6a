package peer

import (
	"fmt"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// CardFor returns the model card of an architecture from its static facts
// (DESIGN.md "Data and models"): task fmnist, input [1,28,28], 10 classes,
// on the CPU. Parameters are counted for mlp (784-256-128-10); for cnn
// they are left 0 until the libtorch engine reports them.
func CardFor(model string) (*taonetv1.ModelCard, error) {
	card := &taonetv1.ModelCard{Task: "fmnist", Architecture: model, InputShape: []int64{1, 28, 28}, Classes: 10, Device: "cpu"}
	switch model {
	case "mlp":
		card.Parameters = 784*256 + 256 + 256*128 + 128 + 128*10 + 10
	case "cnn":
	default:
		return nil, fmt.Errorf("model %q is not mlp or cnn", model)
	}
	return card, nil
}
