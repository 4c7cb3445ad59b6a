-- 0001: the network, its directory of identities, join tokens, issued
-- certificates and revocations. Times are Unix milliseconds (UTC).

-- network holds the one row of network-wide settings fixed at init.
CREATE TABLE network (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    trust_domain TEXT    NOT NULL CHECK (trust_domain <> ''),
    task         TEXT    NOT NULL CHECK (task <> ''),
    created_at   INTEGER NOT NULL
);

-- directory has one row per enrolled identity (peer, client or the
-- coordinator itself). A peer is in the live directory while state is
-- 'active'.
CREATE TABLE directory (
    identity    TEXT    PRIMARY KEY,                    -- spiffe://<td>/<role>/<name>
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('peer', 'client', 'coordinator')),
    state       TEXT    NOT NULL CHECK (state IN ('enrolled', 'active', 'left', 'revoked')),
    address     TEXT    NOT NULL DEFAULT '',            -- advertised HOST:PORT
    card        BLOB,                                   -- protobuf taonet.v1.ModelCard
    enrolled_at INTEGER NOT NULL,
    joined_at   INTEGER,
    updated_at  INTEGER NOT NULL,
    UNIQUE (role, name)
);

-- join_tokens stores only a hash of each token. A token is redeemed at most
-- once (redeemed_at set in the same transaction that enrolls the name).
CREATE TABLE join_tokens (
    hash         BLOB    PRIMARY KEY,                   -- SHA-256 of the token
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('peer', 'client')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    redeemed_at  INTEGER,
    cancelled_at INTEGER
);
CREATE INDEX join_tokens_name ON join_tokens (name);

-- certificates records every leaf certificate issued.
CREATE TABLE certificates (
    serial     TEXT    PRIMARY KEY,                     -- hex
    identity   TEXT    NOT NULL REFERENCES directory (identity),
    not_before INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    issued_at  INTEGER NOT NULL
);
CREATE INDEX certificates_identity ON certificates (identity);

-- revocations revokes every certificate of an identity, past and future.
CREATE TABLE revocations (
    identity   TEXT    PRIMARY KEY,
    revoked_at INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT ''
);
