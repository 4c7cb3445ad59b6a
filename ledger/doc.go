// Package ledger owns the coordinator's one SQLite database and every table
// in it: the peer directory, join tokens, revocations and (from later
// migrations) accounts, rounds, evaluations, payouts and supply.
//
// The database is opened in WAL mode with foreign keys on, a busy timeout
// and full synchronous writes; Open checks that each pragma really took
// effect. The schema is a numbered list of SQL migrations embedded in the
// binary (migrations/NNNN_name.sql). Each migration runs in its own
// transaction and is recorded in schema_migrations, so a failed migration
// leaves the database exactly as it was, and a database written by a newer
// binary is refused rather than misread.
//
// Settled rounds form a chain (package roundchain): Settle hashes each
// round's record with the previous settled round's hash and signs it with
// the key given to SignRoundsWith, in the transaction that pays the round.
// Verify checks the books, recomputes the chain against the network's CA
// and checks the directory.
package ledger
