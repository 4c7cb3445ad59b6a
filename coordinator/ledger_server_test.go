package coordinator_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/testdata"
	"github.com/taonet/taonet/ledger"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

func ledgerPeer(name string) string { return "spiffe://taonet.local/peer/" + name }

// mustLedgerBooks returns a ledger with E0 = 10 rao and three settled
// rounds: a=5 b=5, then a=5 c=5, then b=2 c=8 (balances a=10 b=7 c=13).
func mustLedgerBooks(tb testing.TB) *ledger.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := ledger.Open(ctx, filepath.Join(tb.TempDir(), "taonet.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	testdata.RoundSigner(tb, db, "taonet.local")
	for _, n := range []string{"a", "b", "c", "d"} {
		if _, err := db.SQL().Exec(`INSERT INTO directory (identity, name, role, state, enrolled_at, updated_at)
			VALUES (?, ?, 'peer', 'active', 0, 0)`, ledgerPeer(n), n); err != nil {
			tb.Fatal(err)
		}
	}
	if err := db.SetInitialEmission(ctx, 10); err != nil {
		tb.Fatal(err)
	}
	for round, shares := range [][3]uint64{{1, 1, 0}, {1, 0, 1}, {0, 1, 4}} {
		n := uint64(round + 1)
		seed := []byte(fmt.Sprint("seed", n))
		hash := sha256.Sum256(seed)
		if err := db.OpenRound(ctx, n, n, hash[:]); err != nil {
			tb.Fatal(err)
		}
		var evs []ledger.Evaluation
		for i, name := range []string{"a", "b", "c"} {
			evs = append(evs, ledger.Evaluation{Identity: ledgerPeer(name), Shares: shares[i], Status: ledger.EvalScored})
		}
		if _, err := db.Settle(ctx, n, seed, evs); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// mustLedgerClient serves the Ledger service over db on 127.0.0.1:0 and
// returns a client. callerID plays the part of the mTLS identity.
func mustLedgerClient(tb testing.TB, db *ledger.DB, callerID func(context.Context) (string, bool)) taonetv1.LedgerClient {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer()
	taonetv1.RegisterLedgerServer(srv, coordinator.NewLedgerServer(db, callerID, slog.New(slog.DiscardHandler)))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		srv.GracefulStop()
		if err := <-served; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return taonetv1.NewLedgerClient(conn)
}

func callerIs(id string) func(context.Context) (string, bool) {
	return func(context.Context) (string, bool) { return id, id != "" }
}

func wantStatus(tb testing.TB, err error, code codes.Code) {
	tb.Helper()
	if status.Code(err) != code {
		tb.Fatalf("err = %v, want %s", err, code)
	}
}

func TestLedgerGetBalance(t *testing.T) {
	ctx := context.Background()
	db := mustLedgerBooks(t)
	client := mustLedgerClient(t, db, callerIs(ledgerPeer("c")))
	tests := []struct {
		name    string
		account string
		want    string
		code    codes.Code
	}{
		{"OK", ledgerPeer("a"), "0.00000001", codes.OK},
		{"OKCaller", "", "0.000000013", codes.OK},
		{"OKNeverPaid", ledgerPeer("d"), "0", codes.OK},
		{"ErrUnknownAccount", ledgerPeer("mallory"), "", codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.GetBalance(ctx, &taonetv1.GetBalanceRequest{Account: tt.account})
			wantStatus(t, err, tt.code)
			if err == nil && resp.GetBalance().GetTao() != tt.want {
				t.Fatalf("balance = %v, want %s TAO", resp.GetBalance(), tt.want)
			}
		})
	}
	t.Run("ErrNoCaller", func(t *testing.T) {
		anon := mustLedgerClient(t, db, callerIs(""))
		_, err := anon.GetBalance(ctx, &taonetv1.GetBalanceRequest{})
		wantStatus(t, err, codes.Unauthenticated)
	})
	t.Run("ErrInternalHidesDetails", func(t *testing.T) {
		broken := mustLedgerBooks(t)
		c := mustLedgerClient(t, broken, callerIs(""))
		_ = broken.Close()
		_, err := c.GetBalance(ctx, &taonetv1.GetBalanceRequest{Account: ledgerPeer("a")})
		wantStatus(t, err, codes.Internal)
		if msg := status.Convert(err).Message(); msg != "internal error" {
			t.Fatalf("internal error leaks details: %q", msg)
		}
	})
}

func TestLedgerListAccounts(t *testing.T) {
	ctx := context.Background()
	client := mustLedgerClient(t, mustLedgerBooks(t), callerIs(""))
	t.Run("OK", func(t *testing.T) {
		var got []string
		token := ""
		for {
			resp, err := client.ListAccounts(ctx, &taonetv1.ListAccountsRequest{PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range resp.GetAccounts() {
				got = append(got, fmt.Sprintf("%s=%d/%s", b.GetAccount()[len(b.GetAccount())-1:], b.GetRao(), b.GetTao()))
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if want := "[c=13/0.000000013 a=10/0.00000001 b=7/0.000000007]"; fmt.Sprint(got) != want {
			t.Fatalf("accounts = %v, want %s", got, want)
		}
	})
	t.Run("ErrPageToken", func(t *testing.T) {
		_, err := client.ListAccounts(ctx, &taonetv1.ListAccountsRequest{PageToken: "forged"})
		wantStatus(t, err, codes.InvalidArgument)
	})
	t.Run("ErrPageSize", func(t *testing.T) {
		_, err := client.ListAccounts(ctx, &taonetv1.ListAccountsRequest{PageSize: 5000})
		wantStatus(t, err, codes.InvalidArgument)
	})
}

func TestLedgerListPayouts(t *testing.T) {
	ctx := context.Background()
	client := mustLedgerClient(t, mustLedgerBooks(t), callerIs(""))
	list := func(req *taonetv1.ListPayoutsRequest) []string {
		t.Helper()
		var got []string
		for {
			resp, err := client.ListPayouts(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range resp.GetPayouts() {
				got = append(got, fmt.Sprintf("%d%s=%s", p.GetRound(), p.GetAccount()[len(p.GetAccount())-1:], p.GetTao()))
			}
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				return got
			}
		}
	}
	tests := []struct {
		name string
		req  *taonetv1.ListPayoutsRequest
		want string
	}{
		{"OKByAccount", &taonetv1.ListPayoutsRequest{Account: ledgerPeer("c"), PageSize: 1}, "[3c=0.000000008 2c=0.000000005]"},
		{"OKByRound", &taonetv1.ListPayoutsRequest{Round: 1, PageSize: 1}, "[1a=0.000000005 1b=0.000000005]"},
		{"OKAll", &taonetv1.ListPayoutsRequest{}, "[3b=0.000000002 3c=0.000000008 2a=0.000000005 2c=0.000000005 1a=0.000000005 1b=0.000000005]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(list(tt.req)); got != tt.want {
				t.Fatalf("payouts = %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("ErrPageToken", func(t *testing.T) {
		_, err := client.ListPayouts(ctx, &taonetv1.ListPayoutsRequest{PageToken: "!!"})
		wantStatus(t, err, codes.InvalidArgument)
	})
}

func TestLedgerGetSupply(t *testing.T) {
	client := mustLedgerClient(t, mustLedgerBooks(t), callerIs(""))
	resp, err := client.GetSupply(context.Background(), &taonetv1.GetSupplyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetMintedRao() != 30 || resp.GetMintedTao() != "0.00000003" || resp.GetCapRao() != ledger.Cap ||
		resp.GetEmissionRao() != 10 || resp.GetEmissionTao() != "0.00000001" || resp.GetNextHalvingAtRao() != ledger.Cap/2 {
		t.Fatalf("supply = %v", resp)
	}
}
