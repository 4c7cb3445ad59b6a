package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/coordinator"
)

// newRevokeCmd is the revoke command; home is the root's --home.
func newRevokeCmd(home *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke every certificate of an identity",
		Long: `revoke revokes every certificate of the peer or client NAME (or peer/NAME,
client/NAME, or a full spiffe:// ID). The running coordinator sees it within
a second: it refuses the next handshake, cuts the node's open streams, drops
it from the directory and tells the peers.`,
		Example: `  coordinator revoke --home ./net alice`,
		Args:    cobra.ExactArgs(1),
	}
	reason := cmd.Flags().String("reason", "", "why, kept in the database")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := coordinator.Revoke(cmd.Context(), *home, args[0], *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", id)
		return nil
	}
	return cmd
}
