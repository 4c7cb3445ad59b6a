package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
)

// TrainConfig configures Train, the local training of `peer train`.
type TrainConfig struct {
	// Model is the architecture: mlp or cnn.
	Model string
	// Home receives the checkpoint model-<arch>.pt.
	Home string
	// Data is the folder of the Fashion-MNIST IDX files.
	Data string
	// Shard "i/n" trains on peer i's part of the private pool split among n
	// peers with a Dirichlet(Alpha) label skew from Seed; empty trains on
	// the whole training split (the centralized reference).
	Shard string
	Alpha float64
	Seed  uint64
	// Device is auto, cpu or cuda[:N]; Threads the CPU threads of libtorch.
	Device  string
	Threads int
	// Epochs, Batch and LR (peak of a cosine schedule) drive the training.
	Epochs int
	Batch  int
	LR     float64
	// Out receives progress lines; Progress, when set, is called each step.
	Out      io.Writer
	Progress func(epoch, step, steps int, loss float32)
}

// DefaultTrainConfig returns the defaults of `peer train`.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Model: torch.ArchMLP, Home: "peer-home", Data: distill.FashionMNISTDir,
		Alpha: 0.5, Seed: 1, Device: "auto", Threads: 1,
		Epochs: 3, Batch: 64, LR: 1e-3, Out: io.Discard,
	}
}

// Validate checks every field and names the bad value.
func (c TrainConfig) Validate() error {
	var errs []error
	if c.Model != torch.ArchMLP && c.Model != torch.ArchCNN {
		errs = append(errs, fmt.Errorf("model %q: want mlp or cnn", c.Model))
	}
	if c.Home == "" || c.Data == "" {
		errs = append(errs, errors.New("home and data must be set"))
	}
	if _, err := torch.ParseDevice(c.Device); err != nil {
		errs = append(errs, err)
	}
	if c.Shard != "" {
		if _, _, err := distill.ParseShard(c.Shard); err != nil {
			errs = append(errs, err)
		}
		if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
			errs = append(errs, fmt.Errorf("alpha %v must be positive", c.Alpha))
		}
	}
	if c.Threads < 1 {
		errs = append(errs, fmt.Errorf("threads %d must be at least 1", c.Threads))
	}
	if !(c.LR > 0) {
		errs = append(errs, fmt.Errorf("learning rate %v must be positive", c.LR))
	}
	fit := torch.FitConfig{Epochs: c.Epochs, Batch: c.Batch, LR: c.LR}
	if err := fit.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Out == nil {
		errs = append(errs, errors.New("out must be set"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("train config: %w", err)
	}
	return nil
}

// TrainResult is what Train measured.
type TrainResult struct {
	Examples   int
	Checkpoint string
	Report     torch.Eval // on the report pool
	Duration   time.Duration
}

// Train trains a fresh model on the shard (or the whole training split),
// evaluates it on the report pool and saves its checkpoint under Home.
func Train(ctx context.Context, c TrainConfig) (*TrainResult, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	pools, err := loadPools(c.Data)
	if err != nil {
		return nil, err
	}
	idx, what, err := trainingSet(pools, c.Shard, c.Alpha, c.Seed)
	if err != nil {
		return nil, err
	}
	m, err := NewEngine(c.Model, c.Device, c.Threads, c.Seed, c.LR)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	info, _ := torch.RuntimeInfo()
	fmt.Fprintf(c.Out, "train: %s (%d parameters) on %s, %s; %s: %d examples\n",
		c.Model, m.NumParams(), m.Device(), info, what, len(idx))
	start := time.Now()
	fit := torch.FitConfig{Epochs: c.Epochs, Batch: c.Batch, Seed: c.Seed, LR: c.LR, Progress: c.Progress,
		OnEpoch: func(s torch.EpochStats) {
			fmt.Fprintf(c.Out, "epoch %d/%d: loss %.4f, %d steps, %.1fs\n", s.Epoch, c.Epochs, s.Loss, s.Steps, s.Duration.Seconds())
		}}
	if _, err := torch.Fit(ctx, m, pools.Train, idx, fit); err != nil {
		return nil, err
	}
	ev, err := torch.Evaluate(m, pools.Test, pools.Report, 1000)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Home, 0o755); err != nil {
		return nil, fmt.Errorf("create home: %w", err)
	}
	ckpt := CheckpointPath(c.Home, c.Model)
	if err := m.Save(ckpt); err != nil {
		return nil, err
	}
	return &TrainResult{Examples: len(idx), Checkpoint: ckpt, Report: ev, Duration: time.Since(start)}, nil
}

// CheckpointPath is where a peer keeps the checkpoint of architecture arch.
func CheckpointPath(home, arch string) string {
	return filepath.Join(home, "model-"+arch+".pt")
}

// trainingSet is the whole training split, or shard i/n of the private pool.
func trainingSet(p *distill.Pools, shard string, alpha float64, seed uint64) ([]int, string, error) {
	if shard == "" {
		return p.All, "whole training split", nil
	}
	i, n, err := distill.ParseShard(shard)
	if err != nil {
		return nil, "", err
	}
	shards, err := distill.Partition(p.Private, p.Train.Labels, p.Train.Classes, n, alpha, seed)
	if err != nil {
		return nil, "", err
	}
	return shards[i], fmt.Sprintf("shard %d/%d of the private pool (Dirichlet alpha %v, seed %d)", i, n, alpha, seed), nil
}

// newEngine opens libtorch with threads CPU threads and seed, and builds a
// fresh model of arch on device with Adam at lr.
func NewEngine(arch, device string, threads int, seed uint64, lr float64) (*torch.Model, error) {
	dev, err := torch.ParseDevice(device)
	if err != nil {
		return nil, err
	}
	if err := torch.Open(); err != nil {
		return nil, err
	}
	if err := torch.SetNumThreads(threads); err != nil {
		return nil, err
	}
	if err := torch.SetSeed(seed); err != nil {
		return nil, err
	}
	m, err := torch.NewModel(arch, dev)
	if err != nil {
		return nil, err
	}
	if err := m.SetOptimizer(torch.Optimizer{Kind: torch.OptAdam, LR: lr}); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}
