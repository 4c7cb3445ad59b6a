package torch

/*
#include <stdlib.h>
#include "calls.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"
)

// Architectures the shim builds.
const (
	ArchMLP = "mlp" // 784-256-128-10, ReLU
	ArchCNN = "cnn" // conv5x5(16)-pool-conv5x5(32)-pool-32-10, 63,786 parameters
)

// ErrClosed is returned by every method of a closed Model.
var ErrClosed = errors.New("model is closed")

// Model is one libtorch network with its optimizer, on one device. Inputs
// are float32 rows of InFeatures values (28x28 images, row-major); outputs
// are Classes logits per row. Methods serialise on the model.
type Model struct {
	// mu is held around every shim call on h: a tn_model handle is not
	// thread-safe (shim/taonet_torch.h). The cleanup frees h without it,
	// since it runs only once no method can be running.
	mu sync.Mutex
	h  *C.tn_model
	// thread runs every shim call on h (thread.go).
	thread  *thread
	cleanup runtime.Cleanup
	arch    string
	device  Device
	in      int
	classes int
	nParams int
}

// NewModel builds architecture arch (ArchMLP or ArchCNN) on device, with
// Adam (lr 1e-3) as its optimizer. The weights depend on SetSeed. A CUDA
// device that is not there is an error (see Device.Resolve).
func NewModel(arch string, device Device) (*Model, error) {
	if err := Open(); err != nil {
		return nil, err
	}
	if arch != ArchMLP && arch != ArchCNN {
		return nil, fmt.Errorf("new model: unknown architecture %q (want mlp or cnn)", arch)
	}
	dev, err := device.Resolve()
	if err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	carch, cdev := C.CString(arch), C.CString(dev.String())
	defer C.free(unsafe.Pointer(carch))
	defer C.free(unsafe.Pointer(cdev))
	t := newThread()
	var h *C.tn_model
	var in, classes, params C.int64_t
	var msg *C.char
	t.run(func() {
		if msg = C.c_model_new(carch, cdev, &h); msg != nil {
			return
		}
		if msg = C.c_model_info(h, &in, &classes, &params); msg != nil {
			C.c_model_free(h)
		}
	})
	if err := cerr(msg); err != nil {
		t.stop()
		return nil, err
	}
	m := &Model{h: h, thread: t, arch: arch, device: dev, in: int(in), classes: int(classes), nParams: int(params)}
	m.cleanup = runtime.AddCleanup(m, func(o owned) { o.free() }, owned{h, t})
	return m, nil
}

// owned is what a Model frees: its handle and its thread.
type owned struct {
	h *C.tn_model
	t *thread
}

func (o owned) free() {
	o.t.run(func() { C.c_model_free(o.h) })
	o.t.stop()
}

// call runs f on the model's handle, on the model's thread, holding mu,
// and returns the shim's error; after Close it returns ErrClosed, wrapped
// with op.
func (m *Model) call(op string, f func(h *C.tn_model) *C.char) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	var msg *C.char
	m.thread.run(func() { msg = f(m.h) })
	return cerr(msg)
}

// Arch is the architecture name.
func (m *Model) Arch() string { return m.arch }

// Device is the resolved device the model lives on.
func (m *Model) Device() Device { return m.device }

// InFeatures is the number of float32 values per input row.
func (m *Model) InFeatures() int { return m.in }

// Classes is the number of logits per row.
func (m *Model) Classes() int { return m.classes }

// NumParams is the number of trainable parameters.
func (m *Model) NumParams() int { return m.nParams }

// Close frees the model. It is safe to call twice.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil
	}
	m.cleanup.Stop()
	owned{m.h, m.thread}.free()
	m.h = nil
	return nil
}

// Forward returns the logits ([rows, Classes], row-major) of the rows of x,
// without tracking gradients.
func (m *Model) Forward(x []float32) ([]float32, error) {
	rows, err := m.wholeRows("forward", x)
	if err != nil {
		return nil, err
	}
	out := make([]float32, rows*m.classes)
	var bad error
	err = m.call("forward", func(h *C.tn_model) *C.char {
		// The finiteness scan runs on the model's thread, which then
		// finds the rows in its cache: scanned by the caller, a batch of
		// 256 mlp rows took 5-10% longer (measured).
		if bad = finite("forward: input", x); bad != nil {
			return nil
		}
		return C.c_model_forward(h, (*C.float)(&x[0]), C.int64_t(rows), (*C.float)(&out[0]))
	})
	if bad != nil {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Params returns a copy of every parameter, flattened and concatenated in
// the model's order (NumParams values): for comparing two models exactly.
func (m *Model) Params() ([]float32, error) {
	out := make([]float32, m.nParams)
	err := m.call("parameters", func(h *C.tn_model) *C.char {
		return C.c_model_params(h, (*C.float)(&out[0]), C.int64_t(len(out)))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetParams overwrites every parameter with p, NumParams values in
// Params's layout: parameter averaging (FedAvg) writes the average back
// this way. A wrong length or a non-finite value is refused and leaves the
// model unchanged; the optimizer's state is kept.
func (m *Model) SetParams(p []float32) error {
	if len(p) != m.nParams {
		return fmt.Errorf("set parameters: %d values, the model has %d parameters", len(p), m.nParams)
	}
	return m.call("set parameters", func(h *C.tn_model) *C.char {
		return C.c_model_set_params(h, (*C.float)(&p[0]), C.int64_t(len(p)))
	})
}

// rows checks that x holds whole, finite input rows and counts them.
func (m *Model) rows(op string, x []float32) (int, error) {
	n, err := m.wholeRows(op, x)
	if err != nil {
		return 0, err
	}
	if err := finite(op+": input", x); err != nil {
		return 0, err
	}
	return n, nil
}

// wholeRows checks that x holds whole input rows and counts them.
func (m *Model) wholeRows(op string, x []float32) (int, error) {
	if len(x) == 0 {
		return 0, fmt.Errorf("%s: empty input", op)
	}
	if len(x)%m.in != 0 {
		return 0, fmt.Errorf("%s: input has %d values, not a whole number of %d-value rows (%s input is 1x28x28)", op, len(x), m.in, m.arch)
	}
	return len(x) / m.in, nil
}

// finite refuses NaN and infinite values, naming the first one. It runs
// over every input row of every TrainStep and Forward, so the common case,
// all finite, is one pass of allFinite; only a refusal scans again.
func finite(what string, xs []float32) error {
	if allFinite(xs) {
		return nil
	}
	for i, v := range xs {
		if math.Float32bits(v)&expBits == expBits {
			return fmt.Errorf("%s: value %d is %v", what, i, v)
		}
	}
	return nil
}

// expBits are a float32's exponent bits, all ones only in NaN and the
// infinities.
const expBits = 0x7f800000

// allFinite reports whether no value is NaN or infinite. Adding 0x00800000
// to a value's bits without the sign carries into bit 31 exactly when the
// exponent bits are all ones, so OR-ing those sums over all values and
// testing bit 31 checks them all, two values per 64-bit word (a lane's sum
// stays below 2^32, so lanes do not mix): 2-3 times faster than testing
// each value, about 0.1 ms of a Forward of 256 rows.
func allFinite(xs []float32) bool {
	lane := func(v float32) uint64 { return uint64(math.Float32bits(v)&0x7fffffff + 0x00800000) }
	var acc uint64
	i := 0
	if len(xs) > 0 && uintptr(unsafe.Pointer(&xs[0]))%8 != 0 { // align the words
		acc, i = lane(xs[0]), 1
	}
	if n := (len(xs) - i) / 2; n > 0 {
		for _, w := range unsafe.Slice((*uint64)(unsafe.Pointer(&xs[i])), n) {
			acc |= w&0x7fffffff7fffffff + 0x0080000000800000
		}
		i += 2 * n
	}
	for ; i < len(xs); i++ {
		acc |= lane(xs[i])
	}
	return acc&0x8000000080000000 == 0
}

// Save writes a checkpoint (weights, optimizer state and settings,
// architecture) to path atomically: it writes a temporary file in the same
// folder, syncs it and renames it, so path holds either the old or the new
// checkpoint.
func (m *Model) Save(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return fmt.Errorf("save checkpoint: %w", ErrClosed)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(name)
		}
	}()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var msg *C.char
	m.thread.run(func() { msg = C.c_model_save(m.h, cname) })
	if err := cerr(msg); err != nil {
		return err
	}
	if err := syncFile(name); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	ok = true
	return nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Load replaces the weights with those of the checkpoint at path and, when
// the checkpoint's optimizer is of the model's kind, the optimizer with the
// checkpoint's: its state and its learning rate, momentum and weight decay,
// so training resumes where it stopped. A checkpoint of another
// architecture, or a file that is not a checkpoint, is an error and leaves
// the model unchanged.
func (m *Model) Load(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("load checkpoint: %w", err)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return m.call("load checkpoint", func(h *C.tn_model) *C.char { return C.c_model_load(h, cpath) })
}
