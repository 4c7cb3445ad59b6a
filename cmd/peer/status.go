package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/internal/runstate"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/peer"
)

// newStatusCmd is the status command; home is the root's --home.
func newStatusCmd(home *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the peer's identity, certificate, process, round, last score and balance (read-only)",
		Long: `status shows what a peer home holds and what its peer is doing: the
identity and certificate expiry, whether a peer runs on the home (its pid,
listen, advertised and HTTP addresses and readiness), the round and phase
it last saw, its last round as a student, the receipts and checkpoints it
keeps; then it asks the coordinator over mutual TLS, with the home's
certificate, for the newest round, this peer's last score and its balance.
A coordinator it cannot reach is reported as such; the rest still shows.

It only reads (cert.pem, key.pem, ca.pem, receipts.jsonl, the checkpoints
and the state file a running peer keeps, state.json) and takes no lock, so
it works beside 'peer join'. The coordinator is the one the peer last ran
with unless --coordinator names another. --json prints the same as one JSON
object for scripts.`,
		Example: `  peer status --home ./alice
  peer status --home ./alice --coordinator 127.0.0.1:7443 --json | jq .coordinator.balance_rao`,
		Args: cobra.NoArgs,
	}
	coord := cmd.Flags().String("coordinator", envDefault("TAONET_COORDINATOR", ""), "coordinator HOST:PORT (default: the one the peer last ran with)")
	timeout := cmd.Flags().Duration("timeout", peer.DefaultStatusTimeout, "how long to wait for the coordinator")
	asJSON := cmd.Flags().Bool("json", false, "print one JSON object instead of text")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		st, err := peer.ReadStatus(cmd.Context(), peer.StatusConfig{Home: *home, Coordinator: *coord, Timeout: *timeout})
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
func printStatus(out io.Writer, st *peer.Status, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	c := st.Certificate
	fmt.Fprintf(w, "peer\t%s\n", c.Identity)
	fmt.Fprintf(w, "home\t%s\n", st.Home)
	if c.Expired {
		fmt.Fprintf(w, "certificate\tserial %s EXPIRED at %s (%s ago)\n", c.Serial, stamp(c.NotAfter), now.Sub(c.NotAfter).Round(time.Second))
	} else {
		fmt.Fprintf(w, "certificate\tserial %s, expires %s (in %s), renewed from %s\n", c.Serial, stamp(c.NotAfter), c.NotAfter.Sub(now).Round(time.Second), stamp(c.RenewAt))
	}
	fmt.Fprintf(w, "CA pin\t%s\n", st.CAPin)
	fmt.Fprintf(w, "process\t%s\n", processLine(st.Process, st.Advertise, now))
	fmt.Fprintf(w, "round\t%s\n", roundLine(st.Round, st.Phase))
	if s := st.Student; s != nil {
		line := fmt.Sprintf("round %d: teachers %d used, %d dropped, %d unanswered; %d steps, loss %.4f, %s",
			s.Round, s.Teachers, s.Dropped, s.Unanswered, s.Steps, s.Loss, s.Duration.Round(time.Millisecond))
		if s.Error != "" {
			line += "; " + s.Error
		}
		fmt.Fprintf(w, "as a student\t%s\n", line)
	}
	fmt.Fprintf(w, "coordinator\t%s\n", coordinatorLine(st.Coordinator))
	if cs := st.Coordinator; cs.Reachable {
		fmt.Fprintf(w, "last score\t%s\n", scoreLine(cs.LastScore))
		fmt.Fprintf(w, "balance\t%s TAO\n", ledger.FormatTAO(cs.BalanceRao))
	}
	r := st.Receipts
	switch {
	case r.Error != "":
		fmt.Fprintf(w, "receipts\tunreadable: %s\n", r.Error)
	case r.Count == 0:
		fmt.Fprintf(w, "receipts\tnone yet\n")
	default:
		fmt.Fprintf(w, "receipts\t%d kept, the last of round %d (hash %.16s...)\n", r.Count, r.LastRound, r.LastHash)
	}
	if len(st.Checkpoints) == 0 {
		fmt.Fprintf(w, "checkpoint\tnone\n")
	}
	for _, k := range st.Checkpoints {
		fmt.Fprintf(w, "checkpoint\t%s (%d bytes, saved %s)\n", k.Path, k.Bytes, stamp(k.Modified))
	}
	return w.Flush()
}

// processLine describes the peer process of the home.
func processLine(p runstate.Process, advertise string, now time.Time) string {
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
		return fmt.Sprintf("running (pid %d, %s) since %s; listening on %s, advertised as %s, http %s",
			p.PID, ready, stamp(p.Started), p.Listen, advertise, http)
	case !p.Stopped.IsZero():
		return fmt.Sprintf("not running: stopped %s (%s ago); it listened on %s", stamp(p.Stopped), now.Sub(p.Stopped).Round(time.Second), p.Listen)
	case p.PID != 0:
		return fmt.Sprintf("not running: pid %d is gone without a clean stop (last update %s)", p.PID, stamp(p.Updated))
	}
	return "not running (" + p.Note + ")"
}

// roundLine describes the round the peer last saw.
func roundLine(round uint64, phase string) string {
	if round == 0 {
		return "none seen yet"
	}
	return fmt.Sprintf("%d, %s (as this peer last saw it)", round, phase)
}

// coordinatorLine describes what the coordinator answered.
func coordinatorLine(c peer.CoordinatorStatus) string {
	switch {
	case c.Address == "":
		return "unknown: " + c.Error
	case !c.Reachable:
		return fmt.Sprintf("%s NOT REACHABLE: %s", c.Address, c.Error)
	case c.Round == 0:
		return fmt.Sprintf("%s reachable; no round yet", c.Address)
	}
	s := fmt.Sprintf("%s reachable; newest round %d %s", c.Address, c.Round, c.RoundState)
	if c.Error != "" {
		s += "; " + c.Error
	}
	return s
}

// scoreLine describes this peer's last evaluation.
func scoreLine(s *peer.ScoreStatus) string {
	if s == nil {
		return "none in the last ten rounds"
	}
	return fmt.Sprintf("round %d %s: loss %.4f, accuracy %.4f, weight %.4f, paid %s TAO",
		s.Round, s.Status, s.Loss, s.Accuracy, s.Weight, ledger.FormatTAO(s.PayoutRao))
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
