package torch_test

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

// mustSteps takes steps from..to-1 of a fixed sequence on m: a
// cross-entropy step, a mixed distillation step with clipping and an
// external-gradient step in turn, with the learning rate raised before
// step 4. Two models given the same steps must end equal.
func mustSteps(tb testing.TB, m *torch.Model, from, to int) {
	tb.Helper()
	x, y := batch(16, 7)
	tx, _ := batch(16, 8)
	grad := make([]float32, 16*10)
	for i := range grad {
		grad[i] = float32(i%7-3) / 50
	}
	for i := from; i < to; i++ {
		if i == 4 {
			if err := m.SetLR(3e-3); err != nil {
				tb.Fatal(err)
			}
		}
		var err error
		switch i % 3 {
		case 0:
			_, err = m.TrainStep(torch.Step{X: x, Labels: y, Alpha: 1})
		case 1:
			_, err = m.TrainStep(torch.Step{X: x, Labels: y, TransferX: tx, Teacher: sharp(y), Alpha: 0.3, Temperature: 2, Clip: 1})
		case 2:
			_, err = m.Backward(tx, grad, 0)
		}
		if err != nil {
			tb.Fatalf("step %d: %v", i, err)
		}
	}
}

func mustParams(tb testing.TB, m *torch.Model) []float32 {
	tb.Helper()
	p, err := m.Params()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func mustMultiTensor(tb testing.TB, m *torch.Model, on bool) {
	tb.Helper()
	if err := m.SetMultiTensorAdam(on); err != nil {
		tb.Fatal(err)
	}
}

// mustSameParams fails when a and b differ by more than tol, or when they
// are equal to the start (the steps did nothing).
func mustSameParams(tb testing.TB, a, b *torch.Model, start []float32, tol float64) {
	tb.Helper()
	pa, pb := mustParams(tb, a), mustParams(tb, b)
	if d := maxDiff(pa, start); d == 0 {
		tb.Fatal("the steps left the parameters unchanged; the comparison would prove nothing")
	}
	if d := maxDiff(pa, pb); d > tol {
		tb.Fatalf("parameters differ by %g (tolerance %g)", d, tol)
	}
}

func TestMultiTensorAdam(t *testing.T) {
	t.Run("OK/update-kinds", func(t *testing.T) {
		m := mustModel(t, torch.ArchMLP, 1)
		for _, tc := range []struct {
			set  func() error
			want string
		}{
			{func() error { return nil }, torch.AdamPerParam},
			{func() error { return m.SetMultiTensorAdam(true) }, torch.AdamMultiTensor},
			{func() error { return m.SetOptimizer(torch.Optimizer{Kind: torch.OptSGD, LR: 0.1}) }, ""},
			{func() error { return m.SetOptimizer(torch.Optimizer{Kind: torch.OptAdam, LR: 1e-3}) }, torch.AdamMultiTensor},
			{func() error { return m.SetMultiTensorAdam(false) }, torch.AdamPerParam},
		} {
			if err := tc.set(); err != nil {
				t.Fatal(err)
			}
			if got, err := m.AdamUpdate(); err != nil || got != tc.want {
				t.Fatalf("AdamUpdate = %q, %v; want %q", got, err, tc.want)
			}
		}
	})
	for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
		t.Run("OK/matches-per-param/"+arch, func(t *testing.T) {
			ref, mt := mustModel(t, arch, 4), mustModel(t, arch, 4)
			mustMultiTensor(t, mt, true)
			start := mustParams(t, ref)
			mustSteps(t, ref, 0, 6)
			mustSteps(t, mt, 0, 6)
			mustSameParams(t, mt, ref, start, 1e-6)
		})
	}
	t.Run("OK/switch-between-steps", func(t *testing.T) {
		ref, mt := mustModel(t, torch.ArchMLP, 4), mustModel(t, torch.ArchMLP, 4)
		start := mustParams(t, ref)
		mustSteps(t, ref, 0, 6)
		mustMultiTensor(t, mt, true)
		mustSteps(t, mt, 0, 2)
		mustMultiTensor(t, mt, false)
		mustSteps(t, mt, 2, 4)
		mustMultiTensor(t, mt, true)
		mustSteps(t, mt, 4, 6)
		mustSameParams(t, mt, ref, start, 1e-6)
	})
	t.Run("OK/checkpoint", func(t *testing.T) {
		// mt saves after 2 steps, goes on, then loads that checkpoint back:
		// its step counters must follow the loaded state, as must those of
		// a fresh multi-tensor model and a per-parameter one.
		path := filepath.Join(t.TempDir(), "adam.pt")
		mt := mustModel(t, torch.ArchCNN, 4)
		mustMultiTensor(t, mt, true)
		start := mustParams(t, mt)
		mustSteps(t, mt, 0, 2)
		if err := mt.Save(path); err != nil {
			t.Fatal(err)
		}
		mustSteps(t, mt, 2, 4) // before the learning rate changes: Load keeps it
		fresh, ref := mustModel(t, torch.ArchCNN, 9), mustModel(t, torch.ArchCNN, 9)
		mustMultiTensor(t, fresh, true)
		for _, m := range []*torch.Model{mt, fresh, ref} {
			if err := m.Load(path); err != nil {
				t.Fatal(err)
			}
			mustSteps(t, m, 2, 6)
		}
		mustSameParams(t, mt, ref, start, 1e-6)
		mustSameParams(t, fresh, ref, start, 1e-6)
	})
	t.Run("ErrClosed", func(t *testing.T) {
		m := mustModel(t, torch.ArchMLP, 1)
		m.Close()
		if err := m.SetMultiTensorAdam(true); !errors.Is(err, torch.ErrClosed) {
			t.Fatalf("SetMultiTensorAdam: got %v", err)
		}
		if _, err := m.AdamUpdate(); !errors.Is(err, torch.ErrClosed) {
			t.Fatalf("AdamUpdate: got %v", err)
		}
		if _, err := m.Params(); !errors.Is(err, torch.ErrClosed) {
			t.Fatalf("Params: got %v", err)
		}
	})
}

