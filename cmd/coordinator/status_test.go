package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/runstate"
	"github.com/taonet/taonet/internal/testnet"
)

// TestStatus runs coordinator status, text and --json, beside a running
// coordinator (which holds the home's lock) after a real round, then after
// it stopped.
func TestStatus(t *testing.T) {
	home := mustHome(t)
	n := testnet.Start(t, home)
	_, _ = n.Peer(t, t.TempDir(), "alice")
	rep := n.Round(t)
	alice := "spiffe://taonet.local/peer/alice"
	t.Run("OKText", func(t *testing.T) {
		out, err := runCoordinator("status", "--home", home)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"coordinator   spiffe://taonet.local/coordinator\n",
			"home          " + home + " (trust domain taonet.local, task fmnist)\n",
			fmt.Sprintf("running (pid %d, ready) since ", os.Getpid()),
			"; gRPC " + n.Addr() + ", http " + n.Server.HTTP().Addr().String() + "\n",
			"round         1 settled, opened ",
			", phase settled\n",
			"supply        1 TAO minted of 21000000 TAO; the next paying round mints 1 TAO\n",
			"active peers  1\n",
			"last settled round 1 (",
			fmt.Sprintf("  %s  scored  %.4f  %.4f    1.0000  1\n", alice, rep.Results[0].Loss, rep.Results[0].Accuracy),
			"largest balances:\n  " + alice + "  1 TAO\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		if !regexp.MustCompile(`(?m)^certificate   serial [0-9a-f]+, expires .* \(in \d+h\d+m\d+s\), renewed from `).MatchString(out) {
			t.Errorf("status does not show the certificate's expiry:\n%s", out)
		}
	})
	t.Run("OKJSON", func(t *testing.T) {
		out, err := runCoordinator("status", "--home", home, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var st coordinator.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("--json printed %q: %v", out, err)
		}
		if !st.Process.Running || st.Process.PID != os.Getpid() || st.Round.Number != 1 || st.Round.Phase != runstate.PhaseSettled ||
			st.LastSettled == nil || st.LastSettled.Evaluations[0].Identity != alice || st.Supply.MintedRao != 1e9 ||
			len(st.Balances) != 1 || st.Balances[0].Rao != 1e9 || st.Certificate.Identity != "spiffe://taonet.local/coordinator" {
			t.Fatalf("--json = %+v", st)
		}
		// Field names scripts rely on.
		for _, key := range []string{`"process": {`, `"running": true`, `"last_settled": {`, `"evaluations": [`, `"payout_rao": 1000000000`, `"minted_rao": 1000000000`, `"not_after": "`} {
			if !strings.Contains(out, key) {
				t.Errorf("--json lacks %s:\n%s", key, out)
			}
		}
	})
	n.Stop()
	t.Run("OKStopped", func(t *testing.T) {
		out, err := runCoordinator("status", "--home", home)
		if err != nil || !strings.Contains(out, "process       not running: stopped ") || !strings.Contains(out, "; it listened on "+n.Addr()) {
			t.Fatalf("status after stop = %v:\n%s", err, out)
		}
	})
	t.Run("ErrNoHome", func(t *testing.T) {
		_, err := runCoordinator("status", "--home", filepath.Join(t.TempDir(), "none"))
		if err == nil || !strings.Contains(err.Error(), "run coordinator init first") {
			t.Fatalf("status of no home = %v", err)
		}
	})
}
