-- disburse ledger, schema version 10: programs, lines and rules as data (SPEC §9).
--
-- One payment per person is per (program, period, line type, covered month): a
-- 特困 person's basic support and care fee are two payments, a second basic line
-- is still refused. Lines recorded before keep 'basic' and no covered month,
-- which is what they were.
ALTER TABLE payments ADD COLUMN line_type TEXT NOT NULL DEFAULT 'basic';
ALTER TABLE payments ADD COLUMN covers TEXT NOT NULL DEFAULT '';
DROP INDEX one_payment_per_person;
CREATE UNIQUE INDEX one_payment_per_person
    ON payments (id_number, program, period, line_type, covers) WHERE original_id IS NULL;

-- The approval (审批) each program of a run was paid under: its 文号, approver
-- and date are kept with the run, not only read and dropped.
CREATE TABLE approvals (
    run_id       INTEGER NOT NULL REFERENCES runs(id) DEFERRABLE INITIALLY DEFERRED,
    program      TEXT NOT NULL,
    count        INTEGER NOT NULL,
    total        TEXT NOT NULL,
    reference    TEXT NOT NULL,
    approved_by  TEXT NOT NULL,
    approved_on  TEXT NOT NULL,
    PRIMARY KEY (run_id, program)
);
