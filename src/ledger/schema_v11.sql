-- disburse ledger, schema version 11: the rule "one payment per person, program and
-- period" is kept by an index that begins with the period again.
--
-- Why: with the ID number first (schema_v6.sql) a run's inserts landed at random
-- places of the whole index, every month's entries included. In month 24 of a
-- million-line office the index held 24 million entries (~1 GB), a run dirtied
-- nearly every one of its pages, and each page that existed before the run was
-- also copied to the rollback journal: the run's ledger time grew with the
-- ledger's history (4.0 s in month 1, 9.8 s in month 6). With the period first, a
-- run's entries all go into the part of the index its own period makes, new pages
-- of its own; the pages of earlier periods are not touched. Comparisons walk the
-- period and program first (equal for most of a run's neighbours): ~0.1 CPU-s a
-- million lines, against seconds of growth.
--
-- The rule is the same set of columns, so the same rows are refused.
DROP INDEX one_payment_per_person;
CREATE UNIQUE INDEX one_payment_per_person
    ON payments (period, program, id_number) WHERE original_id IS NULL;
