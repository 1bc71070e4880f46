-- disburse shared ledger (PostgreSQL and derived engines), schema version 1.
--
-- Many offices write one database; every row carries its office's 行政区划代码.
-- Amounts are BIGINT fen, periods 'YYYY-MM' text, times RFC 3339 text: the same
-- values the SQLite ledger keeps, so both backends answer alike. Keys compare
-- bytewise (COLLATE "C"): references and ID numbers are ASCII, and a locale's
-- collation only slows every comparison of the unique indexes down.
--
-- Only SQL that openGauss and KingbaseES also accept: BIGSERIAL, CHECK, partial
-- unique indexes, no IDENTITY, no ON CONFLICT, no generated columns.

CREATE TABLE runs (
    id               BIGSERIAL PRIMARY KEY,
    office           TEXT COLLATE "C" NOT NULL,
    period           TEXT COLLATE "C" NOT NULL,
    batch            TEXT NOT NULL,                 -- R001 (runs) / C001 (corrections), per office and period
    kind             TEXT NOT NULL CHECK (kind IN ('run', 'correction')),
    state            TEXT NOT NULL CHECK (state IN ('staged', 'published')),
    staging_dir      TEXT NOT NULL,
    manifest_sha256  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    key_fingerprint  TEXT NOT NULL DEFAULT '',      -- SHA-256 of the signing key's SPKI DER
    UNIQUE (office, period, batch)
);
CREATE INDEX runs_by_period ON runs (period);

CREATE TABLE bank_files (
    office     TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,           -- never reused by the office
    run_id     BIGINT NOT NULL REFERENCES runs (id),
    program    TEXT NOT NULL,
    period     TEXT COLLATE "C" NOT NULL,
    format     TEXT NOT NULL,
    lines      BIGINT NOT NULL,
    total_fen  BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    PRIMARY KEY (office, name)
);

-- A payment row is written once, by its run (binary COPY), and never changes;
-- what receipts make of it lives in payment_status. No foreign keys here: a run
-- writes its lines and their run and files in one transaction, and a checked key
-- was a trigger call for each of a million rows.
CREATE TABLE payments (
    end_to_end_id  TEXT COLLATE "C" PRIMARY KEY,    -- carries the office code
    office         TEXT COLLATE "C" NOT NULL,
    run_id         BIGINT NOT NULL,
    program        TEXT COLLATE "C" NOT NULL,
    period         TEXT COLLATE "C" NOT NULL,
    line_type      TEXT COLLATE "C" NOT NULL DEFAULT 'basic',  -- SPEC §9 line types
    covers         TEXT COLLATE "C" NOT NULL DEFAULT '',       -- the month a back pay covers
    id_number      TEXT COLLATE "C" NOT NULL,
    name           TEXT NOT NULL,
    township       TEXT NOT NULL,
    village        TEXT NOT NULL,
    payee_name     TEXT NOT NULL,
    account        TEXT NOT NULL,
    bank           TEXT NOT NULL,
    amount_fen     BIGINT NOT NULL CHECK (amount_fen > 0),
    bank_file      TEXT COLLATE "C" NOT NULL,
    original_id    TEXT COLLATE "C",                -- a correction's first original
    retry          INTEGER NOT NULL DEFAULT 0
);
-- Never pay anyone twice, in the whole province: one original line per person,
-- program, period, line type and covered month, whichever office wrote it. The
-- ID number first: most comparisons end at the first column.
CREATE UNIQUE INDEX one_payment_per_person
    ON payments (id_number, program, period, line_type, covers) WHERE original_id IS NULL;
-- ... and one correction per original and retry.
CREATE UNIQUE INDEX one_correction_per_retry
    ON payments (original_id, retry) WHERE original_id IS NOT NULL;
-- A period's (or a bank file's) lines are found through their runs.
CREATE INDEX payments_by_run ON payments (run_id);

CREATE TABLE receipts (
    id          BIGSERIAL PRIMARY KEY,
    office      TEXT COLLATE "C" NOT NULL,
    sha256      TEXT COLLATE "C" NOT NULL,          -- the file's bytes: reading it twice changes nothing
    file_name   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    applied     BIGINT NOT NULL,
    flagged     BIGINT NOT NULL,
    applied_at  TEXT NOT NULL,
    UNIQUE (office, sha256)
);

CREATE TABLE payment_status (
    end_to_end_id  TEXT COLLATE "C" PRIMARY KEY,
    office         TEXT COLLATE "C" NOT NULL,
    period         TEXT COLLATE "C" NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('sent', 'pending', 'settled', 'failed', 'returned')),
    reason_code    TEXT NOT NULL DEFAULT '',
    reason_text    TEXT NOT NULL DEFAULT '',
    receipt_id     BIGINT REFERENCES receipts (id),
    updated_at     TEXT
);
-- People reported deceased (R03 holds them in every later run of the office).
CREATE INDEX status_deceased ON payment_status (office) WHERE reason_code = 'MD07';
