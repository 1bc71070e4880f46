-- disburse shared ledger, schema version 2: who checked that a person the bank
-- reported deceased, or who is on the stop list, is alive and entitled, before
-- `reissue` paid them again (SPEC §8; the SQLite ledger's schema_v7.sql).
-- One row per correction line, keyed as the line is (its chain's first original
-- and its retry), written in the correction batch's own transaction.
CREATE TABLE verifications (
    office       TEXT COLLATE "C" NOT NULL,
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    original_id  TEXT COLLATE "C" NOT NULL REFERENCES payments (end_to_end_id),
    retry        INTEGER NOT NULL,
    verified_by  TEXT NOT NULL CHECK (verified_by <> ''),
    reason       TEXT NOT NULL,
    PRIMARY KEY (original_id, retry)
);
