package torch

/*
#include "calls.h"
*/
import "C"

import "fmt"

// How a model's Adam steps are taken (Model.AdamUpdate).
const (
	// AdamPerParam is libtorch's torch::optim::Adam step: about eight small
	// kernels per parameter tensor.
	AdamPerParam = "per-param"
	// AdamMultiTensor is one update of all parameter tensors per step with
	// the shim's portable kernel (the same math, ordinary tensor ops): what
	// SetMultiTensorAdam(true) gives where the fused kernel is not there.
	AdamMultiTensor = "multi-tensor"
	// AdamFused is one update of all parameter tensors per step in
	// PyTorch's fused CUDA kernel, the same one torch.optim.Adam(fused=True)
	// runs: the default on CUDA when the shim was built against PyTorch 2.x.
	AdamFused = "fused"
)

// SetMultiTensorAdam chooses how Adam steps are taken: on, one
// multi-tensor update of all parameters per step (AdamFused where the
// shim has PyTorch's fused kernel and the model is on CUDA, else
// AdamMultiTensor); off, AdamPerParam. All three keep the same optimizer
// state, so checkpoints and SetLR carry over and the choice can change
// between steps. It has no effect while the optimizer is SGD.
func (m *Model) SetMultiTensorAdam(on bool) error {
	var v C.int32_t
	if on {
		v = 1
	}
	return m.call("set adam update", func(h *C.tn_model) *C.char { return C.c_model_set_multi_tensor_adam(h, v) })
}

// AdamUpdate reports how the model's next Adam step will be taken:
// AdamPerParam, AdamMultiTensor or AdamFused, or "" when the optimizer is
// not Adam.
func (m *Model) AdamUpdate() (string, error) {
	var v C.int32_t
	if err := m.call("adam update", func(h *C.tn_model) *C.char { return C.c_model_adam_update(h, &v) }); err != nil {
		return "", err
	}
	switch v {
	case C.TN_ADAM_NOT_ADAM:
		return "", nil
	case C.TN_ADAM_PER_PARAM:
		return AdamPerParam, nil
	case C.TN_ADAM_MULTI_TENSOR:
		return AdamMultiTensor, nil
	case C.TN_ADAM_FUSED:
		return AdamFused, nil
	}
	return "", fmt.Errorf("adam update: unknown kind %d from the shim", v)
}
