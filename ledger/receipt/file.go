package receipt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Kept is the part of a settled round that a peer keeps as its receipt:
// the round's place in the coordinator's signed hash chain. Peers append
// one JSON object a line to a receipts file (peer.ReceiptsFile);
// `coordinator ledger verify --receipts FILE` checks the ledger against
// them.
type Kept struct {
	Round        uint64 `json:"round"`
	Hash         string `json:"hash"`          // hex
	PreviousHash string `json:"previous_hash"` // hex
	Signature    string `json:"signature"`     // hex
	EmissionRao  uint64 `json:"emission_rao"`
}

// ReadFile reads a receipts file. A last line cut short by a crash is
// ignored; any other malformed line is an error.
func ReadFile(path string) ([]Kept, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1] // drop a torn last line
	var out []Kept
	for n, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var k Kept
		if err := json.Unmarshal(line, &k); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		out = append(out, k)
	}
	return out, nil
}
