package coordinator

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/time/rate"

	"github.com/taonet/taonet/certs"
	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/httpops"
)

// Config configures a coordinator process. Every field has a default in
// DefaultConfig; Validate names the value it refuses.
type Config struct {
	// Home is the folder written by Init: CA, coordinator certificate and
	// database.
	Home string
	// Listen is the TCP address of the one gRPC port (Coordinator, Ledger,
	// health, reflection). "127.0.0.1:0" picks a free port.
	Listen string
	// HTTP, when set, is the HOST:PORT of the operations HTTP server
	// (/metrics, /healthz, /readyz; see package internal/httpops) and of
	// the dashboard at / (dashboard.go). It must be a loopback address
	// unless HTTPPublic is set. Empty: no HTTP.
	HTTP       string
	HTTPPublic bool
	// Logger receives request and lifecycle logs.
	Logger *slog.Logger
	// LeafLifetime is the lifetime of certificates issued by Enroll and
	// Renew, and of the coordinator's own certificate.
	LeafLifetime time.Duration
	// RevocationPoll is how often the revocations table is read; a revoke
	// takes effect within about this long.
	RevocationPoll time.Duration
	// EnrollRate and EnrollBurst limit Enroll calls per client address.
	EnrollRate  rate.Limit
	EnrollBurst int
	// EnrollGlobalRate and EnrollGlobalBurst limit Enroll calls from all
	// addresses together, so rotating source addresses gains nothing.
	EnrollGlobalRate  rate.Limit
	EnrollGlobalBurst int
	// RenewRate and RenewBurst limit Renew calls per identity; each Renew
	// writes a certificate.
	RenewRate  rate.Limit
	RenewBurst int
	// QueryRate and QueryBurst limit Query calls per address and per
	// identity.
	QueryRate  rate.Limit
	QueryBurst int
	// WatchBuffer is how many events a Watch stream may fall behind before
	// it is cut.
	WatchBuffer int
	// ShutdownGrace is how long GracefulStop may take before Stop.
	ShutdownGrace time.Duration

	// RoundEvery opens a round at this interval; RoundCron, when set, is a
	// cron expression (five fields, UTC) used instead. A tick that comes
	// while a round is still running is skipped. RoundEvery 0 and no
	// RoundCron: no scheduled rounds.
	RoundEvery time.Duration
	RoundCron  string
	// DistillTimeout and EvalTimeout are the lengths of a round's phases.
	DistillTimeout time.Duration
	EvalTimeout    time.Duration
	// Transfer is the transfer sample size of a round; TransferBatch the
	// batch size of Forward calls in rounds.
	Transfer      int
	TransferBatch int
	// Validation is the folder of the operator's labeled validation data
	// (see LoadValidation); ValidationSamples the sample drawn each round.
	Validation        string
	ValidationSamples int
	// Smoothing is the factor of the moving average of each peer's loss
	// (see ScoreConfig).
	Smoothing float64
	// QueryPeers is how many of the best peers answer a Query by default;
	// QueryTimeout bounds their answers.
	QueryPeers   int
	QueryTimeout time.Duration
	// Clock is the scheduler's time; nil means the wall clock.
	Clock Clock

	// MaxConns is the most connections open at once; MaxConnsPerHost the
	// most from one source IP address. A connection over either is closed
	// as soon as it is accepted.
	MaxConns        int
	MaxConnsPerHost int
	// MaxStreams is the most concurrent streams (calls) on one connection.
	MaxStreams uint32
	// MaxWatches is the most Coordinator/Watch streams one identity may
	// hold open; the next is refused with ResourceExhausted.
	MaxWatches int
	// MaxHealthWatches is the most grpc.health.v1.Health/Watch streams open
	// at once from every caller together (Watch needs a certificate of the
	// network; Check stays open to all).
	MaxHealthWatches int
	// AwayAfter is how long a joined peer may be without a Watch stream
	// before it is away: out of rounds and of ListPeers (unless asked)
	// until it watches or joins again.
	AwayAfter time.Duration
	// HandshakeTimeout bounds a new connection's TLS handshake.
	HandshakeTimeout time.Duration
	// IdleTimeout closes (with GOAWAY) a connection that has had no call
	// open this long; clients reconnect on their next call.
	IdleTimeout time.Duration
}

// DefaultConfig returns the defaults: 7-day leaves, a revocation poll of
// 250ms, Enroll 1/s (burst 5) per address, Query 20/s (burst 40); 4,096
// connections (128 per source address), 64 streams per connection, 4
// Watch streams per identity, 64 health Watch streams, a 5s TLS handshake
// and idle connections closed after 5 minutes.
func DefaultConfig() Config {
	return Config{
		Home:           "taonet-home",
		Listen:         "127.0.0.1:7443",
		Logger:         slog.Default(),
		LeafLifetime:   certs.DefaultLeafLifetime,
		RevocationPoll: 250 * time.Millisecond,
		EnrollRate:     1,
		EnrollBurst:    5,
		QueryRate:      20,
		QueryBurst:     40,
		WatchBuffer:    256,
		ShutdownGrace:  5 * time.Second,

		EnrollGlobalRate:  10,
		EnrollGlobalBurst: 50,
		RenewRate:         rate.Every(time.Minute),
		RenewBurst:        3,

		RoundEvery:        60 * time.Second,
		DistillTimeout:    30 * time.Second,
		EvalTimeout:       10 * time.Second,
		Transfer:          1000,
		TransferBatch:     250,
		Validation:        distill.FashionMNISTDir,
		ValidationSamples: 1000,
		Smoothing:         0.5,
		QueryPeers:        3,
		QueryTimeout:      5 * time.Second,

		MaxConns:         4096,
		MaxConnsPerHost:  128,
		MaxStreams:       64,
		MaxWatches:       4,
		MaxHealthWatches: 64,
		AwayAfter:        30 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		IdleTimeout:      5 * time.Minute,
	}
}

