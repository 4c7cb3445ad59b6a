package main

import "github.com/spf13/cobra"

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Check and export the TAO ledger",
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every ledger invariant; exit non-zero naming the first broken one",
		Args:  cobra.NoArgs,
		RunE:  notYet("ledger verify"),
	}
	verify.Flags().String("home", homeDefault(), "coordinator home folder")
	export := &cobra.Command{
		Use:   "export",
		Short: "Write all payouts as CSV or JSON",
		Args:  cobra.NoArgs,
		RunE:  notYet("ledger export"),
	}
	export.Flags().String("home", homeDefault(), "coordinator home folder")
	export.Flags().String("format", "csv", "csv or json")
	cmd.AddCommand(verify, export)
	return cmd
}
