-- disburse ledger, schema version 6: the rule "one payment per person, program and
-- period" is kept by an index that begins with the ID number.
--
-- Why: a run adds a million entries to this index in roster order, which is random
-- in it. With (program, period, id_number), every comparison on the way down the
-- tree walked the program and the period, equal for all of a run's lines, before it
-- reached the ID number: ~0.5 of a million-line run's ~1.2 ledger CPU-seconds went
-- to this index. With the ID number first, most comparisons end at the first column.
-- The rule is the same set of columns, so the same rows are refused.
--
-- The one query that read the old index in its order (the people a program already
-- paid in a period) now finds the period's payments through its runs' stretches of
-- ids (`payment_ranges`, schema_v5.sql), as the other period queries do.
DROP INDEX one_payment_per_person;
CREATE UNIQUE INDEX one_payment_per_person
    ON payments (id_number, program, period) WHERE original_id IS NULL;
