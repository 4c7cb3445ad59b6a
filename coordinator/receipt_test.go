package coordinator_test

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/ledger"
	"github.com/taonet/taonet/ledger/receipt"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// TestRoundReceipts settles rounds in a running coordinator's ledger with
// the coordinator's own key, then checks that GetRound and ListRounds
// return receipts that verify against the network's CA, and that a change
// to any one field of one is refused.
func TestRoundReceipts(t *testing.T) {
	ctx := tctx(t)
	n := mustNetwork(t, nil)
	n.mustEnroll(t, "alice")
	n.mustEnroll(t, "bob")
	db := mustOpenLedger(t, n.home)
	defer db.Close()
	mustHomeSigner(t, db, n.home)
	alice, bob := certs.PeerID(testTD, "alice").String(), certs.PeerID(testTD, "bob").String()
	for r, evs := range [][]ledger.Evaluation{
		{{Identity: alice, Loss: 0.25, Accuracy: 0.875, Weight: 0.75, Shares: 3, Status: ledger.EvalScored},
			{Identity: bob, Loss: 1.5, Accuracy: 0.5, Weight: 0.25, Shares: 1, Status: ledger.EvalScored}},
		{{Identity: alice, Loss: 0.5, Accuracy: 0.75, Weight: 1, Shares: 1, Status: ledger.EvalScored},
			{Identity: bob, Loss: 3, Accuracy: 0.1, Status: ledger.EvalTimeout}},
	} {
		num := uint64(r + 1)
		seed := []byte{byte(num), 7, 7, 7}
		hash := sha256.Sum256(seed)
		if err := db.OpenRound(ctx, num, num*31, hash[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Settle(ctx, num, seed, evs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Verify(ctx, n.ca.Cert); err != nil {
		t.Fatalf("verify the home's ledger: %v", err)
	}
	ops := n.coord(t, n.mtls(n.mustClient(t, "ops")))
	got, err := ops.GetRound(ctx, &taonetv1.GetRoundRequest{Number: 1})
	if err != nil {
		t.Fatal(err)
	}
	list, err := ops.ListRounds(ctx, &taonetv1.ListRoundsRequest{})
	if err != nil || len(list.GetRounds()) != 2 {
		t.Fatalf("list rounds = %v, %v", list, err)
	}
	r1, r2 := got.GetRound(), list.GetRounds()[0]
	t.Run("OK", func(t *testing.T) {
		for _, r := range []*taonetv1.Round{r1, r2, list.GetRounds()[1]} {
			if err := receipt.VerifyRound(n.ca.Cert, r); err != nil {
				t.Fatalf("round %d: %v", r.GetNumber(), err)
			}
		}
		if string(r2.GetPreviousHash()) != string(r1.GetHash()) {
			t.Fatalf("round 2 follows %x, not round 1's hash %x", r2.GetPreviousHash(), r1.GetHash())
		}
	})
	t.Run("ErrFieldChanged", func(t *testing.T) {
		mustRejectMutants(t, r1, func(m proto.Message) error { return receipt.VerifyRound(n.ca.Cert, m.(*taonetv1.Round)) })
	})
	t.Run("ErrOtherCA", func(t *testing.T) {
		other := mustInit(t)
		if err := receipt.VerifyRound(mustLoadCA(t, other).Cert, r1); !errors.Is(err, receipt.ErrBadReceipt) {
			t.Fatalf("receipt checked against another network's CA: %v", err)
		}
	})
}

// mustHomeSigner makes db sign rounds with the coordinator key of home, as
// the running coordinator does.
func mustHomeSigner(tb testing.TB, db *ledger.DB, home string) {
	tb.Helper()
	certPEM, err := os.ReadFile(filepath.Join(home, coordinator.CertFile))
	if err != nil {
		tb.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(home, coordinator.KeyFile))
	if err != nil {
		tb.Fatal(err)
	}
	pair, err := certs.KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.SignRoundsWith(ledger.RoundSigner{Key: pair.PrivateKey.(crypto.Signer), Cert: pair.Leaf}); err != nil {
		tb.Fatal(err)
	}
}

// mustRejectMutants checks that verify accepts msg and refuses each copy of
// it with one field changed by one bit or one unit: every populated scalar,
// byte string and string field, and every field of the first element of
// each repeated message field. Timestamps (opened_at, closed_at) are not
// part of a round's record and are left alone.
func mustRejectMutants(t *testing.T, msg proto.Message, verify func(proto.Message) error) {
	t.Helper()
	if err := verify(msg); err != nil {
		t.Fatalf("the unchanged receipt: %v", err)
	}
	tried := 0
	var walk func(path []protoreflect.FieldDescriptor, m protoreflect.Message)
	walk = func(path []protoreflect.FieldDescriptor, m protoreflect.Message) {
		fields := m.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if !m.Has(fd) {
				continue
			}
			p := append(append([]protoreflect.FieldDescriptor{}, path...), fd)
			switch {
			case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
				walk(p, m.Get(fd).List().Get(0).Message())
			case fd.Kind() == protoreflect.MessageKind:
				// timestamps: not covered by the hash
			default:
				mutant := proto.Clone(msg)
				mutate(mutant.ProtoReflect(), p)
				if err := verify(mutant); err == nil {
					t.Errorf("a receipt with %s changed verifies", p[len(p)-1].FullName())
				} else if !errors.Is(err, receipt.ErrBadReceipt) {
					t.Errorf("%s changed: %v does not wrap ErrBadReceipt", p[len(p)-1].FullName(), err)
				}
				tried++
			}
		}
	}
	walk(nil, msg.ProtoReflect())
	if tried < 15 {
		t.Fatalf("only %d fields tried", tried)
	}
}

// mutate changes the field at path (through the first element of
// repeated messages) by one bit or one unit.
func mutate(m protoreflect.Message, path []protoreflect.FieldDescriptor) {
	for _, fd := range path[:len(path)-1] {
		m = m.Mutable(fd).List().Get(0).Message()
	}
	fd := path[len(path)-1]
	v := m.Get(fd)
	switch fd.Kind() {
	case protoreflect.BytesKind:
		b := append([]byte{}, v.Bytes()...)
		b[len(b)/2] ^= 0x01
		m.Set(fd, protoreflect.ValueOfBytes(b))
	case protoreflect.StringKind:
		b := []byte(v.String())
		b[len(b)-1] ^= 0x01
		m.Set(fd, protoreflect.ValueOfString(string(b)))
	case protoreflect.Uint64Kind:
		m.Set(fd, protoreflect.ValueOfUint64(v.Uint()+1))
	case protoreflect.DoubleKind:
		m.Set(fd, protoreflect.ValueOfFloat64(math.Float64frombits(math.Float64bits(v.Float())^1)))
	case protoreflect.EnumKind:
		m.Set(fd, protoreflect.ValueOfEnum(v.Enum()%3+1))
	default:
		panic("mutate: unexpected kind " + fd.Kind().String())
	}
}
