// checkpoint.cc: saving and loading a model's checkpoint (tn_model_save,
// tn_model_load). A checkpoint holds the network's parameters, the
// architecture name, the optimizer kind, its state and its hyperparameters
// (learning rate, momentum, weight decay), so that training resumes where it
// stopped. The Go side writes it to a temporary file and renames it.
#include "taonet_torch.h"

#include "internal.h"

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>

namespace {

using tn::check;
using tn::guard;

const char *kArchKey = "taonet.arch";
const char *kOptKindKey = "taonet.optimizer";
const char *kOptStateKey = "taonet.optimizer_state";
const char *kLRKey = "taonet.lr";
const char *kMomentumKey = "taonet.momentum";
const char *kWeightDecayKey = "taonet.weight_decay";

// Hyper is what build_opt needs besides the kind and the parameters.
struct Hyper {
  double lr = 0, momentum = 0, weight_decay = 0;
};

// hyper reads the hyperparameters of opt's first parameter group.
Hyper hyper(const std::string &kind, torch::optim::Optimizer &opt) {
  auto &o = opt.param_groups().at(0).options();
  Hyper h;
  h.lr = o.get_lr();
  if (kind == "sgd") {
    auto &s = static_cast<torch::optim::SGDOptions &>(o);
    h.momentum = s.momentum();
    h.weight_decay = s.weight_decay();
  } else {
    h.weight_decay = static_cast<torch::optim::AdamOptions &>(o).weight_decay();
  }
  return h;
}

// read_double sets *v from key when the archive has it as a number.
bool read_double(torch::serialize::InputArchive &ar, const char *key, double *v) {
  c10::IValue iv;
  if (!ar.try_read(key, iv) || !iv.isDouble()) return false;
  *v = iv.toDouble();
  return true;
}

// load_opt rebuilds m's optimizer from the checkpoint when it was saved
// with the same kind: its state and its hyperparameters. A checkpoint
// written before the hyperparameters were saved keeps the model's. It
// returns null when the checkpoint holds no optimizer of m's kind.
std::unique_ptr<torch::optim::Optimizer> load_opt(
    tn_model *m, torch::serialize::InputArchive &ar) {
  c10::IValue kind;
  torch::serialize::InputArchive opt_ar;
  if (!ar.try_read(kOptKindKey, kind) || !kind.isString() ||
      kind.toStringRef() != m->opt_kind || !ar.try_read(kOptStateKey, opt_ar)) {
    return nullptr;
  }
  Hyper h = hyper(m->opt_kind, *m->opt);
  if (read_double(ar, kLRKey, &h.lr)) {
    read_double(ar, kMomentumKey, &h.momentum);
    read_double(ar, kWeightDecayKey, &h.weight_decay);
  }
  auto opt = tn::build_opt(m->opt_kind, m->net->parameters(), h.lr,
                           h.momentum, h.weight_decay);
  opt->load(opt_ar);
  // libtorch 1.13's load keeps the options the optimizer was built with;
  // other releases may copy the saved ones. Setting them here makes every
  // release resume the checkpoint's.
  for (auto &g : opt->param_groups()) g.options().set_lr(h.lr);
  return opt;
}

}  // namespace

extern "C" {

char *tn_model_save(tn_model *m, const char *path) {
  return guard("save checkpoint", [&] {
    torch::serialize::OutputArchive ar;
    m->net->save(ar);
    ar.write(kArchKey, c10::IValue(m->arch));
    ar.write(kOptKindKey, c10::IValue(m->opt_kind));
    Hyper h = hyper(m->opt_kind, *m->opt);
    ar.write(kLRKey, c10::IValue(h.lr));
    ar.write(kMomentumKey, c10::IValue(h.momentum));
    ar.write(kWeightDecayKey, c10::IValue(h.weight_decay));
    torch::serialize::OutputArchive opt_ar;
    m->opt->save(opt_ar);
    ar.write(kOptStateKey, opt_ar);
    ar.save_to(path);
  });
}

char *tn_model_load(tn_model *m, const char *path) {
  return guard("load checkpoint", [&] {
    torch::serialize::InputArchive ar;
    ar.load_from(path, m->device);
    c10::IValue arch;
    check(ar.try_read(kArchKey, arch) && arch.isString(),
          "not a taonet checkpoint (no architecture tag)");
    check(arch.toStringRef() == m->arch,
          "checkpoint is for architecture " + arch.toStringRef() +
              ", model is " + m->arch);
    // Read into a fresh network and optimizer first so that a bad file
    // leaves m unchanged.
    auto fresh = tn::build_net(m->arch);
    fresh->load(ar);
    auto opt = load_opt(m, ar);
    torch::NoGradGuard no_grad;
    auto dst = m->net->named_parameters();
    auto src = fresh->named_parameters();
    for (const auto &p : src) dst[p.key()].copy_(p.value());
    if (opt) m->opt = std::move(opt);
  });
}

}  // extern "C"
