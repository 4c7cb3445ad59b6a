-- 0003: an evaluation may be judged 'duplicate': an answer near-identical to
-- an earlier responder's, which DESIGN.md "A round" (step 4) does not pay.
--
-- SQLite cannot change a CHECK constraint in place, so evaluations is
-- rebuilt as https://www.sqlite.org/lang_altertable.html ("Making Other
-- Kinds Of Table Schema Changes") describes: create the new table, copy the
-- rows, drop the old table, rename the new one. The procedure's steps on
-- foreign keys are not needed here. Migrate runs this file inside a
-- transaction with foreign keys on (PRAGMA foreign_keys cannot change in a
-- transaction), which is safe because no table references evaluations:
-- dropping it deletes no parent row, and each copied row's references to
-- rounds and directory are checked as it is inserted. evaluations has no
-- index, trigger or view of its own to recreate; UNIQUE (round, identity)
-- is rebuilt with the table.
CREATE TABLE evaluations_new (
    round    INTEGER NOT NULL REFERENCES rounds (number),
    identity TEXT    NOT NULL REFERENCES directory (identity),
    loss     REAL    NOT NULL,
    accuracy REAL    NOT NULL,
    weight   REAL    NOT NULL,
    shares   INTEGER NOT NULL CHECK (shares >= 0),
    status   TEXT    NOT NULL CHECK (status IN ('scored', 'timeout', 'invalid', 'duplicate')),
    payout   INTEGER NOT NULL CHECK (payout >= 0),
    UNIQUE (round, identity)
);
INSERT INTO evaluations_new (round, identity, loss, accuracy, weight, shares, status, payout)
    SELECT round, identity, loss, accuracy, weight, shares, status, payout FROM evaluations;
DROP TABLE evaluations;
ALTER TABLE evaluations_new RENAME TO evaluations;
