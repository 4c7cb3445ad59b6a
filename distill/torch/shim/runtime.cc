// runtime.cc: the process-wide settings of the libtorch runtime under the
// shim, which decide how fast a CPU model trains and serves: glibc malloc's
// thresholds (set when the shim loads), the CPU threads of libtorch and of
// the BLAS under it (tn_set_num_threads), and the description of all of
// them (tn_runtime_info). Each says why it is there; `make bench-torch`
// (scripts/bench-torch.sh) measures them.
#include "taonet_torch.h"

#include "internal.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

namespace {

using tn::check;
using tn::guard;

// malloc_tuning describes what tune_malloc did, for tn_runtime_info.
const char *malloc_tuning = "glibc defaults";

// tune_malloc runs when the shim is loaded. libtorch allocates every
// activation, gradient and temporary of a step with malloc and frees it
// before the next step, and glibc's defaults hand much of that memory back
// to the kernel at once, so that the next step faults every page of it in
// again. Three settings keep it in the process instead:
//  - M_MMAP_THRESHOLD: blocks above the (dynamic) mmap threshold are
//    mapped and unmapped every step. 32 MiB is glibc's largest (a larger
//    value is refused), above the largest buffer of a batch-64 step.
//  - M_TRIM_THRESHOLD: free memory at the top of an arena is trimmed once
//    it passes the threshold; 256 MiB of it may now stay.
//  - M_TOP_PAD: a model's calls run on a thread of their own (thread.go),
//    whose arena is a chain of heaps of at most 64 MiB, not the main
//    thread's heap. A step that needs more adds a heap, and glibc unmaps a
//    heap as soon as it is empty, whatever the trim threshold: the cnn
//    mapped a heap and faulted in its pages every step. A top pad of 64
//    MiB keeps an emptied heap mapped (it only reserves address space: the
//    pages count once they are used).
// Measured on the mlp (one epoch, 2 threads): 428,000 page faults and
// 9.7 s with glibc's defaults, 35,000 and 1.4-2.9 s with these; the cnn
// took 1.76 million faults without the top pad. A user who tuned malloc
// (MALLOC_*_ variables or glibc.malloc tunables) keeps their settings.
__attribute__((constructor)) void tune_malloc() {
#if defined(__GLIBC__)
  for (const char *v : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                        "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_",
                        "MALLOC_ARENA_MAX"}) {
    if (std::getenv(v) != nullptr) {
      malloc_tuning = "the environment's";
      return;
    }
  }
  const char *t = std::getenv("GLIBC_TUNABLES");
  if (t != nullptr && std::strstr(t, "glibc.malloc.") != nullptr) {
    malloc_tuning = "the environment's";
    return;
  }
  if (mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 &&
      mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1 &&
      mallopt(M_TOP_PAD, 64 << 20) == 1) {
    malloc_tuning = "mmap threshold 32 MiB, trim threshold 256 MiB, top pad 64 MiB";
  } else {
    malloc_tuning = "glibc defaults (mallopt refused)";
  }
#endif
}

// Blas is OpenBLAS's thread control, when libtorch runs on OpenBLAS (as
// Debian's does; PyTorch's wheels use MKL, which torch::set_num_threads
// sizes itself).
struct Blas {
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;
};

// find_blas looks OpenBLAS up among the loaded libraries. libtorch brings
// it in, and Go loads the shim with RTLD_LOCAL, so its symbols are not in
// the global scope: it is opened by name, without loading anything.
Blas find_blas() {
  Blas b;
  for (const char *name : {"libopenblas.so.0", "libopenblas.so"}) {
    void *h = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
    if (h == nullptr) continue;
    b.set = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
    b.get = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
    if (b.set != nullptr && b.get != nullptr) return b;
  }
  return Blas{};
}

const Blas &blas() {
  static const Blas b = find_blas();
  return b;
}

// threads is the thread count of the last tn_set_num_threads, 0 before.
std::atomic<int> threads{0};

}  // namespace

namespace tn {

// sync_threads gives the calling thread the thread count of the last
// tn_set_num_threads. libtorch's OpenMP pool is sized per calling thread:
// torch::set_num_threads sizes it for the thread that calls it, and other
// threads take the count once, at their first parallel region. A model's
// calls all run on its own thread (distill/torch/thread.go), which may
// have started before the count changed.
void sync_threads() {
  thread_local int applied = 0;
  const int n = threads.load(std::memory_order_relaxed);
  if (n > 0 && n != applied) {
    torch::set_num_threads(n);
    applied = n;
  }
}

}  // namespace tn

extern "C" {

char *tn_set_num_threads(int32_t n, int32_t blas_threads) {
  return guard("set threads", [&] {
    check(n > 0 && blas_threads >= 0, "thread count must be positive");
    threads.store(n);
    tn::sync_threads();
    // OpenBLAS keeps its own pool, which torch::set_num_threads does not
    // size (it sizes OpenMP's and MKL's): the BLAS calls of a Linear or a
    // convolution would otherwise run on as many threads as OpenBLAS
    // started with, whatever libtorch's count.
    if (blas_threads > 0 && blas().set != nullptr) blas().set(blas_threads);
  });
}

char *tn_runtime_info(char **out) {
  return guard("runtime info", [&] {
    std::ostringstream s;
    s << "torch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "."
      << TORCH_VERSION_PATCH << ", cuda devices "
      // A char-sized integer in PyTorch 2.x: widen it before streaming.
      << static_cast<int64_t>(torch::cuda::device_count()) << ", threads "
      << torch::get_num_threads() << ", blas threads ";
    if (blas().get != nullptr) {
      s << blas().get() << " (openblas)";
    } else {
      s << "not openblas";
    }
    const char *wait = std::getenv("OMP_WAIT_POLICY");
    s << ", omp wait policy " << (wait != nullptr ? wait : "default")
      << ", malloc: " << malloc_tuning << ", fused adam "
      << (tn::fused_built() ? "built" : "not built");
    *out = tn::dup_string(s.str());
  });
}

}  // extern "C"
