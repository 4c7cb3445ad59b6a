package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/taonet/taonet/internal/logformat"
	"github.com/taonet/taonet/peer"
)

// newJoinCmd is the join command; home and logFormat are the root's --home
// and --log-format.
func newJoinCmd(home, logFormat *string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Enroll with a coordinator (first time) and take part in the network",
		Long: `join enrolls with the coordinator the first time (--token and --ca-pin from
'coordinator token create'), storing key.pem (0600), cert.pem and ca.pem in
--home; later runs reuse the stored certificate. It then joins the directory
over mutual TLS, serves the Peer service on --listen and takes part in rounds
until interrupted (SIGINT or SIGTERM: it leaves the directory cleanly).

The peer owns its libtorch model (--model, --device, --threads): restored
from its checkpoint in --home when there is one, else fresh. It trains on its
shard of the private pool (--shard i/n of a Dirichlet(--alpha) split drawn
from --seed, the whole private pool without --shard) and serves Forward and
Backward to the coordinator and to the peers of the directory. Without a
checkpoint it first trains --warmup-epochs epochs on its shard (serving, but
joining only when done).

In each round it distills from every other peer of the round: it sends them
the round's transfer sample with --hidden-checks of its own labelled
examples mixed in, drops a teacher no better than uniform guessing on
those, trains up to --local-steps steps of batches of --batch on
(1 - --kd-mix) * CE(private) + --kd-mix * T^2 * KL(teachers || model) at
T = --kd-temperature, sends each teacher its gradient (mutual learning) and
saves its checkpoint.

Callers are bounded per identity (--call-rate, --call-burst), per stream
(--max-batch, --max-tensor-bytes, --stream-batches, --in-flight), per
connection (--max-streams, --max-message-bytes, --idle-timeout) and in
connections (--max-conns, --max-conns-per-host, --handshake-timeout).

--http ADDR serves /metrics (Prometheus), /healthz and /readyz on ADDR, a
loopback address such as 127.0.0.1:9091 unless --http-public is given.
/readyz and gRPC health say SERVING once the model is loaded (restored from
its checkpoint, or warmed up). Logs go to stderr as text, or as JSON with
--log-format json; every line carries the peer's identity ("peer").

Environment: TAONET_HOME, TAONET_COORDINATOR, TAONET_TOKEN, TAONET_CA_PIN,
TAONET_LISTEN, TAONET_ADVERTISE, TAONET_MODEL, TAONET_DEVICE, TAONET_DATA,
TAONET_HTTP, TAONET_LOG_FORMAT.`,
		Example: `  peer join --coordinator 127.0.0.1:7443 --token T --ca-pin sha256:abcd... --home ./alice
  peer join --coordinator 127.0.0.1:7443 --home ./alice --model cnn --shard 0/3 --alpha 0.1 --seed 7`,
		Args: cobra.NoArgs,
	}
	def := peer.DefaultConfig()
	coord := cmd.Flags().String("coordinator", envDefault("TAONET_COORDINATOR", ""), "coordinator HOST:PORT")
	token := cmd.Flags().String("token", envDefault("TAONET_TOKEN", ""), "join token (first run only)")
	pin := cmd.Flags().String("ca-pin", envDefault("TAONET_CA_PIN", ""), "sha256: pin of the network's CA (first run only)")
	listen := cmd.Flags().String("listen", envDefault("TAONET_LISTEN", def.Listen), "address to serve the Peer service on")
	advertise := cmd.Flags().String("advertise", envDefault("TAONET_ADVERTISE", ""), "HOST:PORT other peers dial (default: the listen address)")
	f := cmd.Flags()
	model := f.String("model", envDefault("TAONET_MODEL", def.Model), "model architecture: mlp or cnn")
	device := f.String("device", envDefault("TAONET_DEVICE", def.Device), "auto, cpu or cuda[:N]")
	threads := f.Int("threads", def.Threads, "CPU threads for libtorch")
	data := f.String("data", dataDefault(), "folder of the Fashion-MNIST IDX files (train-*, t10k-*)")
	shard := f.String("shard", "", "this peer's shard i/n of the private pool (default: all of it)")
	alpha := f.Float64("alpha", def.Alpha, "Dirichlet label-skew concentration for --shard")
	seed := f.Int64("seed", int64(def.Seed), "seed of the shard split and of the model's initial weights")
	grads := f.Bool("accept-gradients", def.Gradients.Accept, "apply other peers' gradients sent through Backward")
	gradClip := f.Float64("gradient-clip", def.Gradients.Clip, "largest L2 norm an incoming gradient keeps (per batch; a whole stream keeps clip*scale)")
	gradScale := f.Float64("gradient-scale", def.Gradients.Scale, "factor on incoming gradients after clipping, in (0, 1]")
	localSteps := f.Int("local-steps", def.LocalSteps, "most training steps per round")
	batch := f.Int("batch", def.Batch, "private and transfer rows per training step (rounds and warmup)")
	kdMix := f.Float64("kd-mix", def.KDMix, "share of the distillation term in a round's loss, in [0, 1] (0: no teachers)")
	kdTemp := f.Float64("kd-temperature", def.KDTemperature, "distillation temperature")
	hidden := f.Int("hidden-checks", def.HiddenChecks, "own labelled examples mixed among the transfer inputs to check teachers (0: none)")
	warmup := f.Int("warmup-epochs", def.WarmupEpochs, "epochs on the own shard before joining when there is no checkpoint (0: none)")
	httpAddr := f.String("http", envDefault("TAONET_HTTP", ""), "serve /metrics, /healthz and /readyz on this HOST:PORT, e.g. 127.0.0.1:9091 (default: off)")
	httpPublic := f.Bool("http-public", false, "allow --http on an address other than loopback (metrics name the peer's callers and teachers)")
	limits := limitFlags(cmd, def.Limits)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg := def
		if *seed < 0 {
			return fmt.Errorf("--seed %d: want a non-negative seed", *seed)
		}
		var err error
		if cfg.Limits, err = limits(); err != nil {
			return err
		}
		cfg.Coordinator, cfg.Token, cfg.CAPin, cfg.Home = *coord, *token, *pin, *home
		cfg.Listen, cfg.Advertise, cfg.Model = *listen, *advertise, *model
		cfg.Device, cfg.Threads, cfg.Data, cfg.Shard, cfg.Alpha, cfg.Seed = *device, *threads, *data, *shard, *alpha, uint64(*seed)
		cfg.Gradients = peer.Gradients{Accept: *grads, Clip: *gradClip, Scale: *gradScale}
		cfg.LocalSteps, cfg.Batch, cfg.KDMix, cfg.KDTemperature = *localSteps, *batch, *kdMix, *kdTemp
		cfg.HiddenChecks, cfg.WarmupEpochs = *hidden, *warmup
		cfg.HTTP, cfg.HTTPPublic = *httpAddr, *httpPublic
		if cfg.Logger, err = logformat.New(cmd.ErrOrStderr(), *logFormat); err != nil {
			return err
		}
		p, err := peer.New(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "peer %s serving on %s\n", p.ID(), p.Addr())
		if h := p.HTTP(); h != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "peer http on http://%s (/metrics, /healthz, /readyz)\n", h.Addr())
		}
		return p.Run(cmd.Context())
	}
	return cmd
}
