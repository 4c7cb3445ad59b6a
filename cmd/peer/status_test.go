package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/runstate"
	"github.com/taonet/taonet/internal/testnet"
	"github.com/taonet/taonet/peer"
)

// mustNetwork starts a coordinator on a new home with testnet.
func mustNetwork(t *testing.T) *testnet.Network {
	t.Helper()
	home := filepath.Join(t.TempDir(), "net")
	if err := coordinator.Init(context.Background(), coordinator.InitConfig{Home: home, TrustDomain: "test.local", Hosts: []string{"127.0.0.1"}, Task: "fmnist"}); err != nil {
		t.Fatal(err)
	}
	return testnet.Start(t, home)
}

// TestStatus runs peer status, text and --json, beside a running peer
// (which holds its home's lock) after a real round, then with the peer
// and the coordinator stopped.
func TestStatus(t *testing.T) {
	n := mustNetwork(t)
	dir := t.TempDir()
	p, stopPeer := n.Peer(t, dir, "alice")
	home := filepath.Join(dir, "alice")
	rep := n.Round(t)
	// The peer keeps the round's receipt when RoundClosed reaches it.
	waitReceipt(t, home)
	res := rep.Results[0]
	t.Run("OKText", func(t *testing.T) {
		out, err := runPeer("status", "--home", home)
		if err != nil {
			t.Fatal(err)
		}
		out = labelled(out)
		for _, want := range []string{
			"peer: spiffe://test.local/peer/alice\n",
			"home: " + home + "\n",
			"certificate: serial ",
			fmt.Sprintf("process: running (pid %d, ready) since ", os.Getpid()),
			"; listening on " + p.Addr().String() + ", advertised as " + p.Addr().String() + ", http " + p.HTTP().Addr().String() + "\n",
			"round: 1, settled (as this peer last saw it)\n",
			"coordinator: " + n.Addr() + " reachable; newest round 1 settled\n",
			fmt.Sprintf("last score: round 1 scored: loss %.4f, accuracy %.4f, weight 1.0000, paid 1 TAO\n", res.Loss, res.Accuracy),
			"balance: 1 TAO\n",
			"receipts: 1 kept, the last of round 1 (hash ",
			"checkpoint: none\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("OKJSON", func(t *testing.T) {
		out, err := runPeer("status", "--home", home, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var st peer.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("--json printed %q: %v", out, err)
		}
		c := st.Coordinator
		if !st.Process.Running || st.Round != 1 || st.Phase != runstate.PhaseSettled || st.Receipts.Count != 1 ||
			!c.Reachable || c.Round != 1 || c.RoundState != "settled" || c.BalanceRao != 1e9 || c.LastScore == nil || c.LastScore.PayoutRao != 1e9 {
			t.Fatalf("--json = %+v", st)
		}
		for _, key := range []string{`"coordinator": {`, `"reachable": true`, `"balance_rao": 1000000000`, `"last_score": {`, `"not_after": "`} {
			if !strings.Contains(out, key) {
				t.Errorf("--json lacks %s:\n%s", key, out)
			}
		}
	})
	stopPeer()
	n.Stop()
	t.Run("OKEverythingStopped", func(t *testing.T) {
		out, err := runPeer("status", "--home", home, "--timeout", "2s")
		if err != nil {
			t.Fatal(err)
		}
		out = labelled(out)
		for _, want := range []string{"process: not running: stopped ", "coordinator: " + n.Addr() + " NOT REACHABLE: rpc error: code = Unavailable", "receipts: 1 kept"} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "balance") {
			t.Errorf("status shows a balance it could not ask for:\n%s", out)
		}
	})
	t.Run("ErrNotEnrolled", func(t *testing.T) {
		_, err := runPeer("status", "--home", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "not enrolled") {
			t.Fatalf("status of an empty home = %v", err)
		}
	})
}

// labelled turns each line's first column of status's text into
// "label: ", so that tests need not know how wide the column is.
func labelled(out string) string {
	return regexp.MustCompile(`(?m)^(\S[^\n]*?) {2,}`).ReplaceAllString(out, "$1: ")
}

// waitReceipt waits until home's receipts.jsonl holds a receipt.
func waitReceipt(t *testing.T, home string) {
	t.Helper()
	for range 500 {
		if kept, err := peer.ReadReceipts(filepath.Join(home, peer.ReceiptsFile)); err == nil && len(kept) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no receipt kept")
}

// TestJoinOperationsInvalid gives --http and --log-format values join
// must refuse before it enrolls or opens a model.
func TestJoinOperationsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"ErrHTTPAllInterfaces", []string{"--http", "0.0.0.0:9091"}, "host 0.0.0.0 is not a loopback address"},
		{"ErrHTTPLAN", []string{"--http", "10.1.2.3:9091"}, "pass --http-public"},
		{"ErrLogFormat", []string{"--log-format", "xml"}, `--log-format "xml": want text or json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"join", "--home", t.TempDir(), "--coordinator", "127.0.0.1:1"}, tc.args...)
			_, err := runPeer(args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("join %v = %v; want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
