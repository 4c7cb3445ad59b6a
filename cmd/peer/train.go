package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/peer"
)

// newTrainCmd is the train command; home is the root's --home.
func newTrainCmd(home *string) *cobra.Command {
	c := peer.DefaultTrainConfig()
	var seed int64
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seed < 0 {
				return fmt.Errorf("--seed %d: want a non-negative seed", seed)
			}
			c.Seed, c.Home = uint64(seed), *home
			c.Out = cmd.OutOrStdout()
			c.Progress = progress(c.Out, c.Epochs)
			res, err := peer.Train(cmd.Context(), c)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.Out, "checkpoint: %s\n", res.Checkpoint)
			fmt.Fprintf(c.Out, "report pool: accuracy %.2f%% loss %.4f on %d examples (train %.1fs)\n",
				100*res.Report.Accuracy, res.Report.Loss, res.Report.Examples, res.Duration.Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Model, "model", c.Model, "model architecture: mlp or cnn")
	f.IntVar(&c.Epochs, "epochs", c.Epochs, "training epochs")
	f.StringVar(&c.Shard, "shard", "", "train on shard i/n of the private pool (default: the whole training split)")
	f.Float64Var(&c.Alpha, "alpha", c.Alpha, "Dirichlet label-skew concentration for --shard")
	f.Int64Var(&seed, "seed", int64(c.Seed), "random seed")
	f.StringVar(&c.Device, "device", c.Device, "auto, cpu or cuda[:N]")
	f.StringVar(&c.Data, "data", dataDefault(), "folder of the Fashion-MNIST IDX files (train-*, t10k-*)")
	f.IntVar(&c.Batch, "batch", c.Batch, "examples per step")
	f.Float64Var(&c.LR, "lr", c.LR, "peak Adam learning rate (cosine decay to 0 over the run)")
	f.IntVar(&c.Threads, "threads", runtime.NumCPU(), "CPU threads for libtorch")
	return cmd
}

// dataDefault is the default for --data: $TAONET_DATA, else Debian's folder.
func dataDefault() string { return envDefault("TAONET_DATA", distill.FashionMNISTDir) }

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
