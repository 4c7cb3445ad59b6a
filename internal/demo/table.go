package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/taonet/taonet/distill"
	"github.com/taonet/taonet/distill/torch"
)

// report is the demo's ending: the table of peers, the supply and the
// commands to explore the ledger.
type report struct {
	peers   []peerSpec
	summary *summary
	data    string // Fashion-MNIST folder
	home    string // the coordinator's home
	client  string // the client identity folder
	grpcurl string
}

// peerRow is one line of the table.
type peerRow struct {
	peer         peerSpec
	examples     int
	local, final torch.Eval
	rao          uint64
}

// print evaluates every peer's two checkpoints on the report pool and
// writes the table, the supply and the grpcurl commands.
func (r report) print(ctx context.Context, w io.Writer) error {
	pools, err := loadPools(r.data)
	if err != nil {
		return err
	}
	if err := torch.Open(); err != nil {
		return err
	}
	if err := torch.SetNumThreads(1); err != nil {
		return err
	}
	sizes, err := shardSizes(pools, r.peers)
	if err != nil {
		return err
	}
	rows := make([]peerRow, len(r.peers))
	for i, p := range r.peers {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := peerRow{peer: p, examples: sizes[i], rao: r.summary.Peers[p.Name].BalanceRao}
		if row.local, err = evaluate(p.Model, filepath.Join(p.Home, localCheckpoint), pools); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		if row.final, err = evaluate(p.Model, filepath.Join(p.Home, finalCheckpoint), pools); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		rows[i] = row
	}
	last := r.lastSettled()
	r.table(w, rows, last, len(pools.Report))
	r.supply(w)
	r.explore(w, last)
	return nil
}

// loadPools reads Fashion-MNIST and splits it into the network's pools.
func loadPools(dir string) (*distill.Pools, error) {
	train, test, err := distill.LoadFashionMNIST(dir)
	if err != nil {
		return nil, err
	}
	return distill.SplitPools(train, test)
}

