package torch_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

// benchDevice is $TAONET_BENCH_DEVICE (default cpu); benchThreads is
// $TAONET_BENCH_THREADS (default 1). scripts/bench-torch.sh and
// scripts/gpu-check.sh set them to compare with PyTorch eager on the same
// settings (scripts/torch_reference.py).
func benchSetup(b *testing.B) torch.Device {
	mustOpen(b)
	dev, err := torch.ParseDevice(os.Getenv("TAONET_BENCH_DEVICE"))
	if os.Getenv("TAONET_BENCH_DEVICE") == "" {
		dev, err = torch.CPU, nil
	}
	if err != nil {
		b.Fatal(err)
	}
	threads := 1
	if s := os.Getenv("TAONET_BENCH_THREADS"); s != "" {
		if threads, err = strconv.Atoi(s); err != nil {
			b.Fatalf("TAONET_BENCH_THREADS: %v", err)
		}
	}
	if err := torch.SetNumThreads(threads); err != nil {
		b.Fatal(err)
	}
	return dev
}

// BenchmarkTrainStep times one cross-entropy training step (batch 64,
// Adam lr 1e-3, inputs copied from host memory each step, the loss copied
// back) per model: the same step as scripts/torch_reference.py.
func BenchmarkTrainStep(b *testing.B) {
	dev := benchSetup(b)
	for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
		b.Run(arch, func(b *testing.B) {
			if err := torch.SetSeed(0); err != nil {
				b.Fatal(err)
			}
			m, err := torch.NewModel(arch, dev)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			up, err := m.AdamUpdate()
			if err != nil {
				b.Fatal(err)
			}
			// 1 when the step used PyTorch's fused Adam kernel (gpu-check.sh
			// records it).
			fused := 0.0
			if up == torch.AdamFused {
				fused = 1
			}
			x, y := batch(64, 1)
			step := torch.Step{X: x, Labels: y, Alpha: 1}
			for range 10 { // warm-up: allocator, kernels, optimizer state
				if _, err := m.TrainStep(step); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.TrainStep(step); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(fused, "fused-adam")
		})
	}
}

// BenchmarkForward times inference on a batch of 256 rows.
func BenchmarkForward(b *testing.B) {
	dev := benchSetup(b)
	for _, arch := range []string{torch.ArchMLP, torch.ArchCNN} {
		b.Run(arch, func(b *testing.B) {
			m, err := torch.NewModel(arch, dev)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			x, _ := batch(256, 1)
			for b.Loop() {
				if _, err := m.Forward(x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
