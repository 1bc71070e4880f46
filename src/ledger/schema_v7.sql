-- disburse ledger, schema version 7: who checked that a person the bank reported
-- deceased, or who is on the stop list, is alive and entitled, before `reissue`
-- paid them again (SPEC §8). Without such a name a correction for them is held.
--
-- One row per correction line, keyed as the line is (its chain's first original
-- and its retry: `one_correction_per_retry`), written in the correction batch's
-- own transaction, so a name is kept exactly when its line is.
CREATE TABLE verifications (
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    original_id  TEXT NOT NULL REFERENCES payments(end_to_end_id),
    retry        INTEGER NOT NULL,
    verified_by  TEXT NOT NULL CHECK (verified_by <> ''),
    reason       TEXT NOT NULL,                 -- what was checked: the death report, the stop list
    PRIMARY KEY (original_id, retry)
);
