package ledger

import (
	"context"
	"fmt"
)

// Supply describes the token supply and the emission schedule.
type Supply struct {
	// Minted is all TAO issued so far, in rao.
	Minted uint64
	// Cap is the supply cap in rao.
	Cap uint64
	// InitialEmission is E0, the emission of the first era, in rao.
	InitialEmission uint64
	// Emission is what the next round with any shares will mint.
	Emission uint64
	// NextHalvingAt is the minted supply at which the emission halves next.
	NextHalvingAt uint64
}

// GetSupply returns the current supply and schedule.
func (db *DB) GetSupply(ctx context.Context) (Supply, error) {
	var minted, e0 int64
	if err := db.db.QueryRowContext(ctx, `SELECT minted, initial_emission FROM supply WHERE id = 1`).Scan(&minted, &e0); err != nil {
		return Supply{}, fmt.Errorf("get supply: %w", err)
	}
	m := uint64(minted)
	return Supply{
		Minted:          m,
		Cap:             Cap,
		InitialEmission: uint64(e0),
		Emission:        Emission(Cap, uint64(e0), m),
		NextHalvingAt:   NextHalvingAt(Cap, m),
	}, nil
}

// SetInitialEmission sets E0, the emission of the first era, in rao (the
// coordinator's --emission). The schedule must stay the same for the whole
// life of a network, so it can only change before anything is minted.
// Errors: EINVALID for 0 or more than the cap; ECONFLICT once minted.
func (db *DB) SetInitialEmission(ctx context.Context, rao uint64) error {
	if rao == 0 || rao > Cap {
		return ledgerErrorf(EINVALID, "initial emission %s TAO must be above 0 and at most the cap of %s TAO", FormatTAO(rao), FormatTAO(Cap))
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set initial emission: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var minted, e0 int64
	if err := tx.QueryRowContext(ctx, `SELECT minted, initial_emission FROM supply WHERE id = 1`).Scan(&minted, &e0); err != nil {
		return fmt.Errorf("set initial emission: %w", err)
	}
	if uint64(e0) == rao {
		return nil
	}
	if minted != 0 {
		return ledgerErrorf(ECONFLICT, "initial emission is %s TAO and %s TAO is already minted; it cannot change now",
			FormatTAO(uint64(e0)), FormatTAO(uint64(minted)))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE supply SET initial_emission = ? WHERE id = 1`, int64(rao)); err != nil {
		return fmt.Errorf("set initial emission: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set initial emission: commit: %w", err)
	}
	return nil
}
