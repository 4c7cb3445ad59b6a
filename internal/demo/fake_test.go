package main

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// fakeCoordinator plays back a scripted network: each ListRounds call
// shows the next step of rounds, each ListPeers call the next directory;
// the last step stays.
type fakeCoordinator struct {
	taonetv1.UnimplementedCoordinatorServer
	taonetv1.UnimplementedLedgerServer

	mu          sync.Mutex
	latest      []*taonetv1.Round // the newest round at each ListRounds call (nil: none yet)
	rounds      map[uint64]*taonetv1.Round
	directories [][]*taonetv1.PeerInfo
	accounts    []*taonetv1.Balance
	supply      *taonetv1.GetSupplyResponse
}

func (f *fakeCoordinator) ListRounds(context.Context, *taonetv1.ListRoundsRequest) (*taonetv1.ListRoundsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.latest[0]
	if len(f.latest) > 1 {
		f.latest = f.latest[1:]
	}
	if r == nil {
		return &taonetv1.ListRoundsResponse{}, nil
	}
	return &taonetv1.ListRoundsResponse{Rounds: []*taonetv1.Round{r}}, nil
}

func (f *fakeCoordinator) GetRound(_ context.Context, req *taonetv1.GetRoundRequest) (*taonetv1.GetRoundResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rounds[req.GetNumber()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "round %d", req.GetNumber())
	}
	return &taonetv1.GetRoundResponse{Round: r}, nil
}

func (f *fakeCoordinator) ListPeers(context.Context, *taonetv1.ListPeersRequest) (*taonetv1.ListPeersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.directories[0]
	if len(f.directories) > 1 {
		f.directories = f.directories[1:]
	}
	return &taonetv1.ListPeersResponse{Peers: d}, nil
}

func (f *fakeCoordinator) ListAccounts(context.Context, *taonetv1.ListAccountsRequest) (*taonetv1.ListAccountsResponse, error) {
	return &taonetv1.ListAccountsResponse{Accounts: f.accounts}, nil
}

func (f *fakeCoordinator) GetSupply(context.Context, *taonetv1.GetSupplyRequest) (*taonetv1.GetSupplyResponse, error) {
	return f.supply, nil
}

// mustServe serves f over an in-memory listener until the test ends and
// returns a connection to it.
func mustServe(tb testing.TB, f *fakeCoordinator) *grpc.ClientConn {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	taonetv1.RegisterCoordinatorServer(srv, f)
	taonetv1.RegisterLedgerServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	tb.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

const (
	aliceID = "spiffe://taonet.local/peer/alice"
	bobID   = "spiffe://taonet.local/peer/bob"
)

var testPeers = []peerSpec{
	{Name: "alice", Model: "mlp", Shard: "0/2", Alpha: 0.1, Seed: 7, Home: "/tmp/alice"},
	{Name: "bob", Model: "cnn", Shard: "1/2", Alpha: 0.1, Seed: 7, Home: "/tmp/bob"},
}
