// taonet_torch.cc: the C ABI shim over libtorch's C++ API (see
// taonet_torch.h). C++17, using only APIs present in both libtorch 1.13 and
// PyTorch 2.x; adam.cc holds the one part that differs (the fused Adam
// kernel of PyTorch 2.x), checkpoint.cc saving and loading checkpoints,
// runtime.cc the process-wide settings (malloc, threads).
#include "taonet_torch.h"

#include "internal.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

using tn::check;
using tn::guard;
using tn::build_net;
using tn::build_opt;

const int64_t kClasses = 10;
const int64_t kImageSide = 28;
const int64_t kInFeatures = kImageSide * kImageSide;

}  // namespace

namespace tn {

torch::nn::Sequential build_net(const std::string &arch) {
  namespace nn = torch::nn;
  if (arch == "mlp") {
    return nn::Sequential(nn::Linear(kInFeatures, 256), nn::ReLU(),
                          nn::Linear(256, 128), nn::ReLU(),
                          nn::Linear(128, kClasses));
  }
  if (arch == "cnn") {
    // 1x28x28 -> 16x14x14 -> 32x7x7 -> 32 -> 10: 63,786 parameters.
    return nn::Sequential(
        nn::Conv2d(nn::Conv2dOptions(1, 16, 5).padding(2)), nn::ReLU(),
        nn::MaxPool2d(nn::MaxPool2dOptions(2)),
        nn::Conv2d(nn::Conv2dOptions(16, 32, 5).padding(2)), nn::ReLU(),
        nn::MaxPool2d(nn::MaxPool2dOptions(2)), nn::Flatten(),
        nn::Linear(32 * 7 * 7, 32), nn::ReLU(), nn::Linear(32, kClasses));
  }
  throw std::invalid_argument("unknown architecture \"" + arch +
                              "\" (want mlp or cnn)");
}

std::unique_ptr<torch::optim::Optimizer> build_opt(
    const std::string &kind, std::vector<torch::Tensor> params, double lr,
    double momentum, double weight_decay) {
  check(lr > 0 && std::isfinite(lr), "learning rate must be positive");
  check(weight_decay >= 0, "weight decay must not be negative");
  if (kind == "adam") {
    return std::make_unique<torch::optim::Adam>(
        std::move(params),
        torch::optim::AdamOptions(lr).weight_decay(weight_decay));
  }
  if (kind == "sgd") {
    check(momentum >= 0 && momentum < 1, "momentum must be in [0, 1)");
    return std::make_unique<torch::optim::SGD>(
        std::move(params), torch::optim::SGDOptions(lr)
                               .momentum(momentum)
                               .weight_decay(weight_decay));
  }
  throw std::invalid_argument("unknown optimizer \"" + kind +
                              "\" (want adam or sgd)");
}

}  // namespace tn

std::vector<int64_t> tn_model::input_shape(int64_t n) const {
  if (arch == "cnn") return {n, 1, kImageSide, kImageSide};
  return {n, kInFeatures};
}

std::vector<torch::Tensor> tn_model::upload(
    const std::vector<tn::Host> &hosts) const {
  // One buffer, each part at a 64-byte boundary, viewed back as the parts.
  std::vector<int64_t> offsets, sizes;
  int64_t total = 0;
  for (const auto &h : hosts) {
    int64_t n = 1;
    for (auto d : h.shape) n *= d;
    total = (total + 63) / 64 * 64;
    offsets.push_back(total);
    sizes.push_back(n * static_cast<int64_t>(c10::elementSize(h.dtype)));
    total += sizes.back();
  }
  auto opts = torch::TensorOptions().dtype(torch::kUInt8);
  const bool cuda = device.is_cuda();
  auto buf = torch::empty({total}, cuda ? opts.pinned_memory(true) : opts);
  auto *base = buf.data_ptr<uint8_t>();
  for (size_t i = 0; i < hosts.size(); ++i) {
    std::memcpy(base + offsets[i], hosts[i].data, sizes[i]);
  }
  // From pinned memory the copy is queued on the current stream; PyTorch's
  // pinned-memory cache keeps the host block until the copy is done.
  if (cuda) buf = buf.to(torch::TensorOptions().device(device), /*non_blocking=*/true);
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < hosts.size(); ++i) {
    out.push_back(buf.narrow(0, offsets[i], sizes[i])
                      .view(hosts[i].dtype)
                      .view(hosts[i].shape));
  }
  return out;
}

