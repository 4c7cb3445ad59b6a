package torch_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

// mustOpen loads the shim and fails (never skips) the test without it.
func mustOpen(tb testing.TB) {
	tb.Helper()
	if err := torch.Open(); err != nil {
		tb.Fatalf("these tests need the libtorch shim: run `make shim` (or set TAONET_TORCH_SHIM): %v", err)
	}
	if err := torch.SetNumThreads(1); err != nil {
		tb.Fatal(err)
	}
}

// mustModel makes a CPU model with weights from seed and closes it at the
// end of the test.
func mustModel(tb testing.TB, arch string, seed uint64) *torch.Model {
	tb.Helper()
	mustOpen(tb)
	if err := torch.SetSeed(seed); err != nil {
		tb.Fatal(err)
	}
	m, err := torch.NewModel(arch, torch.CPU)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// mustSGD gives m plain SGD so that one step is easy to reason about.
func mustSGD(tb testing.TB, m *torch.Model, lr float64) {
	tb.Helper()
	if err := m.SetOptimizer(torch.Optimizer{Kind: torch.OptSGD, LR: lr}); err != nil {
		tb.Fatal(err)
	}
}

// noClip is a clip so large that it only makes the step measure the
// gradient norm.
const noClip = 1e30

// batch is a fixed random problem: rows inputs of 784 values and labels.
func batch(rows int, seed uint64) ([]float32, []int64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, rows*784)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int64, rows)
	for i := range y {
		y[i] = int64(rng.IntN(10))
	}
	return x, y
}

// softmaxRows is a plain float64 softmax of z/t per row of classes values.
func softmaxRows(z []float32, classes int, t float64) []float64 {
	p := make([]float64, len(z))
	for r := 0; r < len(z); r += classes {
		m := math.Inf(-1)
		for _, v := range z[r : r+classes] {
			m = math.Max(m, float64(v)/t)
		}
		s := 0.0
		for c := range classes {
			p[r+c] = math.Exp(float64(z[r+c])/t - m)
			s += p[r+c]
		}
		for c := range classes {
			p[r+c] /= s
		}
	}
	return p
}

// maxDiff is the largest absolute difference of two equal-length slices.
func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func mustForward(tb testing.TB, m *torch.Model, x []float32) []float32 {
	tb.Helper()
	z, err := m.Forward(x)
	if err != nil {
		tb.Fatal(err)
	}
	return z
}
