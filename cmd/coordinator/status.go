package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/runstate"
	"github.com/taonet/taonet/ledger"
)

// newStatusCmd is the status command; home is the root's --home.
func newStatusCmd(home *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the coordinator's identity, certificate, process, rounds, scores and balances (read-only)",
		Long: `status shows what a coordinator home holds and what its coordinator is
doing: the identity and certificate expiry, whether a coordinator runs on
the home (its pid, gRPC and HTTP addresses and readiness), the newest
round with its state and phase, the peers' scores and payouts in the last
settled round, the supply and the largest balances.

It only reads: the ledger in SQLite's read-only mode, the certificates and
the state file the running coordinator keeps (state.json). It takes no
lock, so it works beside 'coordinator serve'. --json prints the same as one
JSON object for scripts.`,
		Example: `  coordinator status --home ./net
  coordinator status --home ./net --json | jq .last_settled.evaluations`,
		Args: cobra.NoArgs,
	}
	asJSON := cmd.Flags().Bool("json", false, "print one JSON object instead of text")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		st, err := coordinator.ReadStatus(cmd.Context(), *home)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		return printStatus(cmd.OutOrStdout(), st, time.Now())
	}
	return cmd
}

// printStatus writes st for a person.
func printStatus(out io.Writer, st *coordinator.Status, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "coordinator\t%s\n", st.Certificate.Identity)
	fmt.Fprintf(w, "home\t%s (trust domain %s, task %s)\n", st.Home, st.TrustDomain, st.Task)
	fmt.Fprintf(w, "CA pin\t%s\n", st.CAPin)
	fmt.Fprintf(w, "certificate\t%s\n", certLine(st.Certificate, now))
	fmt.Fprintf(w, "process\t%s\n", processLine(st.Process, now))
	fmt.Fprintf(w, "round\t%s\n", roundLine(st.Round, now))
	fmt.Fprintf(w, "supply\t%s TAO minted of %s TAO; the next paying round mints %s TAO\n",
		ledger.FormatTAO(st.Supply.MintedRao), ledger.FormatTAO(st.Supply.CapRao), ledger.FormatTAO(st.Supply.EmissionRao))
	fmt.Fprintf(w, "active peers\t%d\n", st.ActivePeers)
	if err := w.Flush(); err != nil {
		return err
	}
	if s := st.LastSettled; s != nil {
		fmt.Fprintf(out, "\nlast settled round %d (%s ago), %s TAO paid:\n", s.Number, ago(s.ClosedAt, now), ledger.FormatTAO(s.EmissionRao))
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  PEER\tSTATUS\tLOSS\tACCURACY\tWEIGHT\tPAID (TAO)")
		for _, e := range s.Evaluations {
			fmt.Fprintf(w, "  %s\t%s\t%.4f\t%.4f\t%.4f\t%s\n", e.Identity, e.Status, e.Loss, e.Accuracy, e.Weight, ledger.FormatTAO(e.PayoutRao))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(st.Balances) > 0 {
		fmt.Fprintln(out, "\nlargest balances:")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, b := range st.Balances {
			fmt.Fprintf(w, "  %s\t%s TAO\n", b.Account, ledger.FormatTAO(b.Rao))
		}
		return w.Flush()
	}
	return nil
}

// certLine describes a certificate's expiry.
func certLine(c runstate.Certificate, now time.Time) string {
	if c.Expired {
		return fmt.Sprintf("serial %s EXPIRED at %s (%s ago)", c.Serial, stamp(c.NotAfter), ago(c.NotAfter, now))
	}
	return fmt.Sprintf("serial %s, expires %s (in %s), renewed from %s", c.Serial, stamp(c.NotAfter), until(c.NotAfter, now), stamp(c.RenewAt))
}

// processLine describes the process of the home.
func processLine(p runstate.Process, now time.Time) string {
	switch {
	case p.Running:
		ready := "ready"
		if !p.Ready {
			ready = "not ready"
		}
		http := "off"
		if p.HTTP != "" {
			http = p.HTTP
		}
		return fmt.Sprintf("running (pid %d, %s) since %s; gRPC %s, http %s", p.PID, ready, stamp(p.Started), p.Listen, http)
	case !p.Stopped.IsZero():
		return fmt.Sprintf("not running: stopped %s (%s ago); it listened on %s", stamp(p.Stopped), ago(p.Stopped, now), p.Listen)
	case p.PID != 0:
		return fmt.Sprintf("not running: pid %d is gone without a clean stop (last update %s); it listened on %s", p.PID, stamp(p.Updated), p.Listen)
	}
	return "not running (" + p.Note + ")"
}

// roundLine describes the newest round.
func roundLine(r coordinator.RoundStatus, now time.Time) string {
	if r.Number == 0 {
		return "none yet"
	}
	s := fmt.Sprintf("%d %s, opened %s (%s ago)", r.Number, r.State, stamp(r.OpenedAt), ago(r.OpenedAt, now))
	if r.Phase != "" {
		s += ", phase " + r.Phase
	}
	return s
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func ago(t, now time.Time) string { return now.Sub(t).Round(time.Second).String() }

func until(t, now time.Time) string { return t.Sub(now).Round(time.Second).String() }
