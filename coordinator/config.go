package coordinator

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/time/rate"

	"github.com/taonet/taonet/certs"
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
	// QueryRate and QueryBurst limit Query calls per address and per
	// identity.
	QueryRate  rate.Limit
	QueryBurst int
	// WatchBuffer is how many events a Watch stream may fall behind before
	// it is cut.
	WatchBuffer int
	// ShutdownGrace is how long GracefulStop may take before Stop.
	ShutdownGrace time.Duration
}

// DefaultConfig returns the defaults: 7-day leaves, a revocation poll of
// 250ms, Enroll 1/s (burst 5) per address, Query 20/s (burst 40).
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
	if c.QueryRate <= 0 || c.QueryBurst < 1 {
		errs = append(errs, fmt.Errorf("query rate %v/s burst %d must be positive", c.QueryRate, c.QueryBurst))
	}
	if c.WatchBuffer < 1 {
		errs = append(errs, fmt.Errorf("watch buffer %d must be at least 1", c.WatchBuffer))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("shutdown grace %v must not be negative", c.ShutdownGrace))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("coordinator config: %w", err)
	}
	return nil
}
