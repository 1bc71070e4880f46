-- disburse ledger, schema version 2: the lines a person must look at, indexed.
-- `returns` rewrites failures.csv after every receipt from the failed, returned and
-- corrected lines of a period: a tenth of a million-line period, which without this
-- index was found by reading all of it. Lines are inserted 'sent' with no reason and
-- no original, so a run's inserts do not touch this index; only lines that fail or
-- are corrections enter it. The expression is the query's, word for word: SQLite
-- uses a partial index only for a WHERE that implies the index's own.
CREATE INDEX payments_needing_a_person ON payments (period)
    WHERE status IN ('failed', 'returned') OR original_id IS NOT NULL OR reason_code <> '';
