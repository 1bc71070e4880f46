-- disburse ledger, schema version 11: a payment row of small integers.
--
-- Why: a payment row held every text of its line (~260 bytes a line with its
-- indexes), although a person's name, township, village, payee, account and bank
-- repeat month after month, and the one-payment index began with the ID number, so
-- a run's million entries went to random places of an index holding every month
-- there ever was: in month 24 a run dirtied nearly every page of a ~1 GB index and
-- copied each to the rollback journal (4.0 s in month 1, 9.8 s in month 6).
--
-- Now:
-- - `parties`: what a line was paid to (ID number, name, places, payee, account,
--   bank), once per person and version; a line names its person (the ID number as
--   the integer `domain::id_key`; any other ID text as minus its row in
--   `other_ids`) and the version (0 unless something changed);
-- - `program_codes`: a program's code once, a line its small integer;
-- - `period` is YYYYMM as an integer, `file_id` its bank file's row;
-- - the reference (end-to-end id) is not stored when it is its batch's prefix and
--   seven digits (what a run writes): `families` keeps each run's and program's
--   prefix, the row its number `ref_seq`; any other reference is kept whole in
--   `end_to_end_id`. A prefix belongs to one run and program (UNIQUE), and a
--   number to one line of them (`one_reference_per_line`), so a reference is still
--   never given twice;
-- - `one_payment_per_person` begins with the period: a run's entries go into its
--   own period's part of the index, new pages of its own.
-- `payments` is now a view with the columns the table had, for every reader.
--
-- Run by `SqliteLedger::migrate`, which checks afterwards that every payment was
-- carried over.

CREATE TABLE program_codes (
    id    INTEGER PRIMARY KEY,
    code  TEXT NOT NULL UNIQUE
);
INSERT INTO program_codes (code) SELECT DISTINCT program FROM payments ORDER BY 1;

-- A person's details, one row per version (a new one when any of them changes).
CREATE TABLE parties (
    person      INTEGER NOT NULL,               -- domain::id_key of the ID number, or -other_ids.id
    version     INTEGER NOT NULL,
    id_number   TEXT NOT NULL,
    name        TEXT NOT NULL,
    township    TEXT NOT NULL,
    village     TEXT NOT NULL,
    payee_name  TEXT NOT NULL,
    account     TEXT NOT NULL,
    bank        TEXT NOT NULL,
    PRIMARY KEY (person, version)
) WITHOUT ROWID;

-- An ID number that is not 18 characters of the national form (none a run
-- pays: V02 holds them) gets a negative person key of its own.
CREATE TABLE other_ids (
    id         INTEGER PRIMARY KEY,
    id_number  TEXT NOT NULL UNIQUE
);
INSERT INTO other_ids (id_number)
    SELECT DISTINCT id_number FROM payments
    WHERE NOT (length(id_number) = 18 AND substr(id_number, 1, 17) NOT GLOB '*[^0-9]*'
               AND substr(id_number, 18, 1) GLOB '[0-9Xx]')
    ORDER BY 1;

CREATE TEMP TABLE v11_keyed AS
    SELECT p.id, CASE WHEN o.id IS NOT NULL THEN -o.id
                      ELSE CAST(substr(p.id_number, 1, 17) AS INTEGER) * 11
                           + CASE WHEN substr(p.id_number, 18, 1) IN ('X', 'x') THEN 10
                                  ELSE CAST(substr(p.id_number, 18, 1) AS INTEGER) END + 1 END AS person
    FROM payments p LEFT JOIN other_ids o ON o.id_number = p.id_number;
CREATE UNIQUE INDEX temp.v11_keyed_id ON v11_keyed (id);

