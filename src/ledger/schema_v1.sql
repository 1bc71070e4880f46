-- disburse ledger, schema version 1.
-- Amounts are INTEGER fen. The rule "one payment per person, program and period"
-- is the partial unique index below, not only a check in code.

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    period           TEXT NOT NULL,
    batch            TEXT NOT NULL,                 -- R001, R002 (runs) / C001 (corrections)
    kind             TEXT NOT NULL CHECK (kind IN ('run', 'correction')),
    state            TEXT NOT NULL CHECK (state IN ('staged', 'published')),
    staging_dir      TEXT NOT NULL,                 -- where the files wait until published
    manifest_sha256  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (period, batch)
);

CREATE TABLE bank_files (
    name        TEXT PRIMARY KEY,                   -- file name under <period>/bank/
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    program     TEXT NOT NULL,
    period      TEXT NOT NULL,
    format      TEXT NOT NULL,
    lines       INTEGER NOT NULL,
    total_fen   INTEGER NOT NULL,
    sha256      TEXT NOT NULL
);

CREATE TABLE payments (
    end_to_end_id  TEXT PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    program        TEXT NOT NULL,
    period         TEXT NOT NULL,
    id_number      TEXT NOT NULL,
    name           TEXT NOT NULL,
    township       TEXT NOT NULL,
    village        TEXT NOT NULL,
    payee_name     TEXT NOT NULL,
    account        TEXT NOT NULL,
    bank           TEXT NOT NULL,
    amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
    bank_file      TEXT NOT NULL REFERENCES bank_files(name),
    status         TEXT NOT NULL DEFAULT 'sent'
                   CHECK (status IN ('sent', 'pending', 'settled', 'failed', 'returned')),
    reason_code    TEXT NOT NULL DEFAULT '',
    reason_text    TEXT NOT NULL DEFAULT '',
    original_id    TEXT REFERENCES payments(end_to_end_id),  -- a correction's first original
    retry          INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL
);

-- Never pay anyone twice: one original line per person, program and period ...
CREATE UNIQUE INDEX one_payment_per_person
    ON payments (program, period, id_number) WHERE original_id IS NULL;
-- ... and one correction per original and retry.
CREATE UNIQUE INDEX one_correction_per_retry
    ON payments (original_id, retry) WHERE original_id IS NOT NULL;
CREATE INDEX payments_by_period ON payments (period, program);
CREATE INDEX payments_by_file ON payments (bank_file);

CREATE TABLE receipts (
    sha256      TEXT PRIMARY KEY,                   -- the receipt file's bytes: reading it twice changes nothing
    file_name   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    applied     INTEGER NOT NULL,
    flagged     INTEGER NOT NULL,
    applied_at  TEXT NOT NULL
);
