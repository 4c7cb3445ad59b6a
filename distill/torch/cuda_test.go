package torch_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

// TestCUDA runs where libtorch sees a CUDA device (scripts/gpu-check.sh
// runs it there); elsewhere it says it skipped.
func TestCUDA(t *testing.T) {
	mustOpen(t)
	n, err := torch.CUDADevices()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Skip("no CUDA device: this test runs on GPU machines (scripts/gpu-check.sh)")
	}
	gpu := torch.Device{Kind: torch.DeviceCUDA}
	x, y := batch(16, 2)
	t.Run("OK/round-trip", func(t *testing.T) {
		got, err := torch.RoundTrip(x, gpu)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got, x); d != 0 {
			t.Fatalf("round trip through %v changed values by %g", gpu, d)
		}
	})
	t.Run("OK/checkpoint-across-devices", func(t *testing.T) {
		for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
			cpu := mustModel(t, arch, 3)
			path := filepath.Join(t.TempDir(), arch+".pt")
			if err := cpu.Save(path); err != nil {
				t.Fatal(err)
			}
			g, err := torch.NewModel(arch, gpu)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if err := g.Load(path); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(mustForward(t, cpu, x), mustForward(t, g, x)); d > 1e-3 {
				t.Fatalf("%s: CPU and CUDA logits differ by %g", arch, d)
			}
			for range 3 {
				if _, err := g.TrainStep(torch.Step{X: x, Labels: y, Alpha: 1}); err != nil {
					t.Fatal(err)
				}
			}
			if err := g.Save(path); err != nil {
				t.Fatal(err)
			}
			if err := cpu.Load(path); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(mustForward(t, cpu, x), mustForward(t, g, x)); d > 1e-3 {
				t.Fatalf("%s: after training on CUDA, CPU and CUDA logits differ by %g", arch, d)
			}
		}
	})
	t.Run("OK/fused-adam-matches-per-param", func(t *testing.T) {
		// The default CUDA update (PyTorch's fused kernel where the shim has
		// it) against torch::optim::Adam's step, over steps of every kind,
		// a learning-rate change and a checkpoint round trip.
		info, err := torch.RuntimeInfo()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("runtime: %s", info)
		for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
			if err := torch.SetSeed(4); err != nil {
				t.Fatal(err)
			}
			ref, err := torch.NewModel(arch, gpu)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			mustMultiTensor(t, ref, false)
			if err := torch.SetSeed(4); err != nil {
				t.Fatal(err)
			}
			fz, err := torch.NewModel(arch, gpu)
			if err != nil {
				t.Fatal(err)
			}
			defer fz.Close()
			up, err := fz.AdamUpdate()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: default Adam update on %v: %s", arch, gpu, up)
			if os.Getenv("TAONET_EXPECT_FUSED_ADAM") == "1" && up != torch.AdamFused {
				t.Fatalf("%s: Adam update %q, want %q (the shim was built with the fused kernel)", arch, up, torch.AdamFused)
			}
			if up == torch.AdamPerParam {
				mustMultiTensor(t, fz, true)
			}
			start := mustParams(t, ref)
			path := filepath.Join(t.TempDir(), arch+".pt")
			mustSteps(t, ref, 0, 3)
			mustSteps(t, fz, 0, 3)
			if err := fz.Save(path); err != nil {
				t.Fatal(err)
			}
			mustSteps(t, fz, 3, 4)
			if err := fz.Load(path); err != nil {
				t.Fatal(err)
			}
			mustSteps(t, ref, 3, 8)
			mustSteps(t, fz, 3, 8)
			// On the GPU the two models' gradients can differ in the last
			// bits (cuBLAS/cuDNN reductions), and Adam magnifies that where
			// the second moment is tiny; 1e-4 still catches a wrong step
			// count (bias correction) or learning rate, each of which
			// moves the parameters by several 1e-4 over these steps.
			t.Logf("%s: fused vs per-param Adam: max parameter difference %g", arch, maxDiff(mustParams(t, fz), mustParams(t, ref)))
			mustSameParams(t, fz, ref, start, 1e-4)
		}
	})
	t.Run("OK/loss-decreases", func(t *testing.T) {
		g, err := torch.NewModel(torch.ArchCNN, gpu)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		var first, last torch.StepStats
		for i := range 40 {
			st, err := g.TrainStep(torch.Step{X: x, Labels: y, Alpha: 0.5, TransferX: x, Teacher: sharp(y), Clip: 5})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = st
			}
			last = st
		}
		if !(last.Loss < first.Loss*0.7) || first.GradNorm <= 0 {
			t.Fatalf("loss %v -> %v, grad norm %v", first.Loss, last.Loss, first.GradNorm)
		}
	})
}

// sharp is a teacher distribution with 0.91 on each label, 0.01 elsewhere.
func sharp(labels []int64) []float32 {
	p := make([]float32, len(labels)*10)
	for r, c := range labels {
		for k := range 10 {
			p[r*10+k] = 0.01
		}
		p[r*10+int(c)] = 0.91
	}
	return p
}
