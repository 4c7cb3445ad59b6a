// adam.cc: the multi-tensor Adam update. torch::optim::Adam::step updates
// one parameter tensor at a time, about eight small kernels each; on a GPU
// a small model's step is then bound by kernel launches. PyTorch 2.x has a
// fused kernel, at::_fused_adam_, that updates every tensor of a model in
// one launch (PyTorch's own torch.optim.Adam(fused=True) uses it). This
// file runs it on the state that torch::optim::Adam owns (exp_avg,
// exp_avg_sq, the integer step), so checkpoints, learning-rate changes and
// a switch back to torch::optim::Adam::step keep working. Where the fused
// kernel is not there (libtorch 1.x, the CPU, -DTAONET_NO_FUSED_ADAM) the
// same bookkeeping runs with a portable kernel of the same math, which is
// how the CPU tests check everything but the CUDA kernel itself.
#include "internal.h"

#include <torch/version.h>

#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#if TORCH_VERSION_MAJOR >= 2 && !defined(TAONET_NO_FUSED_ADAM)
#define TAONET_FUSED_ADAM 1
#if defined(__has_include)
#if __has_include(<ATen/ops/_fused_adam.h>)
#include <ATen/ops/_fused_adam.h>
#endif
#endif
#else
#define TAONET_FUSED_ADAM 0
#endif

namespace tn {

bool fused_built() { return TAONET_FUSED_ADAM != 0; }

namespace {

using TensorVec = std::vector<torch::Tensor>;

// state_key is the key torch::optim keeps a parameter's state under: the
// address of its TensorImpl, as a string in libtorch 1.x (written the way
// c10::guts::to_string writes it) and as the pointer itself in 2.x.
template <typename Key>
Key state_key(const torch::Tensor &p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// portable_adam is the contract of at::_fused_adam_ (without amsgrad and
// maximize) written with ordinary tensor ops: each counter in steps already
// holds the new step number, which the kernel reads but does not change.
void portable_adam(const TensorVec &ps, const TensorVec &gs, const TensorVec &m1s,
                   const TensorVec &m2s, const TensorVec &steps, double lr,
                   double beta1, double beta2, double weight_decay, double eps) {
  for (size_t i = 0; i < ps.size(); ++i) {
    auto g = weight_decay != 0 ? gs[i].add(ps[i], weight_decay) : gs[i];
    m1s[i].mul_(beta1).add_(g, 1 - beta1);
    m2s[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
    const double step = steps[i].item<double>();
    const double bc1 = 1 - std::pow(beta1, step);
    const double bc2 = 1 - std::pow(beta2, step);
    auto denom = (m2s[i].sqrt() / std::sqrt(bc2)).add_(eps);
    ps[i].addcdiv_(m1s[i], denom, -lr / bc1);
  }
}

void run_kernel(const TensorVec &ps, const TensorVec &gs, const TensorVec &m1s,
                const TensorVec &m2s, const TensorVec &steps, double lr,
                double beta1, double beta2, double weight_decay, double eps) {
#if TAONET_FUSED_ADAM
  if (ps.front().is_cuda()) {
    const TensorVec none;  // max_exp_avg_sqs: amsgrad is off
    at::_fused_adam_(ps, gs, m1s, m2s, none, steps, lr, beta1, beta2,
                     weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false);
    return;
  }
#endif
  portable_adam(ps, gs, m1s, m2s, steps, lr, beta1, beta2, weight_decay, eps);
}

}  // namespace
}  // namespace tn

tn_adam_update tn_model::adam_update() const {
  if (opt_kind != "adam") return TN_ADAM_NOT_ADAM;
  const auto &groups = opt->param_groups();
  if (!multi_tensor || groups.size() != 1) return TN_ADAM_PER_PARAM;
  const auto &o =
      static_cast<const torch::optim::AdamOptions &>(groups.front().options());
  if (o.amsgrad()) return TN_ADAM_PER_PARAM;
  return tn::fused_built() && device.is_cuda() ? TN_ADAM_FUSED
                                                : TN_ADAM_MULTI_TENSOR;
}

void tn_model::step() {
  if (adam_update() >= TN_ADAM_MULTI_TENSOR) {
    multi_tensor_adam_step();
  } else {
    opt->step();
  }
}

void tn_model::multi_tensor_adam_step() {
  auto &adam = static_cast<torch::optim::Adam &>(*opt);
  using Key = typename std::decay_t<decltype(adam.state())>::key_type;
  torch::NoGradGuard no_grad;
  auto &group = adam.param_groups().front();
  auto &o = static_cast<torch::optim::AdamOptions &>(group.options());
  const auto &gp = group.params();
  if (steps.size() != gp.size()) {
    steps.assign(gp.size(), torch::Tensor());
    steps_at.assign(gp.size(), -1);
  }
  tn::TensorVec ps, gs, m1s, m2s, counters;
  std::vector<size_t> idx;
  std::vector<torch::optim::AdamParamState *> states;
  for (size_t i = 0; i < gp.size(); ++i) {
    const auto &p = gp[i];
    const auto &g = p.grad();
    if (!g.defined()) continue;
    tn::check(!g.is_sparse(), "Adam does not support sparse gradients");
    auto &slot = adam.state()[tn::state_key<Key>(p)];
    if (!slot) {  // first step: the state torch::optim::Adam would make
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->step(0);
      s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(s);
    }
    auto &s = static_cast<torch::optim::AdamParamState &>(*slot);
    if (!steps[i].defined()) {
      steps[i] = torch::zeros(
          {}, torch::TensorOptions().dtype(torch::kFloat32).device(p.device()));
      steps_at[i] = 0;
    }
    if (steps_at[i] != s.step()) {  // a load, or steps taken by Adam::step
      steps[i].fill_(static_cast<double>(s.step()));
      steps_at[i] = s.step();
    }
    ps.push_back(p);
    gs.push_back(g);
    m1s.push_back(s.exp_avg());
    m2s.push_back(s.exp_avg_sq());
    counters.push_back(steps[i]);
    idx.push_back(i);
    states.push_back(&s);
  }
  if (ps.empty()) return;
  // Until the kernels are queued the counters' values are unknown: an
  // exception below makes the next step refill them.
  for (auto i : idx) steps_at[i] = -1;
  at::_foreach_add_(counters, 1);
  tn::run_kernel(ps, gs, m1s, m2s, counters, o.lr(), std::get<0>(o.betas()),
                 std::get<1>(o.betas()), o.weight_decay(), o.eps());
  for (size_t k = 0; k < idx.size(); ++k) {
    states[k]->step(states[k]->step() + 1);
    steps_at[idx[k]] = states[k]->step();
  }
}
