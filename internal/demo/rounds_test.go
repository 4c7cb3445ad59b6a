package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

func settledRound(n uint64, evals ...*taonetv1.Evaluation) *taonetv1.Round {
	return &taonetv1.Round{Number: n, State: taonetv1.RoundState_ROUND_STATE_SETTLED, EmissionRao: 1e9,
		OpenedAt: timestamppb.Now(), Evaluations: evals}
}

func TestRoundWatch(t *testing.T) {
	open1 := &taonetv1.Round{Number: 1, State: taonetv1.RoundState_ROUND_STATE_OPEN, OpenedAt: timestamppb.Now()}
	r1 := settledRound(1,
		&taonetv1.Evaluation{Identity: aliceID, Loss: 1.974, Accuracy: 0.412, Weight: 1, Status: taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED, PayoutRao: 1e9},
		&taonetv1.Evaluation{Identity: bobID, Status: taonetv1.EvaluationStatus_EVALUATION_STATUS_TIMEOUT})
	r2 := &taonetv1.Round{Number: 2, State: taonetv1.RoundState_ROUND_STATE_ABORTED, OpenedAt: timestamppb.Now()}
	open2 := &taonetv1.Round{Number: 2, State: taonetv1.RoundState_ROUND_STATE_OPEN, OpenedAt: timestamppb.Now()}
	r3 := settledRound(3,
		&taonetv1.Evaluation{Identity: aliceID, Loss: 0.8, Accuracy: 0.7, Weight: 0.25, Status: taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED, PayoutRao: 250_000_000},
		&taonetv1.Evaluation{Identity: bobID, Loss: 0.5, Accuracy: 0.8, Weight: 0.75, Status: taonetv1.EvaluationStatus_EVALUATION_STATUS_SCORED, PayoutRao: 750_000_000})
	f := &fakeCoordinator{
		// Round 1 settles between two polls: the watch reads it with
		// GetRound when it sees round 2 open.
		latest: []*taonetv1.Round{nil, open1, open2, r2, r3, settledRound(4)},
		rounds: map[uint64]*taonetv1.Round{1: r1, 2: r2, 3: r3},
		accounts: []*taonetv1.Balance{
			{Account: aliceID, Rao: 1_250_000_000}, {Account: bobID, Rao: 750_000_000},
		},
		supply: &taonetv1.GetSupplyResponse{MintedRao: 2e9, CapRao: 21e15, EmissionRao: 1e9, NextHalvingAtRao: 105e14},
	}
	cc := mustServe(t, f)
	var out bytes.Buffer
	w := roundWatch{peers: testPeers, rounds: 2, distill: time.Minute, clock: newClock(float64(time.Now().Unix())), out: newProgress(&out, clock{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := w.run(ctx, cc)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"1  waiting", "1  distilling", "2  distilling",
		"1  settled     1.97 41%  timeout",
		"2  aborted     -         -",
		"3  settled     0.80 70%  0.50 80%",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "4  settled") {
		t.Errorf("the watch went past the second settled round:\n%s", text)
	}
	if got := len(s.Rounds); got != 3 {
		t.Fatalf("summary has %d rounds, want 3 (1, 2 aborted, 3)", got)
	}
	if s.Rounds[1].State != "aborted" || s.Rounds[2].Evaluations["bob"].PayoutRao != 750_000_000 {
		t.Errorf("summary rounds = %+v", s.Rounds)
	}
	if s.Peers["alice"].BalanceRao != 1_250_000_000 || s.Peers["bob"].Identity != bobID {
		t.Errorf("summary peers = %+v", s.Peers)
	}
	if s.Supply.MintedRao != 2e9 {
		t.Errorf("summary supply = %+v", s.Supply)
	}
}

func TestRoundWatchErrTimeout(t *testing.T) {
	f := &fakeCoordinator{latest: []*taonetv1.Round{nil}}
	cc := mustServe(t, f)
	var out bytes.Buffer
	w := roundWatch{peers: testPeers, rounds: 1, clock: clock{start: time.Now()}, out: newProgress(&out, clock{})}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if _, err := w.run(ctx, cc); err == nil || !strings.Contains(err.Error(), "0 so far") {
		t.Fatalf("run = %v, want a timeout naming 0 settled rounds", err)
	}
}

func TestWaitJoined(t *testing.T) {
	alice := &taonetv1.PeerInfo{Identity: aliceID, Name: "alice", Card: &taonetv1.ModelCard{Architecture: "mlp", Parameters: 235146}}
	bob := &taonetv1.PeerInfo{Identity: bobID, Name: "bob", Card: &taonetv1.ModelCard{Architecture: "cnn", Parameters: 63786}}
	stranger := &taonetv1.PeerInfo{Identity: "spiffe://taonet.local/peer/eve", Name: "eve"}
	f := &fakeCoordinator{directories: [][]*taonetv1.PeerInfo{{}, {stranger, bob}, {stranger, bob}, {alice, bob, stranger}}}
	cc := mustServe(t, f)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitJoined(ctx, cc, testPeers, clock{start: time.Now()}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "bob      joined  cnn, 63,786 parameters  (1 of 2)") ||
		!strings.Contains(lines[1], "alice    joined  mlp, 235,146 parameters  (2 of 2)") {
		t.Errorf("output:\n%s", out.String())
	}
}
