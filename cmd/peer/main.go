// Command peer runs a taonet peer: it trains a libtorch model on its private
// data, serves Peer.Forward and Peer.Backward to the network, and distills
// from the other peers each round.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/internal/logformat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "peer",
		Short: "Run a taonet peer",
		Long: `peer joins a taonet network, trains a libtorch model (CPU or CUDA) on its
private data, serves its model to the other peers over mutual TLS and
distills from them each round, earning TAO for useful knowledge.`,
		Example: `  peer join --coordinator 127.0.0.1:7443 --token T --ca-pin sha256:... --home ./alice
  peer join --coordinator 127.0.0.1:7443 --home ./alice --http 127.0.0.1:9091
  peer status --home ./alice
  peer train --model mlp --epochs 3`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// One --home for every subcommand, before or after its name.
	home := root.PersistentFlags().String("home", homeDefault(), "peer home folder")
	logFormat := root.PersistentFlags().String("log-format", envDefault("TAONET_LOG_FORMAT", logformat.Text), "log format: text (key=value) or json (one object a line)")
	root.AddCommand(newJoinCmd(home, logFormat), newStatusCmd(home), newTrainCmd(home))
	return root
}

// homeDefault is the default for the root's --home: $TAONET_HOME, else
// ./peer-home.
func homeDefault() string { return envDefault("TAONET_HOME", "peer-home") }

// envDefault returns $name when set, else def: flags take their defaults
// from TAONET_* variables.
func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
