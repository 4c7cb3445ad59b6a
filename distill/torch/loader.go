package torch

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "calls.h"

#define TN_PTR(name) static __typeof__(tn_##name) *p_tn_##name;
TN_CALLS(TN_PTR)

// tn_open loads the shim at path and resolves every entry point. It
// returns 0, or -1 with a message in err (n bytes): it allocates nothing,
// so no failure can read as success.
static int tn_open(const char *path, char *err, size_t n) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(err, n, "%s", dlerror());
		return -1;
	}
#define TN_SYM(name) \
	p_tn_##name = (__typeof__(tn_##name) *)dlsym(h, "tn_" #name); \
	if (p_tn_##name == NULL) { \
		snprintf(err, n, "missing symbol tn_" #name " (a shim of another ABI version: run make shim)"); \
		return -1; \
	}
	TN_CALLS(TN_SYM)
	return 0;
}

// The trampolines of calls.h.
int32_t c_abi_version(void) { return p_tn_abi_version(); }
void c_free(char *p) { p_tn_free(p); }
char *c_out_of_memory(void) { return p_tn_out_of_memory(); }
char *c_runtime_info(char **o) { return p_tn_runtime_info(o); }
char *c_cuda_device_count(int64_t *o) { return p_tn_cuda_device_count(o); }
char *c_set_seed(uint64_t s) { return p_tn_set_seed(s); }
char *c_set_num_threads(int32_t n, int32_t b) { return p_tn_set_num_threads(n, b); }
char *c_round_trip(const float *in, int64_t n, const char *d, float *out) { return p_tn_round_trip(in, n, d, out); }
char *c_model_new(const char *a, const char *d, tn_model **o) { return p_tn_model_new(a, d, o); }
void c_model_free(tn_model *m) { p_tn_model_free(m); }
char *c_model_info(tn_model *m, int64_t *i, int64_t *c, int64_t *p) { return p_tn_model_info(m, i, c, p); }
char *c_model_set_optimizer(tn_model *m, const char *k, double lr, double mo, double wd) {
	return p_tn_model_set_optimizer(m, k, lr, mo, wd);
}
char *c_model_set_lr(tn_model *m, double lr) { return p_tn_model_set_lr(m, lr); }
char *c_model_forward(tn_model *m, const float *x, int64_t n, float *o) { return p_tn_model_forward(m, x, n, o); }
char *c_model_train_step(tn_model *m, const float *xc, const int64_t *y, int64_t nc,
		const float *xk, const float *t, int64_t nk, double a, double T, double clip, double lr, float *o) {
	return p_tn_model_train_step(m, xc, y, nc, xk, t, nk, a, T, clip, lr, o);
}
char *c_model_backward(tn_model *m, const float *x, const float *g, int64_t n, double clip, float *o) {
	return p_tn_model_backward(m, x, g, n, clip, o);
}
char *c_loss_grad(const float *z, int64_t n, int64_t c, const int64_t *y, const float *t,
		double a, double T, float *l, float *g) {
	return p_tn_loss_grad(z, n, c, y, t, a, T, l, g);
}
char *c_model_save(tn_model *m, const char *p) { return p_tn_model_save(m, p); }
char *c_model_load(tn_model *m, const char *p) { return p_tn_model_load(m, p); }
char *c_model_set_multi_tensor_adam(tn_model *m, int32_t on) { return p_tn_model_set_multi_tensor_adam(m, on); }
char *c_model_adam_update(tn_model *m, int32_t *o) { return p_tn_model_adam_update(m, o); }
char *c_model_params(tn_model *m, float *o, int64_t n) { return p_tn_model_params(m, o, n); }
char *c_model_set_params(tn_model *m, const float *i, int64_t n) { return p_tn_model_set_params(m, i, n); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// ShimName is the file name of the shim library.
const ShimName = "libtaonet_torch.so"

// ErrShimNotFound reports that no shim library was found; build it with
// `make shim` or point $TAONET_TORCH_SHIM at it.
var ErrShimNotFound = errors.New("libtorch shim not found: run make shim or set TAONET_TORCH_SHIM")

var (
	openOnce sync.Once
	openErr  error
	openPath string
)

// Open loads the shim once per process and reports where from. Every other
// function of the package calls it; call it first to fail early with a clear
// error (ErrShimNotFound, or why the library did not load).
func Open() error {
	openOnce.Do(func() { openPath, openErr = load() })
	return openErr
}

// threadEnv are settings of the thread pools under libtorch that the
// libraries read once, from the environment, when they load; a value the
// user set is kept.
//
// Unset, OpenBLAS starts a spinning worker per core beside libtorch's own
// threads, and OpenMP sizes its pool by the cores for every OS thread
// except the one that called SetNumThreads: a peer that trains on one
// goroutine while it serves Forward on others then runs many times slower
// on a small machine. So they start with one thread each, and
// SetNumThreads sizes libtorch's pool and OpenBLAS's (shim/runtime.cc).
//
// OpenMP's workers spin for a while after each parallel region before they
// sleep (GOMP_SPINCOUNT, 300,000 by default). A training step runs dozens
// of small regions; on a machine whose cores are busy with other work the
// spinning worker holds the core the master needs, and a region waits for
// a worker that is not running: with 2 threads on 2 shared cores an mlp
// epoch took 3.4-39 s spinning (more with more spin) against 1.4-2.2 s
// with passive workers, which sleep at once.
var threadEnv = []struct{ name, value string }{
	{"OPENBLAS_NUM_THREADS", "1"},
	{"OMP_NUM_THREADS", "1"},
	{"OMP_WAIT_POLICY", "PASSIVE"},
}

// userBLASThreads says that the user set OPENBLAS_NUM_THREADS, which
// SetNumThreads then leaves alone.
var userBLASThreads bool

func load() (string, error) {
	path, err := findShim()
	if err != nil {
		return "", err
	}
	userBLASThreads = os.Getenv("OPENBLAS_NUM_THREADS") != ""
	for _, v := range threadEnv {
		if os.Getenv(v.name) == "" {
			if err := os.Setenv(v.name, v.value); err != nil {
				return "", fmt.Errorf("load libtorch shim: %w", err)
			}
		}
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [512]C.char
	if C.tn_open(cpath, &msg[0], C.size_t(len(msg))) != 0 {
		return "", fmt.Errorf("load libtorch shim %s: %s", path, C.GoString(&msg[0]))
	}
	if v := C.c_abi_version(); v != C.TN_ABI_VERSION {
		return "", fmt.Errorf("load libtorch shim %s: ABI version %d, want %d: run make shim", path, v, C.TN_ABI_VERSION)
	}
	outOfMemory = C.c_out_of_memory()
	return path, nil
}

// findShim returns the first shim of the search order in the package doc.
func findShim() (string, error) {
	if p := os.Getenv("TAONET_TORCH_SHIM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: TAONET_TORCH_SHIM=%s: %v", ErrShimNotFound, p, err)
		}
		return p, nil
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir := filepath.Dir(exe)
		tried = append(tried,
			filepath.Join(dir, "..", "build", ShimName),
			filepath.Join(dir, ShimName),
			filepath.Join(dir, "..", "lib", ShimName))
	}
	if root := moduleRoot(); root != "" {
		tried = append(tried, filepath.Join(root, "build", ShimName))
	}
	for _, p := range tried {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return filepath.Clean(p), nil
		}
	}
	return "", fmt.Errorf("%w (searched %s)", ErrShimNotFound, strings.Join(tried, ", "))
}

