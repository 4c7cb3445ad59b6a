package main

import "github.com/spf13/cobra"

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and cancel single-use join tokens",
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a join token for a new peer and print the peer join line",
		Long: `create makes a single-use, expiring join token for --name, stores only its
hash, and prints the token, the CA pin and a ready-to-paste peer join line.
It refuses a name that is already enrolled.`,
		Example: `  coordinator token create --home ./net --name alice --ttl 24h`,
		Args:    cobra.NoArgs,
		RunE:    notYet("token create"),
	}
	create.Flags().String("home", homeDefault(), "coordinator home folder")
	create.Flags().String("name", "", "name of the peer the token enrolls")
	create.Flags().Duration("ttl", 0, "how long the token stays valid (default 24h)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List join tokens and their state",
		Args:  cobra.NoArgs,
		RunE:  notYet("token list"),
	}
	list.Flags().String("home", homeDefault(), "coordinator home folder")
	cancel := &cobra.Command{
		Use:   "cancel NAME",
		Short: "Cancel the unredeemed tokens of NAME",
		Args:  cobra.ExactArgs(1),
		RunE:  notYet("token cancel"),
	}
	cancel.Flags().String("home", homeDefault(), "coordinator home folder")
	cmd.AddCommand(create, list, cancel)
	return cmd
}
