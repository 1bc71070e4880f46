-- disburse ledger, schema version 4: a period's payments are found through its runs.
--
-- Why: `payments_by_period` (period, program) was a fourth index every payment row
-- went into — about a tenth of a million-line run's ledger time and 24 MB of pages
-- written twice (WAL and checkpoint) — to answer what the runs already know: a
-- payment's period is its run's (`SqliteRun::add_lines` refuses any other, and
-- `SqliteLedger::migrate` checks existing rows before this step commits).
-- Queries by period now go through `runs` (UNIQUE (period, batch) is an index on
-- period) and `payments_by_run`, which gains the program so that one program's
-- lines of a period are found without reading the other programs'.
DROP INDEX payments_by_period;
DROP INDEX payments_by_run;
CREATE INDEX payments_by_run ON payments (run_id, program);
