// Package torch is the libtorch engine of a taonet peer: models that train
// from Go on the CPU or a CUDA GPU, through a small C ABI shim over
// libtorch's C++ API (shim/taonet_torch.cc, built by `make shim` into
// build/libtaonet_torch.so).
//
// The shim is loaded at run time with dlopen, so a Go binary does not depend
// on which libtorch it meets: the shim is built on the host that runs the
// peer (Debian's libtorch-dev, an installed PyTorch, or $LIBTORCH), and a
// binary built on one machine runs against a shim built on a GPU machine.
// Packages that never call Open work without the shim. Open searches
// $TAONET_TORCH_SHIM, then build/libtaonet_torch.so in the executable's
// parent folder, then next to the executable, then ../lib, then the build
// folder of the Go module that holds the working directory.
//
// Host buffers cross into the shim as copies (a CPU Forward reads its
// rows in place for the length of the call); no C code keeps a Go pointer
// after a call returns. A Model is safe for concurrent use (calls are
// serialised, each run on the model's own OS thread: thread.go); free it
// with Close, a cleanup is only a safety net.
//
// The engine is fast on a small shared CPU without settings from the user
// (`make bench-torch` measures it beside PyTorch eager): the shim raises
// glibc malloc's thresholds when it loads (shim/runtime.cc), the loader
// makes OpenMP's workers sleep instead of spin and starts OpenBLAS with
// one thread (loader.go), SetNumThreads sizes OpenBLAS's pool with
// libtorch's, and Fit fills its batches by table (batcher.go). A setting
// the user made in the environment is kept.
package torch