// Validate checks every field.
func (c Config) Validate() error {
	var errs []error
	if c.Home == "" {
		errs = append(errs, errors.New("home must be set"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q is not HOST:PORT", c.Listen))
	}
	if c.HTTP != "" {
		if err := httpops.CheckAddr(c.HTTP, c.HTTPPublic); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger must be set"))
	}
	if c.LeafLifetime < time.Second {
		errs = append(errs, fmt.Errorf("leaf lifetime %v must be at least 1s", c.LeafLifetime))
	}
	if c.RevocationPoll <= 0 || c.RevocationPoll > time.Second {
		errs = append(errs, fmt.Errorf("revocation poll %v must be in (0, 1s]", c.RevocationPoll))
	}
	if c.EnrollRate <= 0 || c.EnrollBurst < 1 {
		errs = append(errs, fmt.Errorf("enroll rate %v/s burst %d must be positive", c.EnrollRate, c.EnrollBurst))
	}
	if c.EnrollGlobalRate <= 0 || c.EnrollGlobalBurst < 1 || c.RenewRate <= 0 || c.RenewBurst < 1 {
		errs = append(errs, fmt.Errorf("enroll global rate %v/s burst %d and renew rate %v/s burst %d must be positive", c.EnrollGlobalRate, c.EnrollGlobalBurst, c.RenewRate, c.RenewBurst))
	}
	if c.QueryRate <= 0 || c.QueryBurst < 1 {
		errs = append(errs, fmt.Errorf("query rate %v/s burst %d must be positive", c.QueryRate, c.QueryBurst))
	}
	if c.WatchBuffer < 1 {
		errs = append(errs, fmt.Errorf("watch buffer %d must be at least 1", c.WatchBuffer))
	}
	if c.RoundEvery < 0 {
		errs = append(errs, fmt.Errorf("round every %v must not be negative", c.RoundEvery))
	}
	if c.RoundCron != "" {
		if _, err := cron.ParseStandard(c.RoundCron); err != nil {
			errs = append(errs, fmt.Errorf("round cron %q: %w", c.RoundCron, err))
		}
	}
	if c.DistillTimeout <= 0 || c.EvalTimeout <= 0 {
		errs = append(errs, fmt.Errorf("distill timeout %v and eval timeout %v must be positive", c.DistillTimeout, c.EvalTimeout))
	}
	if c.Transfer < 1 || c.TransferBatch < 1 || c.ValidationSamples < 1 {
		errs = append(errs, fmt.Errorf("transfer %d, transfer batch %d and validation samples %d must be positive", c.Transfer, c.TransferBatch, c.ValidationSamples))
	}
	if c.TransferBatch > 1024 {
		errs = append(errs, fmt.Errorf("transfer batch %d is over the peers' batch limit of 1024", c.TransferBatch))
	}
	if c.Validation == "" {
		errs = append(errs, errors.New("validation folder must be set"))
	}
	if !(c.Smoothing >= 0 && c.Smoothing < 1) {
		errs = append(errs, fmt.Errorf("smoothing %v must be in [0, 1)", c.Smoothing))
	}
	if c.QueryPeers < 1 || c.QueryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("query peers %d and query timeout %v must be positive", c.QueryPeers, c.QueryTimeout))
	}
	if c.MaxConns < 1 || c.MaxConnsPerHost < 1 || c.MaxConnsPerHost > c.MaxConns {
		errs = append(errs, fmt.Errorf("max conns %d and max conns per host %d must be positive, per host at most the total", c.MaxConns, c.MaxConnsPerHost))
	}
	if c.AwayAfter <= 0 {
		errs = append(errs, fmt.Errorf("away-after %v must be positive", c.AwayAfter))
	}
	if c.MaxStreams < 1 || c.MaxWatches < 1 || c.MaxHealthWatches < 1 {
		errs = append(errs, fmt.Errorf("max streams %d, max watches %d and max health watches %d must be positive", c.MaxStreams, c.MaxWatches, c.MaxHealthWatches))
	}
	if c.HandshakeTimeout <= 0 || c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("handshake timeout %v and idle timeout %v must be positive", c.HandshakeTimeout, c.IdleTimeout))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("shutdown grace %v must not be negative", c.ShutdownGrace))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("coordinator config: %w", err)
	}
	return nil
}
