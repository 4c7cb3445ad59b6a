-- 0002: TAO accounting: supply, accounts, rounds, evaluations and payouts.
-- Amounts are integers in rao (1 TAO = 10^9 rao); nothing here is a float
-- except the scores an evaluation records. Times are Unix milliseconds (UTC).
-- A round is settled in one transaction that writes its evaluations, its
-- payouts, the balances and the supply together.

-- supply has one row: what has been minted so far and the emission of the
-- first era (E0), which can only change before anything is minted.
CREATE TABLE supply (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    minted           INTEGER NOT NULL CHECK (minted >= 0),
    initial_emission INTEGER NOT NULL CHECK (initial_emission >= 0)
);
INSERT INTO supply (id, minted, initial_emission) VALUES (1, 0, 1000000000);

-- accounts has one row per identity that was ever paid.
CREATE TABLE accounts (
    identity   TEXT    PRIMARY KEY REFERENCES directory (identity),
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    updated_at INTEGER NOT NULL
);
CREATE INDEX accounts_balance ON accounts (balance DESC, identity);

-- rounds records every round the coordinator opened. A round is open until
-- it is settled (paid) or aborted (never paid, e.g. after a crash).
CREATE TABLE rounds (
    number        INTEGER PRIMARY KEY CHECK (number > 0),
    seed          INTEGER NOT NULL,                  -- uint64, stored bit for bit
    seed_hash     BLOB    NOT NULL CHECK (length(seed_hash) = 32),
    revealed_seed BLOB,                              -- set when settled
    state         TEXT    NOT NULL CHECK (state IN ('open', 'settled', 'aborted')),
    opened_at     INTEGER NOT NULL,
    closed_at     INTEGER,
    emission      INTEGER NOT NULL DEFAULT 0 CHECK (emission >= 0),
    CHECK ((state = 'open') = (closed_at IS NULL)),
    CHECK (state = 'settled' OR emission = 0)
);
-- At most one round is open at a time.
CREATE UNIQUE INDEX rounds_one_open ON rounds (state) WHERE state = 'open';

-- evaluations holds each peer's result in a settled round.
CREATE TABLE evaluations (
    round    INTEGER NOT NULL REFERENCES rounds (number),
    identity TEXT    NOT NULL REFERENCES directory (identity),
    loss     REAL    NOT NULL,
    accuracy REAL    NOT NULL,
    weight   REAL    NOT NULL,
    shares   INTEGER NOT NULL CHECK (shares >= 0),
    status   TEXT    NOT NULL CHECK (status IN ('scored', 'timeout', 'invalid')),
    payout   INTEGER NOT NULL CHECK (payout >= 0),
    UNIQUE (round, identity)
);

-- payouts holds what each account was paid in each round. The uniqueness of
-- (round, account) is a named index so that tests can drop it to prove
-- that verification catches a double payment on its own.
CREATE TABLE payouts (
    round   INTEGER NOT NULL REFERENCES rounds (number),
    account TEXT    NOT NULL REFERENCES accounts (identity),
    amount  INTEGER NOT NULL CHECK (amount >= 0)
);
CREATE UNIQUE INDEX payouts_round_account ON payouts (round, account);
CREATE INDEX payouts_account ON payouts (account, round);
