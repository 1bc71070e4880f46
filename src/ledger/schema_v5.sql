-- disburse ledger, schema version 5: a run's payments are found by their ids.
--
-- Why: every payment row went into `payments_by_run` (run_id, program), the index
-- through which a period's (or a bank file's) payments were found. Keeping it was
-- about a quarter of the ledger's work in a million-line run (~0.4 CPU-seconds of
-- ~1.4). A run writes its lines in one transaction, program by program, with ids
-- it gives them in order (`SqliteRun`), so a run's payments of one program are a
-- stretch of consecutive ids: this table keeps the stretches, and a query reads
-- each as one range of `payments`' rowids.
--
-- Existing payments are cut into stretches of consecutive ids of one run and
-- program (gaps and islands), which is exact whatever order they were written in.
CREATE TABLE payment_ranges (
    run_id    INTEGER NOT NULL REFERENCES runs(id) DEFERRABLE INITIALLY DEFERRED,
    program   TEXT NOT NULL,
    first_id  INTEGER NOT NULL,
    last_id   INTEGER NOT NULL CHECK (last_id >= first_id),
    PRIMARY KEY (run_id, program, first_id)
) WITHOUT ROWID;
INSERT INTO payment_ranges (run_id, program, first_id, last_id)
    SELECT run_id, program, MIN(id), MAX(id)
    FROM (SELECT id, run_id, program,
                 id - ROW_NUMBER() OVER (PARTITION BY run_id, program ORDER BY id) AS island
          FROM payments)
    GROUP BY run_id, program, island;
DROP INDEX payments_by_run;
