package roundchain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/taonet/taonet/ledger/roundchain"
)

// mustHex decodes hex written in groups, one field per group.
func mustHex(tb testing.TB, groups ...string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.Join(groups, ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sampleRecord is a small record whose encoding TestEncode spells out.
func sampleRecord() *roundchain.Record {
	return &roundchain.Record{
		Number: 2, Seed: 0x0102030405060708, SeedHash: []byte{0xaa, 0xbb}, ValidationSeed: []byte{0xcc}, Emission: 1000,
		// out of order on purpose: the encoding sorts by identity
		Evaluations: []roundchain.Evaluation{
			{Identity: "b", Loss: 3, Status: "timeout"},
			{Identity: "a", Loss: 0.5, Accuracy: 1, Weight: 0.25, Shares: 7, Status: "scored", Payout: 1000},
		},
		Payouts: []roundchain.Payout{{Account: "a", Amount: 1000}},
	}
}

// TestEncode pins the canonical encoding byte for byte: receipts that
// peers keep are checked against it, so it must never change silently.
func TestEncode(t *testing.T) {
	prev := bytes.Repeat([]byte{0x11}, 32)
	want := mustHex(t,
		"0000000f", hex.EncodeToString([]byte("taonet/round/v1")), // domain
		strings.Repeat("11", 32), // previous hash
		"0000000000000002",       // number
		"0102030405060708",       // seed
		"00000002", "aabb",       // seed hash
		"00000001", "cc", // validation seed
		"00000000000003e8", // emission
		"00000002",         // two evaluations
		"00000001", "61",   // "a"
		"3fe0000000000000", "3ff0000000000000", "3fd0000000000000", // loss 0.5, accuracy 1, weight 0.25
		"0000000000000007",                               // shares
		"00000006", hex.EncodeToString([]byte("scored")), // status
		"00000000000003e8", // payout
		"00000001", "62",   // "b"
		"4008000000000000", "0000000000000000", "0000000000000000", // loss 3
		"0000000000000000",
		"00000007", hex.EncodeToString([]byte("timeout")),
		"0000000000000000",
		"00000001",       // one payout
		"00000001", "61", // "a"
		"00000000000003e8",
	)
	got, err := sampleRecord().Encode(prev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding\n%x\nwant\n%x", got, want)
	}
	hash, err := roundchain.Hash(prev, sampleRecord())
	if sum := sha256.Sum256(want); err != nil || !bytes.Equal(hash, sum[:]) {
		t.Fatalf("hash = %x, %v; want SHA-256 of the encoding %x", hash, err, sum)
	}
}

func TestHash(t *testing.T) {
	base, err := roundchain.Hash(roundchain.Genesis(), sampleRecord())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OKNegativeZero", func(t *testing.T) {
		r := sampleRecord()
		r.Evaluations[0].Weight = math.Copysign(0, -1)
		if h, err := roundchain.Hash(roundchain.Genesis(), r); err != nil || !bytes.Equal(h, base) {
			t.Fatalf("-0 hashes to %x, %v; +0 to %x", h, err, base)
		}
	})
	// Every field is covered: changing any one changes the hash.
	for name, edit := range map[string]func(r *roundchain.Record){
		"Number":   func(r *roundchain.Record) { r.Number++ },
		"Seed":     func(r *roundchain.Record) { r.Seed++ },
		"SeedHash": func(r *roundchain.Record) { r.SeedHash = []byte{0xaa, 0xbc} },
		"ValSeed":  func(r *roundchain.Record) { r.ValidationSeed = append(r.ValidationSeed, 0) },
		"Emission": func(r *roundchain.Record) { r.Emission++ },
		"Identity": func(r *roundchain.Record) { r.Evaluations[1].Identity = "c" },
		"Loss":     func(r *roundchain.Record) { r.Evaluations[1].Loss = math.Nextafter(0.5, 1) },
		"Accuracy": func(r *roundchain.Record) { r.Evaluations[1].Accuracy = 0.5 },
		"Weight":   func(r *roundchain.Record) { r.Evaluations[1].Weight = 0 },
		"Shares":   func(r *roundchain.Record) { r.Evaluations[1].Shares++ },
		"Status":   func(r *roundchain.Record) { r.Evaluations[0].Status = "invalid" },
		"Payout":   func(r *roundchain.Record) { r.Evaluations[1].Payout-- },
		"Account":  func(r *roundchain.Record) { r.Payouts[0].Account = "b" },
		"Amount":   func(r *roundchain.Record) { r.Payouts[0].Amount-- },
		"NoPayout": func(r *roundchain.Record) { r.Payouts = nil },
		"Previous": nil,
	} {
		t.Run("OKChanged"+name, func(t *testing.T) {
			r, prev := sampleRecord(), roundchain.Genesis()
			if edit == nil {
				prev[31] = 1
			} else {
				edit(r)
			}
			if h, err := roundchain.Hash(prev, r); err != nil || bytes.Equal(h, base) {
				t.Fatalf("hash after the change = %x, %v; unchanged %x", h, err, base)
			}
		})
	}
	for name, edit := range map[string]func(r *roundchain.Record){
		"ErrDuplicateIdentity": func(r *roundchain.Record) { r.Evaluations[0].Identity = "a" },
		"ErrEmptyIdentity":     func(r *roundchain.Record) { r.Evaluations[0].Identity = "" },
		"ErrDuplicateAccount":  func(r *roundchain.Record) { r.Payouts = append(r.Payouts, r.Payouts[0]) },
		"ErrNaN":               func(r *roundchain.Record) { r.Evaluations[0].Loss = math.NaN() },
	} {
		t.Run(name, func(t *testing.T) {
			r := sampleRecord()
			edit(r)
			if _, err := roundchain.Hash(roundchain.Genesis(), r); !errors.Is(err, roundchain.ErrBadRecord) {
				t.Fatalf("err = %v, want ErrBadRecord", err)
			}
		})
	}
	t.Run("ErrPreviousLength", func(t *testing.T) {
		if _, err := roundchain.Hash([]byte{1, 2}, sampleRecord()); !errors.Is(err, roundchain.ErrBadRecord) {
			t.Fatalf("err = %v, want ErrBadRecord", err)
		}
	})
}
