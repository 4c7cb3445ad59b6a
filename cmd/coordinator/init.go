package main

import "github.com/spf13/cobra"

func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a network: CA, coordinator certificate and database",
		Long: `init creates a new network in --home: the CA (ca.pem, key 0600), the
coordinator's server certificate for --hosts, and the database, and records
the network's task. It refuses to overwrite an existing CA.`,
		Example: `  coordinator init --home ./net --trust-domain taonet.local --hosts localhost,127.0.0.1 --task fmnist`,
		Args:    cobra.NoArgs,
		RunE:    notYet("init"),
	}
	cmd.Flags().String("home", homeDefault(), "coordinator home folder")
	cmd.Flags().String("trust-domain", "taonet.local", "SPIFFE trust domain of the network")
	cmd.Flags().StringSlice("hosts", []string{"localhost", "127.0.0.1"}, "host names and IPs in the coordinator's certificate")
	cmd.Flags().String("task", "fmnist", "the network's task (fixes classes and input shape)")
	return cmd
}
