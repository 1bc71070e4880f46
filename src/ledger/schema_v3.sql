-- disburse ledger, schema version 3: what a receipt changes lives apart from the payment.
--
-- Why: a receipt of a million lines used to UPDATE a million wide payment rows, which
-- rewrote every page of the table (~350 MB through the WAL and again at the checkpoint)
-- and took most of `returns`. Now a payment row is written once, by its run, and never
-- changes; a receipt writes one narrow row per payment into `payment_status`
-- (a payment without one is 'sent', with no reason). The rows it writes are appended in
-- payment order: a tenth of the pages it used to write.
--
-- Run by `SqliteLedger::migrate` with foreign keys off (the table rebuild of SQLite's
-- "making other kinds of table schema changes": new table, copy, drop, rename), in the
-- same transaction as the earlier steps, and checked with `PRAGMA foreign_key_check`
-- before it commits.
--
-- Every foreign key is DEFERRABLE INITIALLY DEFERRED: it is still checked, at COMMIT
-- (a run always was: its lines name bank files recorded at its end). An immediate key
-- makes SQLite keep a statement journal for every multi-row INSERT (sqlite3FkCheck calls
-- sqlite3MayAbort for a non-deferred key), and that journal was ~5% of a run's ledger time.

-- Receipts get an integer key the status rows can name (a rowid that is not an
-- INTEGER PRIMARY KEY may change on VACUUM).
CREATE TABLE receipts_v3 (
    id          INTEGER PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE,               -- the receipt file's bytes: reading it twice changes nothing
    file_name   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    applied     INTEGER NOT NULL,
    flagged     INTEGER NOT NULL,
    applied_at  TEXT NOT NULL
);
INSERT INTO receipts_v3 (sha256, file_name, kind, applied, flagged, applied_at)
    SELECT sha256, file_name, kind, applied, flagged, applied_at FROM receipts ORDER BY rowid;
DROP TABLE receipts;
ALTER TABLE receipts_v3 RENAME TO receipts;

-- Payments: an INTEGER PRIMARY KEY (stable, and the key of `payment_status`), no
-- status columns. A line's own time is its run's `created_at`.
CREATE TABLE payments_v3 (
    id             INTEGER PRIMARY KEY,
    end_to_end_id  TEXT NOT NULL UNIQUE,
    run_id         INTEGER NOT NULL REFERENCES runs(id) DEFERRABLE INITIALLY DEFERRED,
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
    bank_file      TEXT NOT NULL REFERENCES bank_files(name) DEFERRABLE INITIALLY DEFERRED,
    original_id    TEXT REFERENCES payments(end_to_end_id) DEFERRABLE INITIALLY DEFERRED,  -- a correction's first original
    retry          INTEGER NOT NULL DEFAULT 0
);
INSERT INTO payments_v3 (id, end_to_end_id, run_id, program, period, id_number, name, township, village,
                         payee_name, account, bank, amount_fen, bank_file, original_id, retry)
    SELECT rowid, end_to_end_id, run_id, program, period, id_number, name, township, village,
           payee_name, account, bank, amount_fen, bank_file, original_id, retry FROM payments ORDER BY rowid;

-- What receipts made of a payment. `period` is the payment's (copied when the row is
-- written), so failures.csv finds a period's failures from this table's own index.
-- `receipt_id` names the receipt that set the status; a status carried over from a
-- version 2 ledger has none, and keeps its `updated_at` instead (otherwise NULL: the
-- time is the receipt's `applied_at`).
--
-- `payment_id` is deliberately no foreign key: checking it looked up every payment
-- again (a fifth of writing a million status rows), and a status row is only ever
-- written for a payment the same statement's transaction just read; one without
-- its payment would be invisible (every read joins the payment).
CREATE TABLE payment_status (
    payment_id   INTEGER PRIMARY KEY,
    period       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('sent', 'pending', 'settled', 'failed', 'returned')),
    reason_code  TEXT NOT NULL DEFAULT '',
    reason_text  TEXT NOT NULL DEFAULT '',
    receipt_id   INTEGER REFERENCES receipts(id) DEFERRABLE INITIALLY DEFERRED,
    updated_at   TEXT
);
INSERT INTO payment_status (payment_id, period, status, reason_code, reason_text, updated_at)
    SELECT rowid, period, status, reason_code, reason_text, updated_at FROM payments
    WHERE status <> 'sent' OR reason_code <> '' OR reason_text <> '' ORDER BY rowid;

DROP TABLE payments;
ALTER TABLE payments_v3 RENAME TO payments;

-- Never pay anyone twice: one original line per person, program and period ...
CREATE UNIQUE INDEX one_payment_per_person
    ON payments (program, period, id_number) WHERE original_id IS NULL;
-- ... and one correction per original and retry.
CREATE UNIQUE INDEX one_correction_per_retry
    ON payments (original_id, retry) WHERE original_id IS NOT NULL;
CREATE INDEX payments_by_period ON payments (period, program);
-- A group-level rejection names a bank file: its lines are among its run's. An index
-- of small integers, appended to in order, where one of file names cost a run 38 MB
-- of index pages for a million lines.
CREATE INDEX payments_by_run ON payments (run_id);
-- Corrections of a period (failures.csv lists them); only corrections enter it.
CREATE INDEX corrections_by_period ON payments (period) WHERE original_id IS NOT NULL;

-- The lines a person must look at (failures.csv). The expression is the query's,
-- word for word: SQLite uses a partial index only for a WHERE that implies its own.
CREATE INDEX status_needing_a_person ON payment_status (period)
    WHERE status IN ('failed', 'returned') OR reason_code <> '';
-- People reported deceased (R03 holds them in every later run).
CREATE INDEX status_deceased ON payment_status (payment_id) WHERE reason_code = 'MD07';