// shardSizes is each peer's number of private examples, from the same
// Dirichlet split the peer draws.
func shardSizes(p *distill.Pools, peers []peerSpec) ([]int, error) {
	sizes := make([]int, len(peers))
	for i, s := range peers {
		k, n, err := distill.ParseShard(s.Shard)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		shards, err := distill.Partition(p.Private, p.Train.Labels, p.Train.Classes, n, s.Alpha, s.Seed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		sizes[i] = len(shards[k])
	}
	return sizes, nil
}

// evaluate loads the checkpoint at path into a fresh arch model and
// measures it on the report pool.
func evaluate(arch, path string, p *distill.Pools) (torch.Eval, error) {
	m, err := torch.NewModel(arch, torch.CPU)
	if err != nil {
		return torch.Eval{}, err
	}
	defer m.Close()
	if err := m.Load(path); err != nil {
		return torch.Eval{}, err
	}
	return torch.Evaluate(m, p.Test, p.Report, 250)
}

// lastSettled is the number of the last settled round (0: none).
func (r report) lastSettled() uint64 {
	var n uint64
	for _, rd := range r.summary.Rounds {
		if rd.State == "settled" {
			n = rd.Number
		}
	}
	return n
}

// table writes the caption and the table of peers.
func (r report) table(w io.Writer, rows []peerRow, last uint64, reportSize int) {
	after := fmt.Sprintf("after round %d", last)
	fmt.Fprintf(w, "Accuracy of each peer's model on the report pool: the %s test images (the second half of\n", thousands(uint64(reportSize)))
	fmt.Fprintln(w, "Fashion-MNIST's test split) that no peer trains on and the coordinator never scores on.")
	fmt.Fprintln(w, "  local only     the checkpoint the peer joined with, saved before round 1: its warm-up, one")
	fmt.Fprintln(w, "                 epoch on its own shard alone")
	fmt.Fprintf(w, "  %-14s its checkpoint after round %d's distillation: the model the coordinator scored\n", after, last)
	fmt.Fprintln(w, "  TAO earned     the peer's balance in the ledger")
	fmt.Fprintln(w, "In each round a peer also trains on its own shard (half of every step's loss), so not all of")
	fmt.Fprintln(w, "the gain is distillation.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-10s %-5s %-5s %8s %11s %14s %14s\n", "peer", "model", "shard", "examples", "local only", after, "TAO earned")
	fmt.Fprintln(w, strings.Repeat("-", 73))
	var local, final float64
	var total uint64
	for _, x := range rows {
		fmt.Fprintf(w, "%-10s %-5s %-5s %8s %10.1f%% %13.1f%% %14s\n", x.peer.Name, x.peer.Model, x.peer.Shard,
			thousands(uint64(x.examples)), 100*x.local.Accuracy, 100*x.final.Accuracy, tao(x.rao))
		local += x.local.Accuracy
		final += x.final.Accuracy
		total += x.rao
	}
	fmt.Fprintln(w, strings.Repeat("-", 73))
	n := float64(len(rows))
	fmt.Fprintf(w, "%-10s %-5s %-5s %8s %10.1f%% %13.1f%% %14s\n", "mean/total", "", "", "", 100*local/n, 100*final/n, tao(total))
	fmt.Fprintln(w)
}

// supply writes the ledger's supply.
func (r report) supply(w io.Writer) {
	s := r.summary.Supply
	settled := 0
	for _, rd := range r.summary.Rounds {
		if rd.State == "settled" {
			settled++
		}
	}
	fmt.Fprintf(w, "Supply: %s TAO minted by %d settled rounds, of a cap of %s TAO; the next round pays %s TAO,\n",
		trimTAO(s.MintedRao), settled, thousands(s.CapRao/1e9), trimTAO(s.EmissionRao))
	fmt.Fprintf(w, "and the emission halves once %s TAO are minted.\n\n", thousands(s.NextHalvingAtRao/1e9))
}

// explore writes the commands that read the ledger the demo left behind.
func (r report) explore(w io.Writer, last uint64) {
	account := ""
	if len(r.peers) > 0 {
		account = r.summary.Peers[r.peers[0].Name].Identity
	}
	fmt.Fprintf(w, "The ledger stays in %s. To read it with grpcurl, serve it without rounds:\n", r.home)
	fmt.Fprintf(w, "  bin/coordinator serve --home %s --listen 127.0.0.1:7443 --round-every 0 > %s 2>&1 &\n",
		r.home, filepath.Join(filepath.Dir(r.home), "explore.log"))
	fmt.Fprintf(w, "  G=\"%s -cacert %s -cert %s -key %s\"\n", r.grpcurl,
		filepath.Join(r.client, "ca.pem"), filepath.Join(r.client, "cert.pem"), filepath.Join(r.client, "key.pem"))
	fmt.Fprintln(w, "  $G -d '{}' 127.0.0.1:7443 taonet.v1.Ledger/GetSupply")
	fmt.Fprintln(w, "  $G -d '{\"page_size\": 20}' 127.0.0.1:7443 taonet.v1.Ledger/ListAccounts")
	if account != "" {
		fmt.Fprintf(w, "  $G -d '{\"account\": \"%s\"}' 127.0.0.1:7443 taonet.v1.Ledger/ListPayouts\n", account)
	}
	fmt.Fprintf(w, "  $G -d '{\"number\": %d}' 127.0.0.1:7443 taonet.v1.Coordinator/GetRound\n", last)
	fmt.Fprintln(w, "  $G -d '{\"page_size\": 5}' 127.0.0.1:7443 taonet.v1.Coordinator/ListRounds")
	fmt.Fprintln(w, "  kill %1")
	fmt.Fprintf(w, "Offline: bin/coordinator ledger verify --home %s\n", r.home)
	fmt.Fprintf(w, "         bin/coordinator ledger export --home %s --format csv\n", r.home)
}

// trimTAO writes rao as TAO without trailing zeros: 5, 0.25.
func trimTAO(rao uint64) string {
	s := strings.TrimRight(tao(rao), "0")
	return strings.TrimSuffix(s, ".")
}
