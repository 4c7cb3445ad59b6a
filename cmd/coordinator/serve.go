package main

import (
	"fmt"
	"math"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/taonet/taonet/coordinator"
	"github.com/taonet/taonet/internal/logformat"
)

// newServeCmd is the serve command; home and logFormat are the root's
// --home and --log-format.
func newServeCmd(home, logFormat *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the Coordinator and Ledger services and run the round schedule",
		Long: `serve listens on --listen with mutual TLS and serves the Coordinator and
Ledger services, gRPC health and reflection on one port, and runs the round
scheduler. It prints the listening address once it is ready, and stops
gracefully on SIGINT or SIGTERM.

Rounds open every --round-every (or on --cron, a five-field cron expression
in UTC; --round-every 0 and no --cron: no rounds), one at a time: peers
distill for --distill-timeout, then the coordinator evaluates every active
peer on a fresh sample of --validation-samples from --validation within
--eval-timeout, scores the answers and settles the round's TAO.

--validation is the operator's private labeled data: a folder with
validation-images-idx3-ubyte.gz and validation-labels-idx1-ubyte.gz, or a
Fashion-MNIST folder, whose test split's first half is public (a warning
says so at start).

Enroll is limited per source address (--enroll-rate, --enroll-burst) and
for all addresses together (--enroll-global-rate, --enroll-global-burst),
Renew per identity (--renew-every, --renew-burst), Query per address and
per identity (--query-rate, --query-burst); a call over a limit is refused
with ResourceExhausted. A joined peer without a Watch stream for
--away-after is away: out of rounds and of ListPeers until it watches or
joins again.

--http ADDR serves /metrics (Prometheus), /healthz, /readyz and a read-only
dashboard at / (plots of every peer's loss, accuracy, weight and balance per
round, the supply, the directory and the last rounds) on ADDR, a loopback
address such as 127.0.0.1:9090 unless --http-public is given.
/readyz and gRPC health say SERVING once the ledger is open and the server
serves. Logs go to stderr as text, or as JSON with --log-format json.

Environment: TAONET_HOME, TAONET_LISTEN, TAONET_VALIDATION, TAONET_HTTP,
TAONET_LOG_FORMAT.`,
		Example: `  coordinator serve --home ./net --listen 127.0.0.1:7443
  coordinator serve --home ./net --round-every 20s --distill-timeout 10s --eval-timeout 5s
  coordinator serve --home ./net --cron "*/5 * * * *" --validation /srv/private-validation
  coordinator serve --home ./net --http 127.0.0.1:9090 --log-format json`,
		Args: cobra.NoArgs,
	}
	def := coordinator.DefaultConfig()
	f := cmd.Flags()
	listen := f.String("listen", envDefault("TAONET_LISTEN", "127.0.0.1:7443"), "address to listen on")
	lifetime := f.Duration("cert-lifetime", def.LeafLifetime, "lifetime of issued certificates (renewed at 2/3)")
	every := f.Duration("round-every", def.RoundEvery, "open a round at this interval (0: only --cron)")
	cronExpr := f.String("cron", "", "open rounds on this cron schedule (five fields, UTC) instead of --round-every")
	distillT := f.Duration("distill-timeout", def.DistillTimeout, "length of a round's distillation phase")
	evalT := f.Duration("eval-timeout", def.EvalTimeout, "length of a round's evaluation phase")
	transfer := f.Int("transfer", def.Transfer, "transfer samples per round")
	batch := f.Int("transfer-batch", def.TransferBatch, "rows per Forward batch in rounds")
	validation := f.String("validation", envDefault("TAONET_VALIDATION", def.Validation), "folder of the private labeled validation data")
	samples := f.Int("validation-samples", def.ValidationSamples, "validation samples drawn per round")
	smoothing := f.Float64("smoothing", def.Smoothing, "moving-average factor of each peer's loss across rounds, in [0, 1)")
	queryPeers := f.Int("query-peers", def.QueryPeers, "peers that answer a Query by default")
	maxConns := f.Int("max-conns", def.MaxConns, "most connections open at once; more are closed as soon as accepted")
	maxConnsPerHost := f.Int("max-conns-per-host", def.MaxConnsPerHost, "most connections open at once from one source IP address")
	maxStreams := f.Uint32("max-streams", def.MaxStreams, "most concurrent calls on one connection")
	maxWatches := f.Int("max-watches", def.MaxWatches, "most Watch streams one identity may hold open")
	maxHealthWatches := f.Int("max-health-watches", def.MaxHealthWatches, "most health Watch streams open at once, from everyone")
	handshake := f.Duration("handshake-timeout", def.HandshakeTimeout, "deadline of a new connection's TLS handshake")
	idle := f.Duration("idle-timeout", def.IdleTimeout, "close connections with no call open this long")
	httpAddr := f.String("http", envDefault("TAONET_HTTP", ""), "serve /metrics, /healthz, /readyz and the dashboard (/) on this HOST:PORT, e.g. 127.0.0.1:9090 (default: off)")
	httpPublic := f.Bool("http-public", false, "allow --http on an address other than loopback (metrics name every peer, its scores and balance)")
	callLimits := callLimitFlags(cmd, def)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg := def
		if err := callLimits(&cfg); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		logger, err := logformat.New(cmd.ErrOrStderr(), *logFormat)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		cfg.Home, cfg.Listen, cfg.Logger, cfg.LeafLifetime = *home, *listen, logger, *lifetime
		cfg.HTTP, cfg.HTTPPublic = *httpAddr, *httpPublic
		cfg.RoundEvery, cfg.RoundCron, cfg.DistillTimeout, cfg.EvalTimeout = *every, *cronExpr, *distillT, *evalT
		cfg.Transfer, cfg.TransferBatch, cfg.Validation, cfg.ValidationSamples = *transfer, *batch, *validation, *samples
		cfg.Smoothing, cfg.QueryPeers = *smoothing, *queryPeers
		cfg.MaxConns, cfg.MaxConnsPerHost, cfg.MaxStreams = *maxConns, *maxConnsPerHost, *maxStreams
		cfg.MaxWatches, cfg.MaxHealthWatches, cfg.HandshakeTimeout, cfg.IdleTimeout = *maxWatches, *maxHealthWatches, *handshake, *idle
		s, err := coordinator.New(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "coordinator listening on %s (trust domain %s, CA pin %s)\n", s.Addr(), s.TrustDomain(), s.CAPin())
		if h := s.HTTP(); h != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "coordinator http on http://%s (/metrics, /healthz, /readyz); dashboard at http://%[1]s/\n", h.Addr())
		}
		return s.Run(cmd.Context())
	}
	return cmd
}