namespace {

void copy_out(const torch::Tensor &t, float *out) {
  auto h = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  std::memcpy(out, h.data_ptr<float>(), h.numel() * sizeof(float));
}

// kd_loss is T^2 * KL(teacher || softmax(logits / T)), averaged over rows.
torch::Tensor kd_loss(const torch::Tensor &logits, const torch::Tensor &teacher,
                      double temperature) {
  auto logq = torch::log_softmax(logits / temperature, 1);
  auto kl = (torch::xlogy(teacher, teacher) - teacher * logq).sum(1).mean();
  return kl * (temperature * temperature);
}

void check_mix(double alpha, double temperature) {
  check(alpha >= 0 && alpha <= 1, "alpha must be in [0, 1]");
  check(temperature > 0 && std::isfinite(temperature),
        "temperature must be positive");
}

// zero_grad drops the gradients (sets them to none, as PyTorch 2.x's
// default does) so the next backward writes them afresh.
void zero_grad(tn_model *m) {
  for (auto &p : m->params) p.mutable_grad() = torch::Tensor();
}

// rows is a host buffer of n input rows in the model's input shape.
tn::Host rows(const tn_model *m, const float *x, int64_t n) {
  check(x != nullptr && n > 0, "empty input batch");
  return {x, m->input_shape(n), torch::kFloat32};
}

void set_lr(tn_model *m, double lr) {
  for (auto &g : m->opt->param_groups()) g.options().set_lr(lr);
}

// clip_and_step clips the gradient norm to clip when clip > 0 and takes an
// optimizer step. It returns the norm before clipping, or 0 when clip is 0
// (computing it costs a device sync).
double clip_and_step(tn_model *m, double clip) {
  double norm = 0;
  if (clip > 0) {
    norm = torch::nn::utils::clip_grad_norm_(m->params, clip);
    check(std::isfinite(norm), "gradient is not finite");
  }
  m->step();
  return norm;
}

}  // namespace

