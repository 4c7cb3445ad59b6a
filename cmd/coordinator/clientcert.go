package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
)

// newClientCertCmd is the client-cert command; home is the root's --home.
func newClientCertCmd(home *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client-cert",
		Short: "Issue a client identity for grpcurl and other tools",
		Long: `client-cert issues a /client/NAME identity and writes cert.pem, key.pem
(0600) and ca.pem into --out. A client may read the ledger, the directory and
the rounds, and call Query; nothing else. It refuses a name already enrolled.`,
		Example: `  coordinator client-cert --home ./net --name ops --out ./ops`,
		Args:    cobra.NoArgs,
	}
	name := cmd.Flags().String("name", "", "client name (a DNS label: a-z 0-9 -, not all digits, not a reserved word)")
	out := cmd.Flags().String("out", "", "folder to write cert.pem, key.pem and ca.pem into")
	lifetime := cmd.Flags().Duration("lifetime", certs.DefaultLeafLifetime, "certificate lifetime (1m to 720h; a client certificate is not renewed)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		id, err := coordinator.IssueClientCert(cmd.Context(), *home, *name, *out, *lifetime)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "issued %s into %s (cert.pem, key.pem, ca.pem)\n", id, *out)
		return nil
	}
	return cmd
}
