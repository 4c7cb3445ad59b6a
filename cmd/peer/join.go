package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/peer"
)

func newJoinCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Enroll with a coordinator (first time) and take part in the network",
		Long: `join enrolls with the coordinator the first time (--token and --ca-pin from
'coordinator token create'), storing key.pem (0600), cert.pem and ca.pem in
--home; later runs reuse the stored certificate. It then joins the directory
over mutual TLS, serves the Peer service on --listen and takes part in rounds
until interrupted (SIGINT or SIGTERM: it leaves the directory cleanly).

Environment: TAONET_HOME, TAONET_COORDINATOR, TAONET_TOKEN, TAONET_CA_PIN,
TAONET_LISTEN, TAONET_ADVERTISE, TAONET_MODEL.`,
		Example: `  peer join --coordinator 127.0.0.1:7443 --token T --ca-pin sha256:abcd... --home ./alice
  peer join --coordinator 127.0.0.1:7443 --home ./alice`,
		Args: cobra.NoArgs,
	}
	def := peer.DefaultConfig()
	coord := cmd.Flags().String("coordinator", envDefault("TAONET_COORDINATOR", ""), "coordinator HOST:PORT")
	token := cmd.Flags().String("token", envDefault("TAONET_TOKEN", ""), "join token (first run only)")
	pin := cmd.Flags().String("ca-pin", envDefault("TAONET_CA_PIN", ""), "sha256: pin of the network's CA (first run only)")
	home := cmd.Flags().String("home", homeDefault(), "peer home folder")
	listen := cmd.Flags().String("listen", envDefault("TAONET_LISTEN", def.Listen), "address to serve the Peer service on")
	advertise := cmd.Flags().String("advertise", envDefault("TAONET_ADVERTISE", ""), "HOST:PORT other peers dial (default: the listen address)")
	model := cmd.Flags().String("model", envDefault("TAONET_MODEL", def.Model), "model architecture: mlp or cnn")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg := def
		cfg.Coordinator, cfg.Token, cfg.CAPin, cfg.Home = *coord, *token, *pin, *home
		cfg.Listen, cfg.Advertise, cfg.Model = *listen, *advertise, *model
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		p, err := peer.New(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "peer %s serving on %s\n", p.ID(), p.Addr())
		return p.Run(cmd.Context())
	}
	return cmd
}
