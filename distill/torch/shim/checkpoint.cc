// checkpoint.cc: saving and loading a model's checkpoint (tn_model_save,
// tn_model_load): the network's parameters, the architecture name, the
// optimizer kind and its state. The Go side writes it to a temporary file
// and renames it.
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

}  // namespace

extern "C" {

char *tn_model_save(tn_model *m, const char *path) {
  return guard("save checkpoint", [&] {
    torch::serialize::OutputArchive ar;
    m->net->save(ar);
    ar.write(kArchKey, c10::IValue(m->arch));
    ar.write(kOptKindKey, c10::IValue(m->opt_kind));
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
    // Read into a fresh network first so a bad file leaves m unchanged.
    auto fresh = tn::build_net(m->arch);
    fresh->load(ar);
    std::unique_ptr<torch::optim::Optimizer> opt;
    c10::IValue kind;
    torch::serialize::InputArchive opt_ar;
    if (ar.try_read(kOptKindKey, kind) && kind.isString() &&
        kind.toStringRef() == m->opt_kind && ar.try_read(kOptStateKey, opt_ar)) {
      const auto &g = m->opt->param_groups().at(0).options();
      opt = tn::build_opt(m->opt_kind, m->net->parameters(), g.get_lr(), 0, 0);
      opt->param_groups().at(0).set_options(g.clone());
      opt->load(opt_ar);
    }
    torch::NoGradGuard no_grad;
    auto dst = m->net->named_parameters();
    auto src = fresh->named_parameters();
    for (const auto &p : src) dst[p.key()].copy_(p.value());
    if (opt) m->opt = std::move(opt);
  });
}

}  // extern "C"