// moduleRoot is the nearest folder at or above the working directory that
// holds a go.mod, so `go test` and `go run` find the module's build folder.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ErrOutOfMemory is returned when the shim could not allocate memory, not
// even for its error message.
var ErrOutOfMemory = errors.New("libtorch shim: out of memory")

// outOfMemory is the shim's static out-of-memory message
// (tn_out_of_memory), set by Open.
var outOfMemory *C.char

// cerr turns a shim error string into a Go error and hands it back to
// tn_free, which frees every message but the static out-of-memory one.
func cerr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.c_free(msg)
	if msg == outOfMemory {
		return ErrOutOfMemory
	}
	return errors.New(C.GoString(msg))
}

// RuntimeInfo describes the libtorch the shim runs on, e.g.
// "torch 1.13.0, cuda devices 0, threads 2, fused adam not built".
func RuntimeInfo() (string, error) {
	if err := Open(); err != nil {
		return "", err
	}
	var out *C.char
	if err := cerr(C.c_runtime_info(&out)); err != nil {
		return "", err
	}
	defer C.c_free(out)
	return C.GoString(out), nil
}

// CUDADevices is the number of CUDA devices libtorch can use (0 without a
// GPU or with a CPU-only libtorch).
func CUDADevices() (int, error) {
	if err := Open(); err != nil {
		return 0, err
	}
	var n C.int64_t
	if err := cerr(C.c_cuda_device_count(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// SetSeed seeds libtorch's global generators (CPU and CUDA), which decide
// the initial weights of the models made afterwards.
func SetSeed(seed uint64) error {
	if err := Open(); err != nil {
		return err
	}
	return cerr(C.c_set_seed(C.uint64_t(seed)))
}

// RoundTrip copies x into a libtorch tensor on device and back to a new
// host slice: the host <-> tensor path every call of the engine takes.
func RoundTrip(x []float32, device Device) ([]float32, error) {
	if err := Open(); err != nil {
		return nil, err
	}
	if len(x) == 0 {
		return nil, errors.New("round trip: empty input")
	}
	dev, err := device.Resolve()
	if err != nil {
		return nil, fmt.Errorf("round trip: %w", err)
	}
	cdev := C.CString(dev.String())
	defer C.free(unsafe.Pointer(cdev))
	out := make([]float32, len(x))
	if err := cerr(C.c_round_trip((*C.float)(&x[0]), C.int64_t(len(x)), cdev, (*C.float)(&out[0]))); err != nil {
		return nil, err
	}
	return out, nil
}

// SetNumThreads sets libtorch's intra-op CPU thread count for the process
// and, where libtorch runs on OpenBLAS, OpenBLAS's thread count to match,
// unless the user set OPENBLAS_NUM_THREADS.
func SetNumThreads(n int) error {
	if err := Open(); err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("set threads: %d is not positive", n)
	}
	blas := n
	if userBLASThreads {
		blas = 0
	}
	return cerr(C.c_set_num_threads(C.int32_t(n), C.int32_t(blas)))
}
