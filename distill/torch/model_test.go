package torch_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

func TestRoundTrip(t *testing.T) {
	mustOpen(t)
	x := []float32{0, float32(math.Copysign(0, -1)), 1.5, -3.25e-38, 1e-45, math.MaxFloat32, -math.MaxFloat32, 123456.789}
	got, err := torch.RoundTrip(x, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if math.Float32bits(got[i]) != math.Float32bits(x[i]) {
			t.Errorf("value %d: got %v, want %v (bit-exact)", i, got[i], x[i])
		}
	}
}

func TestNewModel(t *testing.T) {
	for _, tc := range []struct {
		arch      string
		maxParams int
	}{{torch.ArchMLP, 784*256 + 256 + 256*128 + 128 + 128*10 + 10}, {torch.ArchCNN, 100_000}} {
		t.Run("OK/"+tc.arch, func(t *testing.T) {
			m := mustModel(t, tc.arch, 1)
			if m.InFeatures() != 784 || m.Classes() != 10 {
				t.Fatalf("in %d classes %d", m.InFeatures(), m.Classes())
			}
			if m.NumParams() > tc.maxParams || (tc.arch == torch.ArchMLP && m.NumParams() != tc.maxParams) {
				t.Fatalf("%s has %d parameters, limit %d", tc.arch, m.NumParams(), tc.maxParams)
			}
		})
	}
	t.Run("ErrUnknownArch", func(t *testing.T) {
		mustOpen(t)
		if _, err := torch.NewModel("resnet", torch.CPU); err == nil || !strings.Contains(err.Error(), "resnet") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestForward(t *testing.T) {
	for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
		t.Run("OK/"+arch, func(t *testing.T) {
			m := mustModel(t, arch, 7)
			x, _ := batch(3, 1)
			all := mustForward(t, m, x)
			if len(all) != 3*10 {
				t.Fatalf("%d logits", len(all))
			}
			// Each row's logits depend on that row alone: the shim reads
			// the host buffer row-major.
			for r := range 3 {
				one := mustForward(t, m, x[r*784:(r+1)*784])
				if d := maxDiff(one, all[r*10:(r+1)*10]); d > 1e-5 {
					t.Errorf("row %d alone differs from the batch by %g", r, d)
				}
			}
			if d := maxDiff(all, mustForward(t, m, x)); d != 0 {
				t.Errorf("forward is not deterministic: %g", d)
			}
		})
	}
	m := mustModel(t, torch.ArchMLP, 7)
	nan, _ := batch(2, 1)
	nan[900] = float32(math.NaN())
	inf, _ := batch(1, 1)
	inf[3] = float32(math.Inf(-1))
	for _, tc := range []struct {
		name, want string
		x          []float32
	}{
		{"ErrEmpty", "empty", nil},
		{"ErrShape", "whole number of 784-value rows", make([]float32, 785)},
		{"ErrNaN", "value 900 is NaN", nan},
		{"ErrInf", "value 3 is -Inf", inf},
		// The finiteness test reads two values per 64-bit word: every
		// place in a word, at both ends, in a buffer that starts off the
		// word boundary.
		{"ErrNaNFirst", "value 0 is NaN", withAt(1, 0, 0, float32(math.NaN()))},
		{"ErrInfLast", "value 1567 is +Inf", withAt(2, 0, 1567, float32(math.Inf(1)))},
		{"ErrNaNOffFirst", "value 0 is NaN", withAt(1, 1, 0, float32(math.NaN()))},
		{"ErrNaNOffSecond", "value 1 is NaN", withAt(1, 1, 1, float32(math.NaN()))},
		{"ErrInfOffLast", "value 783 is -Inf", withAt(1, 1, 783, float32(math.Inf(-1)))},
		{"ErrNaNOffMiddle", "value 400 is NaN", withAt(1, 1, 400, float32(math.NaN()))},
		{"ErrMaxNaN", "value 401 is NaN", withAt(1, 0, 401, math.Float32frombits(0xffffffff))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Forward(tc.x); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("ErrClosed", func(t *testing.T) {
		c := mustModel(t, torch.ArchMLP, 1)
		c.Close()
		if _, err := c.Forward(make([]float32, 784)); !errors.Is(err, torch.ErrClosed) {
			t.Fatalf("got %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
	})
}

func TestDevice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want torch.Device
	}{{"cpu", torch.CPU}, {"auto", torch.Device{Kind: "auto"}}, {"cuda", torch.Device{Kind: "cuda"}}, {"cuda:3", torch.Device{Kind: "cuda", Index: 3}}} {
		t.Run("OK/"+tc.in, func(t *testing.T) {
			got, err := torch.ParseDevice(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
	for _, in := range []string{"gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", ""} {
		t.Run("ErrParse/"+in, func(t *testing.T) {
			if _, err := torch.ParseDevice(in); err == nil {
				t.Fatal("no error")
			}
		})
	}
	mustOpen(t)
	n, err := torch.CUDADevices()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK/auto", func(t *testing.T) {
		d, err := torch.Device{Kind: "auto"}.Resolve()
		if err != nil || (n == 0 && d != torch.CPU) || (n > 0 && d.Kind != torch.DeviceCUDA) {
			t.Fatalf("auto resolved to %v, %v with %d CUDA devices", d, err, n)
		}
	})
	t.Run("ErrCUDAUnavailable", func(t *testing.T) {
		// Where CUDA exists, ask for one device more than there is.
		dev := torch.Device{Kind: torch.DeviceCUDA, Index: n}
		_, err := torch.NewModel(torch.ArchMLP, dev)
		want := "CUDA is not available"
		if n > 0 {
			want = "CUDA device(s)"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("NewModel on %v: got %v, want %q", dev, err, want)
		}
	})
}

func TestCheckpoint(t *testing.T) {
	x, y := batch(16, 3)
	step := torch.Step{X: x, Labels: y, Alpha: 1}
	t.Run("OK", func(t *testing.T) {
		a := mustModel(t, torch.ArchCNN, 1)
		for range 3 {
			if _, err := a.TrainStep(step); err != nil {
				t.Fatal(err)
			}
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "a.pt")
		if err := a.Save(path); err != nil {
			t.Fatal(err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("save left %d files, want only the checkpoint", len(ents))
		}
		b := mustModel(t, torch.ArchCNN, 2)
		if d := maxDiff(mustForward(t, a, x), mustForward(t, b, x)); d == 0 {
			t.Fatal("two seeds gave the same weights; the test would prove nothing")
		}
		if err := b.Load(path); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(mustForward(t, a, x), mustForward(t, b, x)); d != 0 {
			t.Fatalf("loaded model differs by %g", d)
		}
		// The Adam state came along: one more identical step keeps them equal.
		for _, m := range []*torch.Model{a, b} {
			if _, err := m.TrainStep(step); err != nil {
				t.Fatal(err)
			}
		}
		if d := maxDiff(mustForward(t, a, x), mustForward(t, b, x)); d > 1e-6 {
			t.Fatalf("after one more step the models differ by %g: optimizer state not restored", d)
		}
	})

	// Resuming from a checkpoint resumes its optimizer settings too: the
	// loading model starts with other ones, and after the load the next
	// steps match the saved model's exactly.
	for _, tc := range []struct {
		name        string
		saved, load torch.Optimizer
	}{
		{"OK/ResumesAdamLR", torch.Optimizer{Kind: torch.OptAdam, LR: 5e-2, WeightDecay: 1e-2}, torch.Optimizer{Kind: torch.OptAdam, LR: 1e-4}},
		{"OK/ResumesSGDMomentum", torch.Optimizer{Kind: torch.OptSGD, LR: 0.1, Momentum: 0.9}, torch.Optimizer{Kind: torch.OptSGD, LR: 0.01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := mustModel(t, torch.ArchMLP, 1), mustModel(t, torch.ArchMLP, 2)
			if err := a.SetOptimizer(tc.saved); err != nil {
				t.Fatal(err)
			}
			if err := b.SetOptimizer(tc.load); err != nil {
				t.Fatal(err)
			}
			if _, err := a.TrainStep(step); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "a.pt")
			if err := a.Save(path); err != nil {
				t.Fatal(err)
			}
			if err := b.Load(path); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				for _, m := range []*torch.Model{a, b} {
					if _, err := m.TrainStep(step); err != nil {
						t.Fatal(err)
					}
				}
			}
			if d := maxDiff(mustParams(t, a), mustParams(t, b)); d > 1e-6 {
				t.Fatalf("after three more steps the models differ by %g: the checkpoint's optimizer settings were not resumed", d)
			}
		})
	}

	mlp := mustModel(t, torch.ArchMLP, 1)
	dir := t.TempDir()
	mlpPath := filepath.Join(dir, "mlp.pt")
	if err := mlp.Save(mlpPath); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pt")
	if err := os.WriteFile(garbage, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"ErrOtherArch", mlpPath, "checkpoint is for architecture mlp, model is cnn"},
		{"ErrNotCheckpoint", garbage, "load checkpoint"},
		{"ErrMissing", filepath.Join(dir, "none.pt"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cnn := mustModel(t, torch.ArchCNN, 5)
			before := mustForward(t, cnn, x)
			err := cnn.Load(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if d := maxDiff(before, mustForward(t, cnn, x)); d != 0 {
				t.Fatalf("a failed load changed the model by %g", d)
			}
		})
	}
	t.Run("ErrSaveOverFolder", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "ckpt")
		if err := os.Mkdir(filepath.Join(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(target, "keep"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := mlp.Save(target); err == nil {
			t.Fatal("saving over a non-empty folder succeeded")
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("a failed save left %d entries, want no temporary file", len(ents))
		}
	})
	t.Run("ErrSaveNoFolder", func(t *testing.T) {
		if err := mlp.Save(filepath.Join(t.TempDir(), "missing", "x.pt")); err == nil {
			t.Fatal("no error")
		}
	})
}

// withAt is rows random input rows with v at index i, in a buffer that
// starts off words elements into its allocation.
func withAt(rows, off, i int, v float32) []float32 {
	x, _ := batch(rows, 1)
	buf := make([]float32, off+len(x))
	copy(buf[off:], x)
	buf[off+i] = v
	return buf[off:]
}