// callLimitFlags declares cmd's flags of the call rate limits and of
// presence, with def's values as defaults. The function it returns sets
// them on a Config, refusing what Config.Validate cannot see: a rate that
// is not a finite number, and a --renew-every that is not positive (which
// rate.Every would turn into no limit at all).
func callLimitFlags(cmd *cobra.Command, def coordinator.Config) func(*coordinator.Config) error {
	f := cmd.Flags()
	enrollRate := f.Float64("enroll-rate", float64(def.EnrollRate), "Enroll calls per second from one source address")
	enrollBurst := f.Int("enroll-burst", def.EnrollBurst, "Enroll calls one source address may make at once")
	enrollGlobalRate := f.Float64("enroll-global-rate", float64(def.EnrollGlobalRate), "Enroll calls per second from all addresses together")
	enrollGlobalBurst := f.Int("enroll-global-burst", def.EnrollGlobalBurst, "Enroll calls all addresses together may make at once")
	renewEvery := f.Duration("renew-every", interval(def.RenewRate), "time between the Renew calls one identity may make, once its burst is spent")
	renewBurst := f.Int("renew-burst", def.RenewBurst, "Renew calls one identity may make at once")
	queryRate := f.Float64("query-rate", float64(def.QueryRate), "Query calls per second from one source address, and from one identity")
	queryBurst := f.Int("query-burst", def.QueryBurst, "Query calls one source address, or one identity, may make at once")
	awayAfter := f.Duration("away-after", def.AwayAfter, "a joined peer without a Watch stream this long is away: out of rounds and of ListPeers until it watches or joins again")
	return func(cfg *coordinator.Config) error {
		for _, r := range []struct {
			flag string
			v    float64
		}{{"enroll-rate", *enrollRate}, {"enroll-global-rate", *enrollGlobalRate}, {"query-rate", *queryRate}} {
			if math.IsNaN(r.v) || math.IsInf(r.v, 0) {
				return fmt.Errorf("--%s %v: want a positive number of calls per second", r.flag, r.v)
			}
		}
		if *renewEvery <= 0 {
			return fmt.Errorf("--renew-every %v: want a positive duration such as 1m", *renewEvery)
		}
		cfg.EnrollRate, cfg.EnrollBurst = rate.Limit(*enrollRate), *enrollBurst
		cfg.EnrollGlobalRate, cfg.EnrollGlobalBurst = rate.Limit(*enrollGlobalRate), *enrollGlobalBurst
		cfg.RenewRate, cfg.RenewBurst = rate.Every(*renewEvery), *renewBurst
		cfg.QueryRate, cfg.QueryBurst = rate.Limit(*queryRate), *queryBurst
		cfg.AwayAfter = *awayAfter
		return nil
	}
}

// interval is the time between two events at rate l (the inverse of
// rate.Every), rounded to the nanosecond so that rate.Every gives l back.
func interval(l rate.Limit) time.Duration {
	return time.Duration(math.Round(float64(time.Second) / float64(l)))
}
