package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taonet/taonet/distill/torch"
)

func TestReportTable(t *testing.T) {
	s := &summary{
		Rounds: []roundSummary{{Number: 1, State: "settled"}, {Number: 2, State: "settled"}, {Number: 3, State: "aborted"}},
		Peers: map[string]peerSummary{
			"alice": {Identity: aliceID, BalanceRao: 1_500_000_001},
			"bob":   {Identity: bobID, BalanceRao: 499_999_999},
		},
		Supply: supplySummary{MintedRao: 2e9, CapRao: 21e15, EmissionRao: 1e9, NextHalvingAtRao: 105e14},
	}
	r := report{peers: testPeers, summary: s, home: "/d/net", client: "/d/ops", grpcurl: ".tools/bin/grpcurl"}
	rows := []peerRow{
		{peer: testPeers[0], examples: 2759, local: torch.Eval{Accuracy: 0.325}, final: torch.Eval{Accuracy: 0.734}, rao: 1_500_000_001},
		{peer: testPeers[1], examples: 20558, local: torch.Eval{Accuracy: 0.588}, final: torch.Eval{Accuracy: 0.781}, rao: 499_999_999},
	}
	var out bytes.Buffer
	last := r.lastSettled()
	if last != 2 {
		t.Fatalf("lastSettled = %d, want 2 (round 3 aborted)", last)
	}
	r.table(&out, rows, last, 5000)
	r.supply(&out)
	r.explore(&out, last)
	text := out.String()
	for _, want := range []string{
		"the 5,000 test images",
		"peer       model shard examples  local only  after round 2     TAO earned",
		"alice      mlp   0/2      2,759       32.5%          73.4%    1.500000001",
		"bob        cnn   1/2     20,558       58.8%          78.1%    0.499999999",
		"mean/total                            45.6%          75.8%    2.000000000",
		"Supply: 2 TAO minted by 2 settled rounds, of a cap of 21,000,000 TAO; the next round pays 1 TAO,",
		"halves once 10,500,000 TAO are minted",
		"bin/coordinator serve --home /d/net --listen 127.0.0.1:7443 --round-every 0 > " + filepath.Join("/d", "explore.log") + " 2>&1 &",
		`G=".tools/bin/grpcurl -cacert /d/ops/ca.pem -cert /d/ops/cert.pem -key /d/ops/key.pem"`,
		`$G -d '{"account": "` + aliceID + `"}' 127.0.0.1:7443 taonet.v1.Ledger/ListPayouts`,
		`$G -d '{"number": 2}' 127.0.0.1:7443 taonet.v1.Coordinator/GetRound`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	s := &summary{
		Rounds: []roundSummary{{Number: 1, State: "settled", EmissionRao: 1e9,
			Evaluations: map[string]evalSummary{"alice": {Loss: 0.5, Accuracy: 0.8, Weight: 1, Status: "scored", PayoutRao: 1e9}}}},
		Peers:  map[string]peerSummary{"alice": {Identity: aliceID, BalanceRao: 1e9}},
		Supply: supplySummary{MintedRao: 1e9},
	}
	path := filepath.Join(t.TempDir(), "summary.json")
	if err := s.write(path); err != nil {
		t.Fatal(err)
	}
	got, err := readSummary(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rounds[0].Evaluations["alice"] != s.Rounds[0].Evaluations["alice"] || got.Peers["alice"] != s.Peers["alice"] || got.Supply != s.Supply {
		t.Fatalf("read back %+v, want %+v", got, s)
	}
}

func TestFormats(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"ThousandsSmall", thousands(999), "999"},
		{"Thousands", thousands(1234567), "1,234,567"},
		{"TAO", tao(1_000_000_001), "1.000000001"},
		{"TAOZero", tao(0), "0.000000000"},
		{"TrimTAO", trimTAO(5e9), "5"},
		{"TrimTAOFraction", trimTAO(250_000_000), "0.25"},
		{"NameOf", nameOf(aliceID), "alice"},
		{"NameOfOther", nameOf("not-an-id"), "not-an-id"},
		{"CellScored", cellText(evalSummary{Status: "scored", Loss: 1.974, Accuracy: 0.412}, true), "1.97 41%"},
		{"CellTimeout", cellText(evalSummary{Status: "timeout"}, true), "timeout"},
		{"CellAbsent", cellText(evalSummary{}, false), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
