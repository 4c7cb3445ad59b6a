package peer

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/taonet/taonet/ledger/receipt"
	taonetv1 "github.com/taonet/taonet/proto/taonet/v1"
)

// ReceiptsFile is where a peer keeps the receipts of settled rounds, one
// JSON object a line, in its home.
const ReceiptsFile = "receipts.jsonl"

// Receipt is a kept receipt (ledger/receipt.Kept).
type Receipt = receipt.Kept

// ReadReceipts reads a receipts file (ledger/receipt.ReadFile).
func ReadReceipts(path string) ([]Receipt, error) { return receipt.ReadFile(path) }

// receipts verifies each settled round's RoundClosed against the network's
// CA and appends it to ReceiptsFile. A receipt that does not verify, or
// whose previous hash contradicts the receipt kept for the round before,
// is logged as an error and not kept.
type receipts struct {
	path string
	ca   *x509.Certificate

	mu   sync.Mutex
	last *Receipt // the newest receipt kept
}

func newReceipts(home string, ca *x509.Certificate) (*receipts, error) {
	r := &receipts{path: filepath.Join(home, ReceiptsFile), ca: ca}
	if err := dropTornLine(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	list, err := ReadReceipts(r.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(list) > 0 {
		r.last = &list[len(list)-1]
	}
	return r, nil
}

// keep verifies ev and appends its receipt.
func (r *receipts) keep(ev *taonetv1.RoundClosed) error {
	if ev.GetState() != taonetv1.RoundState_ROUND_STATE_SETTLED {
		return nil
	}
	if err := receipt.VerifyRoundClosed(r.ca, ev); err != nil {
		return err
	}
	rec := Receipt{Round: ev.GetRound(), Hash: hex.EncodeToString(ev.GetHash()), PreviousHash: hex.EncodeToString(ev.GetPreviousHash()),
		Signature: hex.EncodeToString(ev.GetSignature()), EmissionRao: ev.GetEmissionRao()}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.last != nil && rec.Round <= r.last.Round:
		if rec.Round == r.last.Round && rec.Hash != r.last.Hash {
			return fmt.Errorf("round %d: the coordinator now signs hash %s, this peer kept %s", rec.Round, rec.Hash, r.last.Hash)
		}
		return nil // seen already (a Watch stream replays the round)
	case r.last != nil && rec.Round == r.last.Round+1 && rec.PreviousHash != r.last.Hash:
		return fmt.Errorf("round %d chains onto %s, but this peer kept round %d with hash %s", rec.Round, rec.PreviousHash, r.last.Round, r.last.Hash)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	r.last = &rec
	return nil
}

// dropTornLine truncates path after its last complete line, so that the
// next append does not glue onto a line a crash cut short.
func dropTornLine(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if cut := bytes.LastIndexByte(data, '\n'); cut+1 < len(data) {
		return os.Truncate(path, int64(cut+1))
	}
	return nil
}