extern "C" {

int32_t tn_abi_version(void) { return TN_ABI_VERSION; }

void tn_free(char *p) {
  if (p != tn::out_of_memory()) std::free(p);
}

char *tn_out_of_memory(void) { return tn::out_of_memory(); }

char *tn_cuda_device_count(int64_t *out) {
  return guard("cuda device count", [&] {
    *out = torch::cuda::is_available()
               ? static_cast<int64_t>(torch::cuda::device_count())
               : 0;
  });
}

char *tn_set_seed(uint64_t seed) {
  return guard("set seed", [&] { torch::manual_seed(seed); });
}

char *tn_round_trip(const float *in, int64_t n, const char *device, float *out) {
  return guard("round trip", [&] {
    check(in != nullptr && n > 0 && device != nullptr, "empty buffer");
    auto t = torch::from_blob(const_cast<float *>(in), {n}, torch::kFloat32)
                 .to(torch::TensorOptions().device(std::string(device)), false, true);
    copy_out(t, out);
  });
}

char *tn_model_new(const char *arch, const char *device, tn_model **out) {
  return guard("new model", [&] {
    check(arch != nullptr && device != nullptr, "missing argument");
    auto m = std::make_unique<tn_model>();
    m->arch = arch;
    m->device = torch::Device(std::string(device));
    m->net = build_net(m->arch);
    m->net->to(m->device);
    m->params = m->net->parameters();
    m->multi_tensor = tn::fused_built() && m->device.is_cuda();
    m->opt_kind = "adam";
    m->opt = build_opt(m->opt_kind, m->net->parameters(), 1e-3, 0, 0);
    *out = m.release();
  });
}

void tn_model_free(tn_model *m) { delete m; }

char *tn_model_info(tn_model *m, int64_t *in_features, int64_t *classes,
                    int64_t *params) {
  return guard("model info", [&] {
    int64_t count = 0;
    for (const auto &p : m->net->parameters()) count += p.numel();
    *in_features = kInFeatures;
    *classes = kClasses;
    *params = count;
  });
}

char *tn_model_set_optimizer(tn_model *m, const char *kind, double lr,
                             double momentum, double weight_decay) {
  return guard("set optimizer", [&] {
    check(kind != nullptr, "missing optimizer kind");
    auto opt = build_opt(kind, m->net->parameters(), lr, momentum, weight_decay);
    m->opt = std::move(opt);
    m->opt_kind = kind;
  });
}

char *tn_model_set_lr(tn_model *m, double lr) {
  return guard("set learning rate", [&] {
    check(lr > 0 && std::isfinite(lr), "learning rate must be positive");
    set_lr(m, lr);
  });
}

char *tn_model_forward(tn_model *m, const float *x, int64_t n, float *logits) {
  return guard("forward", [&] {
    // Inference mode is no-grad without autograd's bookkeeping (version
    // counters, view tracking) on the tensors made under it.
    c10::InferenceMode inference;
    m->net->eval();
    auto host = rows(m, x, n);
    // On the CPU the network reads the caller's rows in place instead of a
    // copy: nothing made under inference mode is kept past this call, so
    // no tensor aliases the buffer once the call returns.
    auto in = m->device.is_cpu()
                  ? torch::from_blob(const_cast<float *>(x), host.shape, torch::kFloat32)
                  : m->upload({host}).at(0);
    copy_out(m->net->forward(in), logits);
  });
}

char *tn_model_train_step(tn_model *m, const float *x_ce,
                          const int64_t *labels, int64_t n_ce,
                          const float *x_kd, const float *teacher,
                          int64_t n_kd, double alpha, double temperature,
                          double clip, double lr, float *out) {
  return guard("train step", [&] {
    torch::AutoGradMode grad_on(true);
    check_mix(alpha, temperature);
    check(lr >= 0 && std::isfinite(lr), "learning rate must not be negative");
    check(alpha == 0 || n_ce > 0, "alpha > 0 needs a labeled batch");
    check(alpha == 1 || n_kd > 0, "alpha < 1 needs a teacher batch");
    // Every host buffer of the step goes to the device in one copy.
    std::vector<tn::Host> hosts;
    if (alpha > 0) {
      hosts.push_back(rows(m, x_ce, n_ce));
      check(labels != nullptr, "labels missing");
      hosts.push_back({labels, {n_ce}, torch::kInt64});
    }
    if (alpha < 1) {
      hosts.push_back(rows(m, x_kd, n_kd));
      check(teacher != nullptr, "teacher distribution missing");
      hosts.push_back({teacher, {n_kd, kClasses}, torch::kFloat32});
    }
    auto dev = m->upload(hosts);
    if (lr > 0) set_lr(m, lr);
    m->net->train();
    zero_grad(m);
    torch::Tensor ce, kd, loss;
    size_t next = 0;
    if (alpha > 0) {
      auto logits = m->net->forward(dev.at(next));
      ce = torch::cross_entropy_loss(logits, dev.at(next + 1));
      loss = alpha == 1 ? ce : ce * alpha;
      next += 2;
    }
    if (alpha < 1) {
      auto logits = m->net->forward(dev.at(next));
      kd = kd_loss(logits, dev.at(next + 1), temperature);
      loss = alpha == 0 ? kd : loss + kd * (1 - alpha);
    }
    // Backward is queued before the loss is read, so that read waits for
    // the device once; a non-finite loss still takes no optimizer step
    // (its gradients are dropped by the next step's zero_grad). One
    // device-to-host copy for the loss and its parts.
    loss.backward();
    auto stats = (ce.defined() && kd.defined()
                      ? torch::stack({loss, ce, kd})
                      : loss.reshape({1}))
                     .detach()
                     .to(torch::kCPU);
    auto s = stats.accessor<float, 1>();
    check(std::isfinite(s[0]), "loss is not finite");
    out[3] = static_cast<float>(clip_and_step(m, clip));
    out[0] = s[0];
    out[1] = ce.defined() ? (kd.defined() ? s[1] : s[0]) : 0;
    out[2] = kd.defined() ? (ce.defined() ? s[2] : s[0]) : 0;
  });
}

char *tn_model_backward(tn_model *m, const float *x, const float *grad_logits,
                        int64_t n, double clip, float *out_grad_norm) {
  return guard("backward", [&] {
    torch::AutoGradMode grad_on(true);
    check(grad_logits != nullptr, "logit gradient missing");
    auto dev = m->upload({rows(m, x, n), {grad_logits, {n, kClasses}, torch::kFloat32}});
    m->net->train();
    zero_grad(m);
    auto logits = m->net->forward(dev.at(0));
    logits.backward(dev.at(1));
    *out_grad_norm = static_cast<float>(clip_and_step(m, clip));
  });
}

char *tn_loss_grad(const float *logits, int64_t n, int64_t classes,
                   const int64_t *labels, const float *teacher, double alpha,
                   double temperature, float *out_loss, float *grad) {
  return guard("loss gradient", [&] {
    torch::AutoGradMode grad_on(true);
    check_mix(alpha, temperature);
    check(logits != nullptr && n > 0 && classes > 1, "empty logits");
    auto z = torch::from_blob(const_cast<float *>(logits), {n, classes},
                              torch::kFloat32)
                 .clone()
                 .set_requires_grad(true);
    auto loss = torch::zeros({});
    if (alpha > 0) {
      check(labels != nullptr, "labels missing");
      auto y = torch::from_blob(const_cast<int64_t *>(labels), {n}, torch::kInt64);
      loss = loss + alpha * torch::cross_entropy_loss(z, y);
    }
    if (alpha < 1) {
      check(teacher != nullptr, "teacher distribution missing");
      auto t = torch::from_blob(const_cast<float *>(teacher), {n, classes},
                                torch::kFloat32);
      loss = loss + (1 - alpha) * kd_loss(z, t, temperature);
    }
    loss.backward();
    *out_loss = loss.item<float>();
    copy_out(z.grad(), grad);
  });
}

char *tn_model_set_multi_tensor_adam(tn_model *m, int32_t on) {
  return guard("set adam update", [&] { m->multi_tensor = on != 0; });
}

char *tn_model_adam_update(tn_model *m, int32_t *out) {
  return guard("adam update", [&] { *out = m->adam_update(); });
}

char *tn_model_params(tn_model *m, float *out, int64_t n) {
  return guard("parameters", [&] {
    std::vector<torch::Tensor> flat;
    int64_t count = 0;
    for (const auto &p : m->params) {
      flat.push_back(p.detach().reshape({-1}));
      count += p.numel();
    }
    check(out != nullptr && n == count,
          "buffer holds " + std::to_string(n) + " values, the model has " +
              std::to_string(count) + " parameters");
    copy_out(torch::cat(flat), out);
  });
}

char *tn_model_set_params(tn_model *m, const float *in, int64_t n) {
  return guard("set parameters", [&] {
    int64_t count = 0;
    for (const auto &p : m->params) count += p.numel();
    check(in != nullptr && n == count,
          "buffer holds " + std::to_string(n) + " values, the model has " +
              std::to_string(count) + " parameters");
    for (int64_t i = 0; i < n; i++) {
      check(std::isfinite(in[i]), "parameter " + std::to_string(i) + " is not finite");
    }
    // Every value is checked before the first parameter changes, so a
    // refused call leaves the model as it was.
    torch::NoGradGuard no_grad;
    int64_t at = 0;
    for (auto &p : m->params) {
      auto src = torch::from_blob(const_cast<float *>(in) + at, p.sizes(), torch::kFloat32);
      p.copy_(src.to(p.device()));
      at += p.numel();
    }
  });
}

}  // extern "C"
