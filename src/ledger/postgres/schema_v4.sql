-- disburse shared ledger, schema version 4: the approval (审批) each program of a
-- run was paid under — 文号, approver, date — kept with the run (SPEC §9; the
-- SQLite ledger's schema_v10.sql). `payments` has carried line_type and covers
-- in its unique index since version 1.
CREATE TABLE approvals (
    office       TEXT COLLATE "C" NOT NULL,
    run_id       BIGINT NOT NULL REFERENCES runs (id),
    program      TEXT COLLATE "C" NOT NULL,
    count        BIGINT NOT NULL,
    total        TEXT NOT NULL,
    reference    TEXT NOT NULL,
    approved_by  TEXT NOT NULL,
    approved_on  TEXT NOT NULL,
    PRIMARY KEY (run_id, program)
);
