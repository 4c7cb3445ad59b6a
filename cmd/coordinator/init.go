package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
)

// newInitCmd is the init command; home is the root's --home.
func newInitCmd(home *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a network: CA, coordinator certificate and database",
		Long: `init creates a new network in --home: the CA (ca.pem, key 0600), the
coordinator's server certificate for --hosts, and the database, and records
the network's task. It refuses to overwrite an existing CA.

Environment: TAONET_HOME, TAONET_TRUST_DOMAIN, TAONET_HOSTS, TAONET_TASK,
TAONET_EMISSION.`,
		Example: `  coordinator init --home ./net --trust-domain taonet.local --hosts localhost,127.0.0.1 --task fmnist`,
		Args:    cobra.NoArgs,
	}
	td := cmd.Flags().String("trust-domain", envDefault("TAONET_TRUST_DOMAIN", "taonet.local"), "SPIFFE trust domain of the network")
	hosts := cmd.Flags().StringSlice("hosts", strings.Split(envDefault("TAONET_HOSTS", "localhost,127.0.0.1"), ","), "host names and IPs in the coordinator's certificate")
	task := cmd.Flags().String("task", envDefault("TAONET_TASK", "fmnist"), "the network's task (fixes classes and input shape)")
	emission := cmd.Flags().String("emission", envDefault("TAONET_EMISSION", "1"), "TAO minted per round in the first era (E0); halves as the cap nears")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		e0, err := ledger.ParseTAO(*emission)
		if err != nil || e0 == 0 {
			return fmt.Errorf("init: --emission %q: want a positive TAO amount such as 1 or 0.5", *emission)
		}
		err = coordinator.Init(cmd.Context(), coordinator.InitConfig{Home: *home, TrustDomain: *td, Hosts: *hosts, Task: *task, Emission: e0})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "initialised network %s (task %s) in %s\n", *td, *task, *home)
		for _, f := range []string{coordinator.CAFile, coordinator.CAKeyFile, coordinator.CertFile, coordinator.KeyFile, coordinator.DatabaseFile} {
			fmt.Fprintf(out, "  %s\n", filepath.Join(*home, f))
		}
		return nil
	}
	return cmd
}
