package main

import "github.com/spf13/cobra"

func newJoinCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Enroll with a coordinator (first time) and take part in the network",
		Long: `join enrolls with the coordinator the first time (--token and --ca-pin from
'coordinator token create'), storing key.pem, cert.pem and ca.pem in --home;
later runs reuse the stored certificate. It then joins the directory over
mutual TLS, serves the Peer service on --listen and takes part in rounds
until interrupted.`,
		Example: `  peer join --coordinator 127.0.0.1:7443 --token T --ca-pin sha256:abcd... --home ./alice
  peer join --coordinator 127.0.0.1:7443 --home ./alice`,
		Args: cobra.NoArgs,
		RunE: notYet("join"),
	}
	cmd.Flags().String("coordinator", "", "coordinator HOST:PORT")
	cmd.Flags().String("token", "", "join token (first run only)")
	cmd.Flags().String("ca-pin", "", "sha256: pin of the network's CA (first run only)")
	cmd.Flags().String("home", homeDefault(), "peer home folder")
	cmd.Flags().String("listen", "127.0.0.1:0", "address to serve the Peer service on")
	cmd.Flags().String("advertise", "", "HOST:PORT other peers dial (default: the listen address)")
	return cmd
}
