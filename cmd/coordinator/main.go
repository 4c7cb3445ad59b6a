// Command coordinator runs a taonet network's coordinator: certificate
// authority, enrollment, peer directory, round scheduler, validator and TAO
// ledger. See docs/design.md for the contract between the parts.
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
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "coordinator",
		Short: "Run and administer a taonet coordinator",
		Long: `coordinator runs a taonet network: it is the network's certificate
authority, keeps the peer directory, opens scheduled distillation rounds,
scores every peer on held-out data and pays TAO into a SQLite ledger.

Everything lives in one home folder (--home, or $TAONET_HOME): the CA, the
coordinator's certificate and the database.`,
		Example: `  coordinator init --home ./net --hosts localhost,127.0.0.1
  coordinator token create --home ./net --name alice
  coordinator serve --home ./net --listen 127.0.0.1:7443 --http 127.0.0.1:9090
  coordinator status --home ./net`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// One --home for every subcommand, before or after its name.
	home := root.PersistentFlags().String("home", homeDefault(), "coordinator home folder")
	logFormat := root.PersistentFlags().String("log-format", envDefault("TAONET_LOG_FORMAT", logformat.Text), "log format: text (key=value) or json (one object a line)")
	root.AddCommand(
		newInitCmd(home),
		newServeCmd(home, logFormat),
		newStatusCmd(home),
		newTokenCmd(home),
		newClientCertCmd(home),
		newRevokeCmd(home),
		newLedgerCmd(home),
	)
	return root
}

// homeDefault is the default for the root's --home: $TAONET_HOME, else
// ./taonet-home.
func homeDefault() string { return envDefault("TAONET_HOME", "taonet-home") }

// envDefault returns $name when set, else def: flags take their defaults
// from TAONET_* variables.
func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
