-- Signing keys are derived from the server's master key (signing-master-key in the data
-- directory) and a per-sandbox nonce; the database keeps only the nonce, so a copy of it cannot
-- sign URLs. Keys stored before are dropped (URLs signed with them stop working once).
ALTER TABLE sandboxes RENAME COLUMN signing_key TO signing_nonce;
UPDATE sandboxes SET signing_nonce = NULL;