INSERT INTO parties (person, version, id_number, name, township, village, payee_name, account, bank)
    SELECT person, ROW_NUMBER() OVER (PARTITION BY person ORDER BY first_id) - 1,
           id_number, name, township, village, payee_name, account, bank
    FROM (SELECT k.person, MIN(p.id) AS first_id, p.id_number, p.name, p.township, p.village, p.payee_name,
                 p.account, p.bank
          FROM payments p JOIN v11_keyed k ON k.id = p.id
          GROUP BY k.person, p.id_number, p.name, p.township, p.village, p.payee_name, p.account, p.bank);

-- Bank files get an integer key a payment can name.
CREATE TABLE bank_files_v11 (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,               -- file name under <period>/bank/
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    program     TEXT NOT NULL,
    period      TEXT NOT NULL,
    format      TEXT NOT NULL,
    lines       INTEGER NOT NULL,
    total_fen   INTEGER NOT NULL,
    sha256      TEXT NOT NULL
);
INSERT INTO bank_files_v11 (name, run_id, program, period, format, lines, total_fen, sha256)
    SELECT name, run_id, program, period, format, lines, total_fen, sha256 FROM bank_files ORDER BY rowid;

-- Each run's and program's reference prefix (the reference less its seven-digit
-- number), from its first line.
CREATE TABLE families (
    run_id      INTEGER NOT NULL REFERENCES runs(id) DEFERRABLE INITIALLY DEFERRED,
    program_id  INTEGER NOT NULL,
    ref_prefix  TEXT NOT NULL UNIQUE,
    PRIMARY KEY (run_id, program_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO families (run_id, program_id, ref_prefix)
    SELECT p.run_id, c.id, substr(p.end_to_end_id, 1, length(p.end_to_end_id) - 7)
    FROM payments p JOIN program_codes c ON c.code = p.program
    WHERE p.id IN (SELECT MIN(id) FROM payments GROUP BY run_id, program)
      AND length(p.end_to_end_id) > 7 AND substr(p.end_to_end_id, -7) NOT GLOB '*[^0-9]*';

CREATE TABLE payment_rows (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES runs(id) DEFERRABLE INITIALLY DEFERRED,
    program_id     INTEGER NOT NULL REFERENCES program_codes(id) DEFERRABLE INITIALLY DEFERRED,
    period         INTEGER NOT NULL,                -- YYYYMM
    person         INTEGER NOT NULL,                -- parties.person
    version        INTEGER NOT NULL,                -- parties.version
    amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
    file_id        INTEGER NOT NULL REFERENCES bank_files(id) DEFERRABLE INITIALLY DEFERRED,
    ref_seq        INTEGER,                         -- the reference is its family's prefix and this
    end_to_end_id  TEXT,                            -- ... or, when it is not, the reference whole
    original_id    TEXT,                            -- a correction's first original (its reference)
    retry          INTEGER NOT NULL DEFAULT 0,
    line_type      TEXT NOT NULL DEFAULT 'basic',   -- schema_v10.sql
    covers         TEXT NOT NULL DEFAULT '',
    CHECK ((ref_seq IS NULL) <> (end_to_end_id IS NULL))
);
INSERT INTO payment_rows (id, run_id, program_id, period, person, version, amount_fen, file_id, ref_seq,
                          end_to_end_id, original_id, retry, line_type, covers)
    SELECT p.id, p.run_id, c.id,
           CAST(substr(p.period, 1, 4) AS INTEGER) * 100 + CAST(substr(p.period, 6, 2) AS INTEGER),
           k.person, pa.version, p.amount_fen, b.id,
           CASE WHEN (f.ref_prefix IS NOT NULL AND length(p.end_to_end_id) = length(f.ref_prefix) + 7
                      AND substr(p.end_to_end_id, 1, length(f.ref_prefix)) = f.ref_prefix
                      AND substr(p.end_to_end_id, -7) NOT GLOB '*[^0-9]*')
           THEN CAST(substr(p.end_to_end_id, -7) AS INTEGER) END,
           CASE WHEN (f.ref_prefix IS NOT NULL AND length(p.end_to_end_id) = length(f.ref_prefix) + 7
                      AND substr(p.end_to_end_id, 1, length(f.ref_prefix)) = f.ref_prefix
                      AND substr(p.end_to_end_id, -7) NOT GLOB '*[^0-9]*')
           THEN NULL ELSE p.end_to_end_id END,
           p.original_id, p.retry, p.line_type, p.covers
    FROM payments p
    JOIN v11_keyed k ON k.id = p.id
    JOIN program_codes c ON c.code = p.program
    JOIN parties pa ON pa.person = k.person AND pa.id_number = p.id_number AND pa.name = p.name
         AND pa.township = p.township AND pa.village = p.village AND pa.payee_name = p.payee_name
         AND pa.account = p.account AND pa.bank = p.bank
    JOIN bank_files_v11 b ON b.name = p.bank_file
    LEFT JOIN families f ON f.run_id = p.run_id AND f.program_id = c.id
    ORDER BY p.id;

DROP TABLE v11_keyed;
DROP TABLE payments;
DROP TABLE bank_files;
ALTER TABLE bank_files_v11 RENAME TO bank_files;

-- Never pay anyone twice: one original line per person, program, period, line
-- type and covered month (schema_v10.sql) ...
CREATE UNIQUE INDEX one_payment_per_person
    ON payment_rows (period, program_id, person, line_type, covers) WHERE original_id IS NULL;
-- ... and one correction per original and retry.
CREATE UNIQUE INDEX one_correction_per_retry
    ON payment_rows (original_id, retry) WHERE original_id IS NOT NULL;
-- A reference is never given twice: a number once per family ...
CREATE UNIQUE INDEX one_reference_per_line
    ON payment_rows (run_id, program_id, ref_seq) WHERE ref_seq IS NOT NULL;
-- ... and a reference kept whole once.
CREATE UNIQUE INDEX one_written_reference
    ON payment_rows (end_to_end_id) WHERE end_to_end_id IS NOT NULL;
-- Corrections of a period (failures.csv lists them); only corrections enter it.
CREATE INDEX corrections_by_period ON payment_rows (period) WHERE original_id IS NOT NULL;

-- Who vouched for a correction: its original is named by reference, which is no
-- longer a column to point a foreign key at (the writer reads the original first).
CREATE TABLE verifications_v11 (
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    original_id  TEXT NOT NULL,
    retry        INTEGER NOT NULL,
    verified_by  TEXT NOT NULL CHECK (verified_by <> ''),
    reason       TEXT NOT NULL,
    PRIMARY KEY (original_id, retry)
);
INSERT INTO verifications_v11 SELECT run_id, original_id, retry, verified_by, reason FROM verifications;
DROP TABLE verifications;
ALTER TABLE verifications_v11 RENAME TO verifications;

-- Every payment with the columns the table had (and its integers, for queries
-- that filter on them).
CREATE VIEW payments AS
SELECT p.id AS id,
       COALESCE(p.end_to_end_id, (SELECT f.ref_prefix FROM families f
                                  WHERE f.run_id = p.run_id AND f.program_id = p.program_id)
                                 || printf('%07d', p.ref_seq)) AS end_to_end_id,
       p.run_id AS run_id,
       (SELECT c.code FROM program_codes c WHERE c.id = p.program_id) AS program,
       printf('%04d-%02d', p.period / 100, p.period % 100) AS period,
       pa.id_number AS id_number, pa.name AS name, pa.township AS township, pa.village AS village,
       pa.payee_name AS payee_name, pa.account AS account, pa.bank AS bank,
       p.amount_fen AS amount_fen,
       (SELECT b.name FROM bank_files b WHERE b.id = p.file_id) AS bank_file,
       p.original_id AS original_id, p.retry AS retry, p.line_type AS line_type, p.covers AS covers,
       p.program_id AS program_id, p.period AS period_n, p.person AS person, p.file_id AS file_id
FROM payment_rows p JOIN parties pa ON pa.person = p.person AND pa.version = p.version;
