package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
)

// trainConfig holds the flags of `peer train`.
type trainConfig struct {
	model, home, shard, device, data string
	epochs, batch, threads           int
	alpha, lr                        float64
	seed                             int64
}

func newTrainCmd() *cobra.Command {
	var c trainConfig
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model locally, without the network",
		Long: `train trains a model on the whole training split (the centralized
reference) or on one non-IID shard of it, prints the test accuracy on the
report pool and saves a checkpoint under --home.

The shard i/n is peer i's part of the private pool split among n peers with
a Dirichlet(--alpha) label skew drawn from --seed, as in the network.`,
		Example: `  peer train --model mlp --epochs 3
  peer train --model cnn --epochs 5 --device cuda
  peer train --model mlp --epochs 3 --shard 0/10 --alpha 0.1 --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, c) },
	}
	f := cmd.Flags()
	f.StringVar(&c.model, "model", "mlp", "model architecture: mlp or cnn")
	f.IntVar(&c.epochs, "epochs", 3, "training epochs")
	f.StringVar(&c.home, "home", homeDefault(), "peer home folder")
	f.StringVar(&c.shard, "shard", "", "train on shard i/n of the private pool (default: the whole training split)")
	f.Float64Var(&c.alpha, "alpha", 0.5, "Dirichlet label-skew concentration for --shard")
	f.Int64Var(&c.seed, "seed", 1, "random seed")
	f.StringVar(&c.device, "device", "auto", "auto, cpu or cuda[:N]")
	f.StringVar(&c.data, "data", dataDefault(), "folder of the Fashion-MNIST IDX files (train-*, t10k-*)")
	f.IntVar(&c.batch, "batch", 64, "examples per step")
	f.Float64Var(&c.lr, "lr", 1e-3, "peak Adam learning rate (cosine decay to 0 over the run)")
	f.IntVar(&c.threads, "threads", runtime.NumCPU(), "CPU threads for libtorch")
	return cmd
}

// dataDefault is the default for --data: $TAONET_DATA, else Debian's folder.
func dataDefault() string {
	if d := os.Getenv("TAONET_DATA"); d != "" {
		return d
	}
	return distill.FashionMNISTDir
}

func runTrain(cmd *cobra.Command, c trainConfig) error {
	out := cmd.OutOrStdout()
	dev, err := torch.ParseDevice(c.device)
	if err != nil {
		return err
	}
	if c.model != torch.ArchMLP && c.model != torch.ArchCNN {
		return fmt.Errorf("--model %q: want mlp or cnn", c.model)
	}
	if c.lr <= 0 {
		return fmt.Errorf("--lr %v: want a positive rate", c.lr)
	}
	fit := torch.FitConfig{Epochs: c.epochs, Batch: c.batch, Seed: uint64(c.seed), LR: c.lr}
	if err := fit.Validate(); err != nil {
		return err
	}
	if err := torch.Open(); err != nil {
		return err
	}
	if err := torch.SetNumThreads(c.threads); err != nil {
		return err
	}
	if err := torch.SetSeed(uint64(c.seed)); err != nil {
		return err
	}
	train, test, err := distill.LoadFashionMNIST(c.data)
	if err != nil {
		return err
	}
	pools, err := distill.SplitPools(train, test)
	if err != nil {
		return err
	}
	idx, what, err := trainingSet(pools, c)
	if err != nil {
		return err
	}
	m, err := torch.NewModel(c.model, dev)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.SetOptimizer(torch.Optimizer{Kind: torch.OptAdam, LR: c.lr}); err != nil {
		return err
	}
	info, _ := torch.RuntimeInfo()
	fmt.Fprintf(out, "train: %s (%d parameters) on %s, %s; %s: %d examples\n",
		c.model, m.NumParams(), m.Device(), info, what, len(idx))

	start := time.Now()
	fit.Progress = progress(out, c.epochs)
	fit.OnEpoch = func(s torch.EpochStats) {
		fmt.Fprintf(out, "epoch %d/%d: loss %.4f, %d steps, %.1fs\n", s.Epoch, c.epochs, s.Loss, s.Steps, s.Duration.Seconds())
	}
	if _, err := torch.Fit(cmd.Context(), m, train, idx, fit); err != nil {
		return err
	}
	ev, err := torch.Evaluate(m, test, pools.Report, 1000)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.home, 0o755); err != nil {
		return fmt.Errorf("create home: %w", err)
	}
	ckpt := filepath.Join(c.home, "model-"+c.model+".pt")
	if err := m.Save(ckpt); err != nil {
		return err
	}
	fmt.Fprintf(out, "checkpoint: %s\n", ckpt)
	fmt.Fprintf(out, "report pool: accuracy %.2f%% loss %.4f on %d examples (train %.1fs)\n",
		100*ev.Accuracy, ev.Loss, ev.Examples, time.Since(start).Seconds())
	return nil
}

// trainingSet is the whole training split, or shard i/n of the private pool.
func trainingSet(p *distill.Pools, c trainConfig) ([]int, string, error) {
	if c.shard == "" {
		return p.All, "whole training split", nil
	}
	i, n, err := distill.ParseShard(c.shard)
	if err != nil {
		return nil, "", err
	}
	shards, err := distill.Partition(p.Private, p.Train.Labels, p.Train.Classes, n, c.alpha, uint64(c.seed))
	if err != nil {
		return nil, "", err
	}
	return shards[i], fmt.Sprintf("shard %d/%d of the private pool (Dirichlet alpha %v, seed %d)", i, n, c.alpha, c.seed), nil
}

// progress draws a bar when out is a terminal; otherwise the plain epoch
// lines are the only progress output.
func progress(out io.Writer, epochs int) func(epoch, step, steps int, loss float32) {
	f, ok := out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	var bar *progressbar.ProgressBar
	return func(epoch, step, steps int, loss float32) {
		if step == 1 {
			bar = progressbar.NewOptions(steps,
				progressbar.OptionSetWriter(f),
				progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionClearOnFinish())
		}
		if step%20 == 0 || step == steps {
			bar.Describe(fmt.Sprintf("epoch %d/%d loss %.3f", epoch, epochs, loss))
			_ = bar.Set(step)
		}
	}
}
