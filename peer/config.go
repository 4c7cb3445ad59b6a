package peer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/internal/httpops"
)

// Config configures a peer process. DefaultConfig fills every field but
// Coordinator; Validate names the value it refuses.
type Config struct {
	// Home holds key.pem (0600), cert.pem and ca.pem.
	Home string
	// Coordinator is the coordinator's HOST:PORT.
	Coordinator string
	// Token and CAPin are needed on the first run only (enrollment).
	Token string
	CAPin string
	// Listen is where the Peer service is served; Advertise is the
	// HOST:PORT other nodes dial (the listen address when empty).
	Listen    string
	Advertise string
	// Model is the architecture: mlp or cnn.
	Model string
	// Device is auto, cpu or cuda[:N]; Threads the CPU threads of libtorch.
	Device  string
	Threads int
	// Data is the folder of the Fashion-MNIST IDX files.
	Data string
	// Shard "i/n" is this peer's part of the private pool split among n
	// peers with a Dirichlet(Alpha) label skew drawn from Seed; empty means
	// the whole private pool.
	Shard string
	Alpha float64
	Seed  uint64
	// LR is the learning rate of the model's Adam optimizer.
	LR float64
	// LocalSteps is the most training steps of a round (fewer when the
	// distill deadline comes first); Batch the private and the transfer
	// rows of each step, and of each warmup step.
	LocalSteps int
	Batch      int
	// KDMix is the share of the distillation term in a round's loss (the
	// cross-entropy on the private batch gets 1 - KDMix), in [0, 1]; 0
	// trains on the private shard alone and asks no teacher.
	// KDTemperature is the distillation temperature T > 0.
	KDMix         float64
	KDTemperature float64
	// HiddenChecks is how many of its own labelled private examples a
	// student mixes among the transfer inputs it sends its teachers, to
	// drop a teacher whose loss on them is no better than uniform
	// guessing; 0 checks nothing.
	HiddenChecks int
	// WarmupEpochs is how many epochs a peer without a checkpoint trains
	// on its own shard before it joins; 0 joins with a fresh model.
	WarmupEpochs int
	// ServeModel, when set, is served instead of a libtorch model built
	// from the fields above (tests and benchmarks serve cheap models).
	ServeModel Model
	// Limits bound what callers can make this peer do.
	Limits Limits
	// Gradients says what Backward does with incoming gradients.
	Gradients Gradients
	// HTTP, when set, is the HOST:PORT of the operations HTTP server
	// (/metrics, /healthz, /readyz; see package internal/httpops). It must
	// be a loopback address unless HTTPPublic is set. Empty: no HTTP.
	HTTP       string
	HTTPPublic bool
	// Logger receives lifecycle logs; the peer adds its identity to every
	// line ("peer" attribute) once it is known.
	Logger *slog.Logger
	// BackoffMin and BackoffMax bound the Watch reconnect backoff.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// LeaveTimeout bounds the Leave call on shutdown.
	LeaveTimeout time.Duration
	// ShutdownGrace is how long GracefulStop may take before Stop.
	ShutdownGrace time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Home:          "peer-home",
		Listen:        "127.0.0.1:0",
		Model:         "mlp",
		Device:        "auto",
		Threads:       1,
		Data:          distill.FashionMNISTDir,
		Alpha:         0.5,
		Seed:          1,
		LR:            1e-3,
		LocalSteps:    50,
		Batch:         64,
		KDMix:         0.5,
		KDTemperature: 2,
		HiddenChecks:  32,
		WarmupEpochs:  1,
		Limits:        DefaultLimits(),
		Gradients:     DefaultGradients(),
		Logger:        slog.Default(),
		BackoffMin:    200 * time.Millisecond,
		BackoffMax:    10 * time.Second,
		LeaveTimeout:  3 * time.Second,
		ShutdownGrace: 5 * time.Second,
	}
}

// Validate checks every field.
func (c Config) Validate() error {
	var errs []error
	if c.Home == "" {
		errs = append(errs, errors.New("home must be set"))
	}
	if _, _, err := net.SplitHostPort(c.Coordinator); err != nil {
		errs = append(errs, fmt.Errorf("coordinator %q is not HOST:PORT", c.Coordinator))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q is not HOST:PORT", c.Listen))
	}
	if c.Advertise != "" {
		if host, _, err := net.SplitHostPort(c.Advertise); err != nil || host == "" {
			errs = append(errs, fmt.Errorf("advertise %q is not HOST:PORT", c.Advertise))
		}
	}
	if (c.Token == "") != (c.CAPin == "") {
		errs = append(errs, errors.New("token and ca pin go together"))
	}
	if c.ServeModel == nil {
		tc := TrainConfig{Model: c.Model, Home: c.Home, Data: c.Data, Shard: c.Shard, Alpha: c.Alpha, Seed: c.Seed,
			Device: c.Device, Threads: c.Threads, Epochs: 1, Batch: 1, LR: c.LR, Out: io.Discard}
		if err := tc.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.validateRounds(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Gradients.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.HTTP != "" {
		if err := httpops.CheckAddr(c.HTTP, c.HTTPPublic); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("logger must be set"))
	}
	if c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("backoff %v..%v must be positive and ordered", c.BackoffMin, c.BackoffMax))
	}
	if c.LeaveTimeout <= 0 || c.ShutdownGrace < 0 {
		errs = append(errs, fmt.Errorf("leave timeout %v must be positive, shutdown grace %v not negative", c.LeaveTimeout, c.ShutdownGrace))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("peer config: %w", err)
	}
	return nil
}

// validateRounds checks the fields of a round's training.
func (c Config) validateRounds() error {
	var errs []error
	if c.LocalSteps < 1 {
		errs = append(errs, fmt.Errorf("local steps %d must be at least 1", c.LocalSteps))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("batch %d must be at least 1", c.Batch))
	}
	if !(c.KDMix >= 0 && c.KDMix <= 1) {
		errs = append(errs, fmt.Errorf("kd mix %v must be in [0, 1]", c.KDMix))
	}
	if !(c.KDTemperature > 0) || math.IsInf(c.KDTemperature, 0) {
		errs = append(errs, fmt.Errorf("kd temperature %v must be positive", c.KDTemperature))
	}
	if c.HiddenChecks < 0 {
		errs = append(errs, fmt.Errorf("hidden checks %d must not be negative", c.HiddenChecks))
	}
	if c.WarmupEpochs < 0 {
		errs = append(errs, fmt.Errorf("warmup epochs %d must not be negative", c.WarmupEpochs))
	}
	return errors.Join(errs...)
}
