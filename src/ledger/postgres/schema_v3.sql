-- disburse shared ledger, schema version 3: the audit trail (审计记录, SPEC §14),
-- as the SQLite ledger's schema_v9.sql, one trail per office. The event is kept
-- whole as JSON (the object `<output>/audit.jsonl` holds), written when a command
-- starts and again when it ends.
CREATE TABLE audit_events (
    office      TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    started_at  TEXT COLLATE "C" NOT NULL,
    state       TEXT NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (office, id)
);
