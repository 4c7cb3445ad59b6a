package peer

import (
	"fmt"
	"sync"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/distill/torch"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// Model is what the Peer service serves. The libtorch engine implements it
// (TorchModel); tests and benchmarks may serve a cheap stand-in.
//
// Forward and Apply may be called from many goroutines; an implementation
// serialises them itself. Forward must not track gradients.
type Model interface {
	// Card describes the model as it is now.
	Card() *taonetv1.ModelCard
	// Forward returns rows*Classes logits for rows of InFeatures values.
	Forward(x []float32) ([]float32, error)
	// Apply backpropagates grad, another party's gradient of its loss with
	// respect to the logits Forward(x) returned (already clipped and scaled
	// by the caller), and takes one optimizer step.
	Apply(x, grad []float32) error
}

// CallerModel is a Model that answers each caller its own way. The
// service uses ForwardFor instead of Forward when the served model has it:
// honest peers never need it; tests use it to script a two-faced peer that
// answers the coordinator well and its rivals with poison.
type CallerModel interface {
	Model
	ForwardFor(caller certs.ID, x []float32) ([]float32, error)
}

// TorchModel serves a libtorch model (package distill/torch).
//
// Forward and training share the one model under its mutex, which the
// engine holds for exactly one call (one forward pass, one optimizer step).
// So a Forward waits for at most the step in progress: Go's sync.Mutex hands
// the lock to a waiter that has waited over 1ms before any newcomer
// (starvation mode), so a training loop that takes the lock step after step
// cannot keep a Forward out for longer than one step. The serving weights
// are therefore always those after the last completed step, and no copy of
// the weights is kept.
type TorchModel struct {
	m *torch.Model
	// task is the network task the model is trained for.
	task string
	// inputShape is one input's shape, e.g. [1, 28, 28].
	inputShape []int64

	mu    sync.Mutex // guards steps
	steps uint64     // optimizer steps taken through Apply
}

// NewTorchModel wraps m for task (e.g. "fmnist") with inputs of shape
// inputShape, whose product must be m's InFeatures.
func NewTorchModel(m *torch.Model, task string, inputShape []int64) (*TorchModel, error) {
	n := int64(1)
	for _, d := range inputShape {
		n *= d
	}
	if len(inputShape) == 0 || n != int64(m.InFeatures()) {
		return nil, fmt.Errorf("model: input shape %v does not hold the %d features of %s", inputShape, m.InFeatures(), m.Arch())
	}
	return &TorchModel{m: m, task: task, inputShape: append([]int64(nil), inputShape...)}, nil
}

// Engine is the libtorch model itself (training, checkpoints).
func (t *TorchModel) Engine() *torch.Model { return t.m }

// Card is the live card: architecture, parameter count and device come
// from the engine's model.
func (t *TorchModel) Card() *taonetv1.ModelCard {
	return &taonetv1.ModelCard{
		Task:         t.task,
		Architecture: t.m.Arch(),
		InputShape:   append([]int64(nil), t.inputShape...),
		Classes:      uint32(t.m.Classes()),
		Device:       t.m.Device().String(),
		Parameters:   uint64(t.m.NumParams()),
	}
}

// Forward runs the model under no-grad, in eval mode.
func (t *TorchModel) Forward(x []float32) ([]float32, error) { return t.m.Forward(x) }

// Apply takes one optimizer step on an external logits gradient. The
// gradient is clipped by the caller, so the engine does not clip again.
func (t *TorchModel) Apply(x, grad []float32) error {
	if _, err := t.m.Backward(x, grad, 0); err != nil {
		return err
	}
	t.mu.Lock()
	t.steps++
	t.mu.Unlock()
	return nil
}
