package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/coordinator"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// mustHome makes a network's home folder with coordinator init.
func mustHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "net")
	if _, err := runCoordinator("init", "--home", home, "--hosts", "localhost,127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	return home
}

// TestServeLimitFlags runs coordinator serve with --enroll-rate and
// --enroll-burst set low: the second Enroll from the test's address is
// refused, so the flags reach the running coordinator.
func TestServeLimitFlags(t *testing.T) {
	home := mustHome(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	root := newRoot()
	root.SetOut(pw)
	root.SetArgs([]string{"--home", home, "serve", "--listen", "127.0.0.1:0", "--round-every", "0",
		"--enroll-rate", "0.001", "--enroll-burst", "1", "--away-after", "1m", "--renew-every", "2m"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); _ = pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed %q: %v (exit %v)", line, err, <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`^coordinator listening on (\S+) \(trust domain \S+, CA pin (\S+)\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve printed %q", line)
	}
	conf, err := certs.PinnedClientConfig(m[2], nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := taonetv1.NewCoordinatorClient(conn)
	tok, err := certs.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
	defer callCancel()
	_, err = c.Enroll(callCtx, &taonetv1.EnrollRequest{Token: tok})
	if err == nil || status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("first Enroll = %v; want refused for its token, within the burst of 1", err)
	}
	_, err = c.Enroll(callCtx, &taonetv1.EnrollRequest{Token: tok})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "enroll rate limit for address") {
		t.Fatalf("second Enroll = %v; want ResourceExhausted by --enroll-burst 1", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestServeLimitFlagsInvalid gives each limit flag a value it must refuse:
// serve stops before it opens the home, naming the value.
func TestServeLimitFlagsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, flag, value, want string
	}{
		{"ErrEnrollRateZero", "--enroll-rate", "0", "enroll rate 0/s burst 5 must be positive"},
		{"ErrEnrollRateNegative", "--enroll-rate", "-1", "enroll rate -1/s"},
		{"ErrEnrollRateNaN", "--enroll-rate", "NaN", "--enroll-rate NaN: want a positive number"},
		{"ErrEnrollBurst", "--enroll-burst", "0", "enroll rate 1/s burst 0 must be positive"},
		{"ErrEnrollGlobalRate", "--enroll-global-rate", "0", "enroll global rate 0/s burst 50"},
		{"ErrEnrollGlobalRateInf", "--enroll-global-rate", "Inf", "--enroll-global-rate +Inf: want a positive number"},
		{"ErrEnrollGlobalBurst", "--enroll-global-burst", "-3", "enroll global rate 10/s burst -3"},
		{"ErrRenewEveryZero", "--renew-every", "0", "--renew-every 0s: want a positive duration"},
		{"ErrRenewEveryNegative", "--renew-every", "-1m", "--renew-every -1m0s: want a positive duration"},
		{"ErrRenewBurst", "--renew-burst", "0", "renew rate 0.016666666666666666/s burst 0 must be positive"},
		{"ErrQueryRate", "--query-rate", "-0.5", "query rate -0.5/s burst 40 must be positive"},
		{"ErrQueryRateInf", "--query-rate", "-Inf", "--query-rate -Inf: want a positive number"},
		{"ErrQueryBurst", "--query-burst", "0", "query rate 20/s burst 0 must be positive"},
		{"ErrAwayAfterZero", "--away-after", "0", "away-after 0s must be positive"},
		{"ErrAwayAfterNegative", "--away-after", "-5s", "away-after -5s must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "none")
			_, err := runCoordinator("serve", "--home", home, "--listen", "127.0.0.1:0", "--round-every", "0", tc.flag, tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve %s %s = %v; want an error containing %q", tc.flag, tc.value, err, tc.want)
			}
		})
	}
}

// TestRenewEveryDefault checks that the default of --renew-every gives
// back the default renew rate exactly.
func TestRenewEveryDefault(t *testing.T) {
	def := coordinator.DefaultConfig()
	if got := interval(def.RenewRate); got != time.Minute || rate.Every(got) != def.RenewRate {
		t.Fatalf("interval(%v) = %v, and back %v", def.RenewRate, got, rate.Every(got))
	}
}
