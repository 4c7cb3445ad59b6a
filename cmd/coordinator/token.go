package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
)

// newTokenCmd is the token command and its subcommands; home is the root's
// --home.
func newTokenCmd(home *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and cancel single-use join tokens",
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a join token for a new peer and print the peer join line",
		Long: `create makes a single-use, expiring join token for --name, stores only its
hash, and prints the token, the CA pin and a ready-to-paste peer join line.
It refuses a name that is already enrolled.

Environment: TAONET_HOME, TAONET_COORDINATOR.`,
		Example: `  coordinator token create --home ./net --name alice --ttl 24h`,
		Args:    cobra.NoArgs,
	}
	name := create.Flags().String("name", "", "name of the peer the token enrolls (a DNS label: a-z 0-9 -, not all digits, not a reserved word)")
	ttl := create.Flags().Duration("ttl", certs.DefaultTokenTTL, "how long the token stays valid")
	addr := create.Flags().String("coordinator", envDefault("TAONET_COORDINATOR", "127.0.0.1:7443"), "coordinator HOST:PORT for the printed join line")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		t, err := coordinator.CreateToken(cmd.Context(), *home, *name, *ttl)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "token:    %s\n", t.Token)
		fmt.Fprintf(out, "ca-pin:   %s\n", t.CAPin)
		fmt.Fprintf(out, "identity: %s\n", t.Identity)
		fmt.Fprintf(out, "expires:  %s\n", t.ExpiresAt.UTC().Format(time.RFC3339))
		fmt.Fprintf(out, "join:     peer join --coordinator %s --token %s --ca-pin %s --home %s\n", *addr, t.Token, t.CAPin, *name)
		return nil
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List join tokens and their state",
		Long: `list prints every join token (never the token itself) with its state:
valid, redeemed, name-enrolled (another token already enrolled the name, so
this one can never be redeemed), cancelled or expired.`,
		Args: cobra.NoArgs,
	}
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		toks, err := coordinator.ListTokens(cmd.Context(), *home)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tROLE\tSTATE\tCREATED\tEXPIRES")
		now := time.Now()
		for _, t := range toks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.State(now),
				t.CreatedAt.Format(time.RFC3339), t.ExpiresAt.Format(time.RFC3339))
		}
		return w.Flush()
	}
	cancel := &cobra.Command{
		Use:   "cancel NAME",
		Short: "Cancel the unredeemed tokens of NAME",
		Args:  cobra.ExactArgs(1),
	}
	cancel.RunE = func(cmd *cobra.Command, args []string) error {
		n, err := coordinator.CancelTokens(cmd.Context(), *home, args[0])
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("token cancel: %s has no unredeemed token", args[0])
		}
		fmt.Fprintf(cmd.OutOrStdout(), "cancelled %d token(s) of %s\n", n, args[0])
		return nil
	}
	cmd.AddCommand(create, list, cancel)
	return cmd
}
