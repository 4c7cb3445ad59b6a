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
	mu      sync.Mutex
	h       *C.tn_model
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
	var h *C.tn_model
	if err := cerr(C.c_model_new(carch, cdev, &h)); err != nil {
		return nil, err
	}
	var in, classes, params C.int64_t
	if err := cerr(C.c_model_info(h, &in, &classes, &params)); err != nil {
		C.c_model_free(h)
		return nil, err
	}
	m := &Model{h: h, arch: arch, device: dev, in: int(in), classes: int(classes), nParams: int(params)}
	m.cleanup = runtime.AddCleanup(m, func(h *C.tn_model) { C.c_model_free(h) }, h)
	return m, nil
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
	C.c_model_free(m.h)
	m.h = nil
	return nil
}

// Forward returns the logits ([rows, Classes], row-major) of the rows of x,
// without tracking gradients.
func (m *Model) Forward(x []float32) ([]float32, error) {
	rows, err := m.rows("forward", x)
	if err != nil {
		return nil, err
	}
	out := make([]float32, rows*m.classes)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil, fmt.Errorf("forward: %w", ErrClosed)
	}
	err = cerr(C.c_model_forward(m.h, (*C.float)(&x[0]), C.int64_t(rows), (*C.float)(&out[0])))
	return out, err
}

// Params returns a copy of every parameter, flattened and concatenated in
// the model's order (NumParams values): for comparing two models exactly.
func (m *Model) Params() ([]float32, error) {
	out := make([]float32, m.nParams)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil, fmt.Errorf("parameters: %w", ErrClosed)
	}
	if err := cerr(C.c_model_params(m.h, (*C.float)(&out[0]), C.int64_t(len(out)))); err != nil {
		return nil, err
	}
	return out, nil
}

// rows checks that x holds whole, finite input rows and counts them.
func (m *Model) rows(op string, x []float32) (int, error) {
	if len(x) == 0 {
		return 0, fmt.Errorf("%s: empty input", op)
	}
	if len(x)%m.in != 0 {
		return 0, fmt.Errorf("%s: input has %d values, not a whole number of %d-value rows (%s input is 1x28x28)", op, len(x), m.in, m.arch)
	}
	if err := finite(op+": input", x); err != nil {
		return 0, err
	}
	return len(x) / m.in, nil
}

// finite refuses NaN and infinite values, naming the first one.
func finite(what string, xs []float32) error {
	for i, v := range xs {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: value %d is %v", what, i, v)
		}
	}
	return nil
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
	if err := cerr(C.c_model_save(m.h, cname)); err != nil {
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
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return fmt.Errorf("load checkpoint: %w", ErrClosed)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	return cerr(C.c_model_load(m.h, cpath))
}
