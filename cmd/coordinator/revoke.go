package main

import "github.com/spf13/cobra"

func newRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke every certificate of an identity",
		Long: `revoke revokes every certificate of the peer or client NAME. The running
coordinator sees it within a second: it refuses the next handshake, cuts the
node's open streams, drops it from the directory and tells the peers.`,
		Example: `  coordinator revoke --home ./net alice`,
		Args:    cobra.ExactArgs(1),
		RunE:    notYet("revoke"),
	}
	cmd.Flags().String("home", homeDefault(), "coordinator home folder")
	return cmd
}
