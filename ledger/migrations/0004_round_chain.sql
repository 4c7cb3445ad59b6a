-- 0004: the chain of settled rounds (ledger/roundchain). Settle stores, in
-- the transaction that pays a round, the chain hash of the round before it
-- (previous_hash), the round's own chain hash, the coordinator's signature
-- of that hash and the serial of the certificate that signed it.
--
-- Rounds settled before this migration keep NULL in all four columns: the
-- coordinator's key is not at hand here, and signing old rows later, on
-- demand, would let anyone who can clear these columns have a rewritten
-- history signed. Their hashes are still defined (the chain starts at the
-- first settled round), so the first round settled after this migration
-- commits to every one of them through its previous_hash; ledger verify
-- recomputes them.

-- round_signers holds each coordinator certificate (DER) that signed a
-- round, once: the certificate is renewed every few days, and a round's
-- signature is checked against the certificate it was made under.
CREATE TABLE round_signers (
    serial      TEXT PRIMARY KEY,                 -- hex, as in certificates
    certificate BLOB NOT NULL
);

ALTER TABLE rounds ADD COLUMN previous_hash BLOB CHECK (previous_hash IS NULL OR length(previous_hash) = 32);
ALTER TABLE rounds ADD COLUMN hash BLOB CHECK (hash IS NULL OR length(hash) = 32);
ALTER TABLE rounds ADD COLUMN signature BLOB;
-- The four columns are set together, and only on a settled round.
ALTER TABLE rounds ADD COLUMN signer TEXT REFERENCES round_signers (serial)
    CHECK ((signer IS NULL) = (hash IS NULL)
       AND (signer IS NULL) = (previous_hash IS NULL)
       AND (signer IS NULL) = (signature IS NULL)
       AND (signer IS NULL OR state = 'settled'));
