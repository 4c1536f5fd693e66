-- The sandbox a snapshot of a sandbox was made from (GET /snapshots?sourceSandboxId=...).
ALTER TABLE snapshots ADD COLUMN source_sandbox_id TEXT;
