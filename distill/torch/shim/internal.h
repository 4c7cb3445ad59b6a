// internal.h: what the shim's translation units share (not part of the C
// ABI): error handling, the model handle, how networks and optimizers are
// built, and the multi-tensor Adam update of adam.cc.
#ifndef TAONET_TORCH_INTERNAL_H
#define TAONET_TORCH_INTERNAL_H

#include "taonet_torch.h"

#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tn {

inline void check(bool ok, const std::string &msg) {
  if (!ok) throw std::invalid_argument(msg);
}

// kOutOfMemory is the error returned when the message itself cannot be
// allocated: static, so that this failure is never NULL (success), and
// read-only; tn_free recognises it and does not free it.
inline constexpr char kOutOfMemory[] = "out of memory";

inline char *out_of_memory() { return const_cast<char *>(kOutOfMemory); }

// dup_error copies msg into malloc'd memory, which the caller frees with
// tn_free, or returns out_of_memory() when malloc fails.
inline char *dup_error(const std::string &msg) noexcept {
  char *p = static_cast<char *>(std::malloc(msg.size() + 1));
  if (p == nullptr) return out_of_memory();
  std::memcpy(p, msg.c_str(), msg.size() + 1);
  return p;
}

// dup_string copies s into malloc'd memory for an out-parameter, which the
// caller frees with tn_free. It throws std::bad_alloc when malloc fails, so
// the call fails instead of handing back NULL.
inline char *dup_string(const std::string &s) {
  char *p = dup_error(s);
  if (p == out_of_memory()) throw std::bad_alloc();
  return p;
}

// first_line keeps the message of a c10::Error readable: libtorch appends a
// C++ backtrace after the first line.
inline std::string first_line(const char *what) {
  std::string s(what == nullptr ? "unknown error" : what);
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

// error_message is "op: what" (what's first line) as an error string. It
// never throws: a message it cannot build is out_of_memory().
inline char *error_message(const char *op, const char *what) noexcept {
  try {
    return dup_error(std::string(op) + ": " + first_line(what));
  } catch (...) {
    return out_of_memory();
  }
}

// sync_threads gives the calling thread libtorch's thread count of the
// last tn_set_num_threads (runtime.cc).
void sync_threads();

// guard runs fn and turns any exception into an error string: every entry
// point of the C ABI runs its body through it, on a thread whose libtorch
// thread count is the last one set. A failed allocation is out_of_memory(),
// with no attempt to allocate a message.
template <typename F>
char *guard(const char *op, F &&fn) noexcept {
  try {
    sync_threads();
    fn();
    return nullptr;
  } catch (const std::bad_alloc &) {
    return out_of_memory();
  } catch (const c10::Error &e) {
    return error_message(op, e.what_without_backtrace());
  } catch (const std::exception &e) {
    return error_message(op, e.what());
  } catch (...) {
    return error_message(op, "unknown C++ exception");
  }
}

// build_net builds architecture arch ("mlp" or "cnn") on the CPU.
torch::nn::Sequential build_net(const std::string &arch);

// build_opt builds optimizer kind ("adam" or "sgd") over params.
std::unique_ptr<torch::optim::Optimizer> build_opt(
    const std::string &kind, std::vector<torch::Tensor> params, double lr,
    double momentum, double weight_decay);

// Host is one host buffer to upload: values of dtype laid out row-major in
// shape, the shape the tensor has on the device.
struct Host {
  const void *data;
  std::vector<int64_t> shape;
  torch::ScalarType dtype;
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
  // on the stream do); on the CPU into fresh memory, so that no tensor a
  // training step keeps (autograd's saved inputs, optimizer state) aliases
  // a caller's buffer. (tn_model_forward reads CPU rows in place.)
  std::vector<torch::Tensor> upload(const std::vector<tn::Host> &hosts) const;

  // input_shape is the shape of n input rows for this architecture.
  std::vector<int64_t> input_shape(int64_t n) const;

  // adam_update reports how the next Adam step will be taken.
  tn_adam_update adam_update() const;

  // step takes one optimizer step with the gradients in place.
  void step();

 private:
  void multi_tensor_adam_step();
};

#endif
