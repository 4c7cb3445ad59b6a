package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// peerSpec is one peer as scripts/demo.sh started it.
type peerSpec struct {
	Name  string
	Model string // mlp or cnn
	Shard string // i/n
	Alpha float64
	Seed  uint64
	Home  string
}

// Checkpoints the script copies into each peer's home: the model the peer
// joined with (after its warm-up) and the model after the last round.
const (
	localCheckpoint = "demo-local-only.pt"
	finalCheckpoint = "demo-after-last-round.pt"
)

// readPeers reads the peers file: one peer a line, "name model shard alpha
// seed home"; blank lines and lines starting with # are skipped.
func readPeers(path string) ([]peerSpec, error) {
	if path == "" {
		return nil, fmt.Errorf("-peers: want the peers file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read peers: %w", err)
	}
	defer func() { _ = f.Close() }()
	var peers []peerSpec
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := parsePeer(line)
		if err != nil {
			return nil, fmt.Errorf("read peers: %s line %d: %w", path, n, err)
		}
		peers = append(peers, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read peers: %w", err)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("read peers: %s names no peer", path)
	}
	return peers, nil
}

func parsePeer(line string) (peerSpec, error) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return peerSpec{}, fmt.Errorf("%d fields, want 6 (name model shard alpha seed home)", len(f))
	}
	alpha, err := strconv.ParseFloat(f[3], 64)
	if err != nil {
		return peerSpec{}, fmt.Errorf("alpha %q: %w", f[3], err)
	}
	seed, err := strconv.ParseUint(f[4], 10, 64)
	if err != nil {
		return peerSpec{}, fmt.Errorf("seed %q: %w", f[4], err)
	}
	return peerSpec{Name: f[0], Model: f[1], Shard: f[2], Alpha: alpha, Seed: seed, Home: f[5]}, nil
}

// byName indexes peers by the name in their identity.
func byName(peers []peerSpec) map[string]peerSpec {
	m := make(map[string]peerSpec, len(peers))
	for _, p := range peers {
		m[p.Name] = p
	}
	return m
}
