-- disburse ledger, schema version 8: each run records the fingerprint of the key
-- that signed it (SHA-256 of the public key's SPKI DER, hex), so that
-- `disburse verify --config` checks a run folder against the key that signed it,
-- not against whatever key its manifest names. Runs recorded before keep ''.
ALTER TABLE runs ADD COLUMN key_fingerprint TEXT NOT NULL DEFAULT '';
