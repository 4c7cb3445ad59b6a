// internal.h: what the shim's translation units share (not part of the C
// ABI): the model handle and the multi-tensor Adam update of adam.cc.
#ifndef TAONET_TORCH_INTERNAL_H
#define TAONET_TORCH_INTERNAL_H

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tn {

inline void check(bool ok, const std::string &msg) {
  if (!ok) throw std::invalid_argument(msg);
}

// Host is one host buffer to upload: values of dtype laid out row-major in
// shape, the shape the tensor has on the device.
struct Host {
  const void *data;
  std::vector<int64_t> shape;
  torch::ScalarType dtype;
};

// How the model's Adam steps are taken (tn_model_adam_update).
enum AdamUpdate : int32_t {
  kNotAdam = 0,      // the optimizer is not Adam
  kPerParam = 1,     // torch::optim::Adam::step, tensor by tensor
  kMultiTensor = 2,  // one pass over all tensors, portable kernel
  kFused = 3,        // one pass, PyTorch's fused CUDA kernel
};

// fused_built says whether this shim was compiled with PyTorch's fused Adam
// kernel (PyTorch 2.x, unless built with -DTAONET_NO_FUSED_ADAM).
bool fused_built();

}  // namespace tn

struct tn_model {
  std::string arch;
  torch::Device device{torch::kCPU};
  torch::nn::Sequential net{nullptr};
  std::vector<torch::Tensor> params;  // net's parameters, in order
  std::string opt_kind;
  std::unique_ptr<torch::optim::Optimizer> opt;

  // multi_tensor chooses the multi-tensor Adam update over
  // torch::optim::Adam::step; on by default where the fused kernel runs.
  bool multi_tensor = false;
  // steps[i] is the float32 step counter on the device that the
  // multi-tensor kernels read for parameter i; steps_at[i] is the value it
  // holds (-1: unknown). The integer step of torch::optim::Adam's state
  // stays the truth (checkpoints save it); a counter that disagrees with it
  // is refilled before the next step.
  std::vector<torch::Tensor> steps;
  std::vector<int64_t> steps_at;

  // upload copies host buffers to the model's device: on CUDA in one
  // transfer through pinned memory, without waiting for it (later kernels
  // on the stream do); on the CPU into fresh memory, so no tensor ever
  // aliases a caller's buffer.
  std::vector<torch::Tensor> upload(const std::vector<tn::Host> &hosts) const;

  // input_shape is the shape of n input rows for this architecture.
  std::vector<int64_t> input_shape(int64_t n) const;

  // adam_update reports how the next Adam step will be taken.
  tn::AdamUpdate adam_update() const;

  // step takes one optimizer step with the gradients in place.
  void step();

 private:
  void multi_tensor_adam_step();
};

#endif
