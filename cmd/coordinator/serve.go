package main

import "github.com/spf13/cobra"

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Coordinator and Ledger services and run the round schedule",
		Long: `serve listens on --listen with mutual TLS and serves the Coordinator and
Ledger services, gRPC health and reflection on one port, and runs the round
scheduler.`,
		Example: `  coordinator serve --home ./net --listen 127.0.0.1:7443`,
		Args:    cobra.NoArgs,
		RunE:    notYet("serve"),
	}
	cmd.Flags().String("home", homeDefault(), "coordinator home folder")
	cmd.Flags().String("listen", "127.0.0.1:7443", "address to listen on")
	return cmd
}
