package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/ledger/receipt"
)

// newLedgerCmd is the ledger command and its subcommands; home is the
// root's --home.
func newLedgerCmd(home *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Check and export the TAO ledger",
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every ledger invariant and the chain of signed rounds; exit non-zero naming the first broken one",
		Long: `verify checks every invariant of the TAO ledger on one consistent snapshot:
no negative amounts, minted supply within the cap, no (round, account) paid
twice, open and aborted rounds unpaid, each settled round's payouts summing
to its emission and following the emission schedule, balances, payouts and
minted supply agreeing, and rounds numbered without gaps.

It recomputes the chain of settled rounds (each round's record hashed with
the previous round's hash) and checks every round's signature against the
home's CA (ca.pem), so a consistent rewrite of a settled round is caught.
It checks the directory too: every identity was issued a certificate, every
account and evaluation names a directory identity, revocations agree with
the directory, and SQLite's foreign_key_check and integrity_check pass.

It exits 1 naming the first broken invariant and the rows that break it.
Deleting the newest rounds wholesale leaves books it cannot tell from real
ones; peers' receipts show that: every peer keeps a verified receipt of
each settled round in its home (receipts.jsonl), and --receipts checks
that every round a receipt names is still in the ledger, settled, with the
receipt's hash.`,
		Example: `  coordinator ledger verify --home ./net
  coordinator ledger verify --home ./net --receipts ./alice/receipts.jsonl --receipts ./bob/receipts.jsonl`,
		Args: cobra.NoArgs,
	}
	receiptFiles := verify.Flags().StringArray("receipts", nil, "a peer's receipts.jsonl to check the ledger against (repeatable)")
	verify.RunE = func(cmd *cobra.Command, _ []string) error {
		db, err := openLedger(cmd.Context(), *home)
		if err != nil {
			return err
		}
		defer db.Close()
		ca, err := coordinator.ReadCA(*home)
		if err != nil {
			return err
		}
		chain, err := db.Verify(cmd.Context(), ca)
		if err != nil {
			return err
		}
		sup, err := db.GetSupply(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		for _, f := range *receiptFiles {
			kept, err := receipt.ReadFile(f)
			if err != nil {
				return fmt.Errorf("receipts: %w", err)
			}
			n, err := db.CheckReceipts(cmd.Context(), kept)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			fmt.Fprintf(out, "receipts ok: %d rounds of %s agree with the ledger\n", n, f)
		}
		fmt.Fprintf(out, "ledger ok: %s TAO minted of %s\n", ledger.FormatTAO(sup.Minted), ledger.FormatTAO(sup.Cap))
		if chain.Settled == 0 {
			fmt.Fprintln(out, "chain: no settled round yet")
			return nil
		}
		fmt.Fprintf(out, "chain: %d settled rounds, tip round %d hash %x\n", chain.Settled, chain.TipRound, chain.Tip)
		if chain.Unsigned > 0 {
			fmt.Fprintf(out, "chain: the first %d settled rounds predate the signed chain; the first signed round after them commits to their hashes\n", chain.Unsigned)
		}
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
	format := export.Flags().String("format", ledger.ExportCSV, "csv or json")
	export.RunE = func(cmd *cobra.Command, _ []string) error {
		if *format != ledger.ExportCSV && *format != ledger.ExportJSON {
			return fmt.Errorf("ledger export: --format %q is not csv or json", *format)
		}
		db, err := openLedger(cmd.Context(), *home)
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
