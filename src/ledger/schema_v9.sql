-- disburse ledger, schema version 9: the audit trail (审计记录, SPEC §14).
--
-- One row per ledger-writing command, the event in full as JSON (the same object
-- that `<output>/audit.jsonl` holds, so `ledger rebuild` restores it as it was).
-- Written when the command starts and again when it ends; a row still `started`
-- when the next command takes the lock is one whose process died, and that
-- command closes it. Events are few (one per command), so they are filtered by
-- period in the program rather than indexed.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    state       TEXT NOT NULL,
    event       TEXT NOT NULL
);
