package runstate

import (
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"time"

	"github.com/taonet/taonet/certs"
)

// Process is what a status command shows of the process of a home, from
// its state file.
type Process struct {
	// Running is true while the process that wrote the state file runs
	// (see Running); the other fields are as it last wrote them.
	Running bool      `json:"running"`
	PID     int       `json:"pid,omitempty"`
	Ready   bool      `json:"ready"`
	Listen  string    `json:"listen,omitempty"`
	HTTP    string    `json:"http,omitempty"`
	Started time.Time `json:"started,omitzero"`
	Updated time.Time `json:"updated,omitzero"`
	Stopped time.Time `json:"stopped,omitzero"`
	// Note says what could not be read ("never started in this home", a
	// damaged file); empty when the state file was read.
	Note string `json:"note,omitempty"`
}

// ReadProcess reads home's state file into a Process and returns the
// state too (zero when it could not be read, which Process.Note explains).
func ReadProcess(home string) (Process, State) {
	st, err := Read(home)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Process{Note: "no state file: no process has run in this home since status files exist"}, State{}
	case err != nil:
		return Process{Note: err.Error()}, State{}
	}
	running := Running(home, st)
	return Process{Running: running, PID: st.PID, Ready: running && st.Ready, Listen: st.Listen, HTTP: st.HTTP,
		Started: st.Started, Updated: st.Updated, Stopped: st.Stopped}, st
}

// Certificate is what a status command shows of a node's certificate.
type Certificate struct {
	Identity string    `json:"identity"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	// RenewAt is when the running process renews it (two thirds of its
	// life).
	RenewAt time.Time `json:"renew_at"`
	Expired bool      `json:"expired"`
}

// ReadCertificate reads the PEM certificate at path.
func ReadCertificate(path string, now time.Time) (Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Certificate{}, fmt.Errorf("read certificate: %w", err)
	}
	cert, err := certs.ParseCert(data)
	if err != nil {
		return Certificate{}, fmt.Errorf("read certificate %s: %w", path, err)
	}
	id, err := certs.IDFromCertificate(cert)
	if err != nil {
		return Certificate{}, fmt.Errorf("read certificate %s: %w", path, err)
	}
	return Certificate{Identity: id.String(), Serial: serial(cert.SerialNumber), NotAfter: cert.NotAfter,
		RenewAt: certs.RenewAt(cert), Expired: now.After(cert.NotAfter)}, nil
}

func serial(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}
