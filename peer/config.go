package peer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/taonet/taonet/distill"
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
	// ServeModel, when set, is served instead of a libtorch model built
	// from the fields above (tests and benchmarks serve cheap models).
	ServeModel Model
	// Limits bound what callers can make this peer do.
	Limits Limits
	// Gradients says what Backward does with incoming gradients.
	Gradients Gradients
	// Logger receives lifecycle logs.
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
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Gradients.Validate(); err != nil {
		errs = append(errs, err)
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
