package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/coordinator"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Coordinator and Ledger services and run the round schedule",
		Long: `serve listens on --listen with mutual TLS and serves the Coordinator and
Ledger services, gRPC health and reflection on one port, and runs the round
scheduler. It prints the listening address once it is ready, and stops
gracefully on SIGINT or SIGTERM.

Environment: TAONET_HOME, TAONET_LISTEN.`,
		Example: `  coordinator serve --home ./net --listen 127.0.0.1:7443`,
		Args:    cobra.NoArgs,
	}
	home := cmd.Flags().String("home", homeDefault(), "coordinator home folder")
	listen := cmd.Flags().String("listen", envDefault("TAONET_LISTEN", "127.0.0.1:7443"), "address to listen on")
	lifetime := cmd.Flags().Duration("cert-lifetime", coordinator.DefaultConfig().LeafLifetime, "lifetime of issued certificates (renewed at 2/3)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg := coordinator.DefaultConfig()
		cfg.Home, cfg.Listen, cfg.Logger, cfg.LeafLifetime = *home, *listen, newLogger(), *lifetime
		s, err := coordinator.New(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "coordinator listening on %s (trust domain %s, CA pin %s)\n", s.Addr(), s.TrustDomain(), s.CAPin())
		return s.Run(cmd.Context())
	}
	return cmd
}
