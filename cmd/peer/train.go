package main

import "github.com/spf13/cobra"

func newTrainCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model locally, without the network",
		Long: `train trains a model on the whole training split (the centralized
reference) or on one non-IID shard of it, prints the test accuracy on the
report pool and saves a checkpoint under --home.`,
		Example: `  peer train --model mlp --epochs 3
  peer train --model cnn --epochs 5 --device cuda
  peer train --model mlp --epochs 3 --shard 0/10 --alpha 0.1 --seed 1`,
		Args: cobra.NoArgs,
		RunE: notYet("train"),
	}
	cmd.Flags().String("model", "mlp", "model architecture: mlp or cnn")
	cmd.Flags().Int("epochs", 3, "training epochs")
	cmd.Flags().String("home", homeDefault(), "peer home folder")
	cmd.Flags().String("shard", "", "train on shard i/n of the private pool (default: the whole training split)")
	cmd.Flags().Float64("alpha", 0.5, "Dirichlet label-skew concentration for --shard")
	cmd.Flags().Int64("seed", 1, "random seed")
	cmd.Flags().String("device", "auto", "auto, cpu or cuda[:N]")
	return cmd
}
