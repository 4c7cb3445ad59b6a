package torch

/*
#include <stdlib.h>
#include "calls.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// Optimizer kinds.
const (
	OptAdam = "adam"
	OptSGD  = "sgd"
)

// Optimizer configures a model's optimizer.
type Optimizer struct {
	Kind        string  // OptAdam or OptSGD
	LR          float64 // learning rate, > 0
	Momentum    float64 // SGD momentum in [0, 1); ignored by Adam
	WeightDecay float64 // L2 penalty, >= 0
}

// SetOptimizer replaces the model's optimizer (its state starts afresh).
func (m *Model) SetOptimizer(o Optimizer) error {
	if o.Kind != OptAdam && o.Kind != OptSGD {
		return fmt.Errorf("set optimizer: unknown kind %q (want adam or sgd)", o.Kind)
	}
	kind := C.CString(o.Kind)
	defer C.free(unsafe.Pointer(kind))
	return m.call("set optimizer", func(h *C.tn_model) *C.char {
		return C.c_model_set_optimizer(h, kind, C.double(o.LR), C.double(o.Momentum), C.double(o.WeightDecay))
	})
}

// SetLR changes the learning rate of the current optimizer, keeping its
// state (for learning-rate schedules).
func (m *Model) SetLR(lr float64) error {
	if !(lr > 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("set learning rate: %v is not positive", lr)
	}
	return m.call("set learning rate", func(h *C.tn_model) *C.char { return C.c_model_set_lr(h, C.double(lr)) })
}

// Step is one training step on the mixed loss of docs/design.md "A round":
// Alpha * CE(f(X), Labels) + (1 - Alpha) * T^2 * KL(Teacher || softmax(f(TransferX) / T)).
// With Alpha 1 only X and Labels are needed; with Alpha 0 only TransferX
// and Teacher.
type Step struct {
	X           []float32 // labeled inputs, rows of InFeatures
	Labels      []int64   // one class per row of X
	TransferX   []float32 // transfer inputs, rows of InFeatures
	Teacher     []float32 // teacher distribution, Classes per row of TransferX
	Alpha       float64   // weight of the cross-entropy, in [0, 1]
	Temperature float64   // distillation temperature T > 0 (0 means 1)
	Clip        float64   // gradient-norm clip; 0 means none
	// LR, when positive, is set as the learning rate before the step and
	// kept, as SetLR does (a schedule pays no call of its own); 0 keeps it.
	LR float64
}

// StepStats reports a training step: the loss, its two parts and the
// gradient norm before clipping (only measured when Clip > 0, else 0: it
// costs a device sync; pass a huge clip such as 1e30 to measure only).
type StepStats struct {
	Loss, CE, KD, GradNorm float32
}

// TrainStep takes one optimizer step. Bad input (ragged rows, labels out of
// range, a teacher row that is not a distribution, NaN, a negative or NaN
// clip or learning rate) is refused before anything changes; a non-finite
// loss is refused without a step.
func (m *Model) TrainStep(s Step) (StepStats, error) {
	return m.trainStep(s, nil)
}

// trainStep is TrainStep. A non-nil fill writes X and Labels on the
// model's thread just before the step, where the step then reads them from
// the cache, and says that their values need no check: Fit fills them from
// data it checked once for the whole run (batcher.go). Their lengths are
// checked as always.
func (m *Model) trainStep(s Step, fill func()) (StepStats, error) {
	checked := fill != nil
	const op = "train step"
	var st StepStats
	if s.Temperature == 0 {
		s.Temperature = 1
	}
	if !(s.Alpha >= 0 && s.Alpha <= 1) {
		return st, fmt.Errorf("%s: alpha %v not in [0, 1]", op, s.Alpha)
	}
	if !(s.Temperature > 0) || math.IsInf(s.Temperature, 0) {
		return st, fmt.Errorf("%s: temperature %v not positive", op, s.Temperature)
	}
	if s.Clip < 0 || math.IsNaN(s.Clip) {
		return st, fmt.Errorf("%s: clip %v is negative or NaN (0 means no clipping)", op, s.Clip)
	}
	if !(s.LR >= 0) || math.IsInf(s.LR, 0) {
		return st, fmt.Errorf("%s: learning rate %v is negative or not finite (0 keeps it)", op, s.LR)
	}
	var nce, nkd int
	var xce, xkd, teacher *C.float
	var labels *C.int64_t
	var err error
	if s.Alpha > 0 {
		if checked {
			nce, err = m.wholeRows(op, s.X)
		} else {
			nce, err = m.rows(op, s.X)
		}
		if err != nil {
			return st, err
		}
		if checked && len(s.Labels) != nce {
			return st, fmt.Errorf("%s: %d labels for %d input rows", op, len(s.Labels), nce)
		}
		if !checked {
			if err := checkLabels(op, s.Labels, nce, m.classes); err != nil {
				return st, err
			}
		}
		xce, labels = (*C.float)(&s.X[0]), (*C.int64_t)(&s.Labels[0])
	}
	if s.Alpha < 1 {
		if nkd, err = m.rows(op+": transfer", s.TransferX); err != nil {
			return st, err
		}
		if err := CheckDistribution(op+": teacher", s.Teacher, nkd, m.classes); err != nil {
			return st, err
		}
		xkd, teacher = (*C.float)(&s.TransferX[0]), (*C.float)(&s.Teacher[0])
	}
	var out [4]C.float
	err = m.call(op, func(h *C.tn_model) *C.char {
		if fill != nil {
			fill()
		}
		return C.c_model_train_step(h, xce, labels, C.int64_t(nce), xkd, teacher, C.int64_t(nkd),
			C.double(s.Alpha), C.double(s.Temperature), C.double(s.Clip), C.double(s.LR), &out[0])
	})
	if err != nil {
		return st, err
	}
	return StepStats{Loss: float32(out[0]), CE: float32(out[1]), KD: float32(out[2]), GradNorm: float32(out[3])}, nil
}

// Backward runs f(x), backpropagates gradLogits (another party's gradient
// of its loss with respect to the logits f(x), [rows, Classes]), clips the
// gradient norm to clip (0: no clipping) and takes one optimizer step. It
// returns the gradient norm before clipping when clip > 0, else 0.
func (m *Model) Backward(x, gradLogits []float32, clip float64) (float32, error) {
	const op = "backward"
	rows, err := m.rows(op, x)
	if err != nil {
		return 0, err
	}
	if len(gradLogits) != rows*m.classes {
		return 0, fmt.Errorf("%s: gradient has %d values, want %d (%d rows x %d classes)", op, len(gradLogits), rows*m.classes, rows, m.classes)
	}
	if err := finite(op+": gradient", gradLogits); err != nil {
		return 0, err
	}
	if clip < 0 || math.IsNaN(clip) {
		return 0, fmt.Errorf("%s: clip %v is negative or NaN (0 means no clipping)", op, clip)
	}
	var norm C.float
	err = m.call(op, func(h *C.tn_model) *C.char {
		return C.c_model_backward(h, (*C.float)(&x[0]), (*C.float)(&gradLogits[0]), C.int64_t(rows), C.double(clip), &norm)
	})
	return float32(norm), err
}

// LossGrad evaluates alpha * CE(logits, labels) + (1 - alpha) * T^2 *
// KL(teacher || softmax(logits / T)) on given logits ([rows, classes]) in
// libtorch and returns the loss and its gradient with respect to the
// logits: what a peer sends back through Peer.Backward. labels may be nil
// when alpha is 0, teacher when alpha is 1.
func LossGrad(logits []float32, classes int, labels []int64, teacher []float32, alpha, temperature float64) (float32, []float32, error) {
	const op = "loss gradient"
	if err := Open(); err != nil {
		return 0, nil, err
	}
	if classes < 2 || len(logits) == 0 || len(logits)%classes != 0 {
		return 0, nil, fmt.Errorf("%s: %d logits are not whole rows of %d classes", op, len(logits), classes)
	}
	if !(alpha >= 0 && alpha <= 1) || !(temperature > 0) || math.IsInf(temperature, 0) {
		return 0, nil, fmt.Errorf("%s: alpha %v or temperature %v out of range", op, alpha, temperature)
	}
	if err := finite(op+": logits", logits); err != nil {
		return 0, nil, err
	}
	rows := len(logits) / classes
	var y *C.int64_t
	var t *C.float
	if alpha > 0 {
		if err := checkLabels(op, labels, rows, classes); err != nil {
			return 0, nil, err
		}
		y = (*C.int64_t)(&labels[0])
	}
	if alpha < 1 {
		if err := CheckDistribution(op+": teacher", teacher, rows, classes); err != nil {
			return 0, nil, err
		}
		t = (*C.float)(&teacher[0])
	}
	grad := make([]float32, len(logits))
	var loss C.float
	err := cerr(C.c_loss_grad((*C.float)(&logits[0]), C.int64_t(rows), C.int64_t(classes), y, t,
		C.double(alpha), C.double(temperature), &loss, (*C.float)(&grad[0])))
	if err != nil {
		return 0, nil, err
	}
	return float32(loss), grad, nil
}

func checkLabels(op string, labels []int64, rows, classes int) error {
	if len(labels) != rows {
		return fmt.Errorf("%s: %d labels for %d input rows", op, len(labels), rows)
	}
	for i, y := range labels {
		if y < 0 || y >= int64(classes) {
			return fmt.Errorf("%s: label %d is %d, not in [0, %d)", op, i, y, classes)
		}
	}
	return nil
}

// CheckDistribution checks that p holds rows probability rows of classes
// entries each: finite, non-negative, summing to 1 within 1e-3.
func CheckDistribution(what string, p []float32, rows, classes int) error {
	if len(p) != rows*classes {
		return fmt.Errorf("%s: %d values, want %d (%d rows x %d classes)", what, len(p), rows*classes, rows, classes)
	}
	if err := finite(what, p); err != nil {
		return err
	}
	for r := range rows {
		sum := 0.0
		for _, v := range p[r*classes : (r+1)*classes] {
			if v < 0 {
				return fmt.Errorf("%s: row %d has a negative probability", what, r)
			}
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-3 {
			return fmt.Errorf("%s: row %d sums to %.4f, not 1", what, r, sum)
		}
	}
	return nil
}