func TestParams(t *testing.T) {
	a, b := mustModel(t, torch.ArchCNN, 3), mustModel(t, torch.ArchCNN, 3)
	pa := mustParams(t, a)
	if len(pa) != a.NumParams() || len(pa) != 63786 {
		t.Fatalf("%d parameters, NumParams %d, want 63786", len(pa), a.NumParams())
	}
	if d := maxDiff(pa, mustParams(t, b)); d != 0 {
		t.Fatalf("two models from one seed differ by %g", d)
	}
	mustSteps(t, a, 0, 1)
	if d := maxDiff(pa, mustParams(t, a)); d == 0 {
		t.Fatal("a step left the parameters unchanged")
	}
}

// SetParams writes the parameters that Params reads back and that Forward
// uses; a wrong length or a NaN is refused with the model unchanged.
func TestSetParams(t *testing.T) {
	a, b := mustModel(t, torch.ArchMLP, 3), mustModel(t, torch.ArchMLP, 4)
	pb := mustParams(t, b)
	x, _ := batch(4, 9)
	if d := maxDiff(mustForward(t, a, x), mustForward(t, b, x)); d == 0 {
		t.Fatal("two seeds gave the same model")
	}
	if err := a.SetParams(pb); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(mustParams(t, a), pb); d != 0 {
		t.Fatalf("parameters differ by %g after SetParams", d)
	}
	if d := maxDiff(mustForward(t, a, x), mustForward(t, b, x)); d != 0 {
		t.Fatalf("forward differs by %g after SetParams", d)
	}
	// Training after SetParams still works (the optimizer holds the same tensors).
	mustSteps(t, a, 0, 1)
	if d := maxDiff(mustParams(t, a), pb); d == 0 {
		t.Fatal("a step after SetParams left the parameters unchanged")
	}
	before := mustParams(t, a)
	if err := a.SetParams(pb[1:]); err == nil {
		t.Fatal("SetParams took one value too few")
	}
	bad := append([]float32(nil), pb...)
	bad[len(bad)-1] = float32(math.NaN())
	if err := a.SetParams(bad); err == nil || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("SetParams with a NaN: got %v", err)
	}
	if d := maxDiff(mustParams(t, a), before); d != 0 {
		t.Fatalf("a refused SetParams changed the parameters by %g", d)
	}
}
