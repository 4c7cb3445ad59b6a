package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
)

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Check and export the TAO ledger",
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every ledger invariant; exit non-zero naming the first broken one",
		Long: `verify checks every invariant of the TAO ledger on one consistent snapshot:
no negative amounts, minted supply within the cap, no (round, account) paid
twice, open and aborted rounds unpaid, each settled round's payouts summing
to its emission and following the emission schedule, and balances, payouts
and minted supply agreeing. It exits 1 naming the first broken invariant.`,
		Example: `  coordinator ledger verify --home ./net`,
		Args:    cobra.NoArgs,
	}
	verifyHome := verify.Flags().String("home", homeDefault(), "coordinator home folder")
	verify.RunE = func(cmd *cobra.Command, _ []string) error {
		db, err := openLedger(cmd.Context(), *verifyHome)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Verify(cmd.Context()); err != nil {
			return err
		}
		sup, err := db.GetSupply(cmd.Context())
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "ledger ok: %s TAO minted of %s\n", ledger.FormatTAO(sup.Minted), ledger.FormatTAO(sup.Cap))
		return nil
	}
	export := &cobra.Command{
		Use:   "export",
		Short: "Write all payouts as CSV or JSON",
		Long: `export writes every payout to standard output, oldest round first: round,
account (SPIFFE ID), rao, the exact TAO amount and when the round settled.`,
		Example: `  coordinator ledger export --home ./net --format csv > payouts.csv
  coordinator ledger export --home ./net --format json`,
		Args: cobra.NoArgs,
	}
	exportHome := export.Flags().String("home", homeDefault(), "coordinator home folder")
	format := export.Flags().String("format", ledger.ExportCSV, "csv or json")
	export.RunE = func(cmd *cobra.Command, _ []string) error {
		if *format != ledger.ExportCSV && *format != ledger.ExportJSON {
			return fmt.Errorf("ledger export: --format %q is not csv or json", *format)
		}
		db, err := openLedger(cmd.Context(), *exportHome)
		if err != nil {
			return err
		}
		defer db.Close()
		return db.ExportPayouts(cmd.Context(), cmd.OutOrStdout(), *format)
	}
	cmd.AddCommand(verify, export)
	return cmd
}

// openLedger opens the database of the home folder dir, refusing to create
// one where there is none.
func openLedger(ctx context.Context, dir string) (*ledger.DB, error) {
	path := filepath.Join(dir, coordinator.DatabaseFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no ledger at %s (run coordinator init first?): %w", path, err)
	}
	return ledger.Open(ctx, path)
}
