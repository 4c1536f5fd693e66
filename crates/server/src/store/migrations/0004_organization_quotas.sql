-- Per-organization quotas (`sandbar quota set`); a missing row or a NULL column is no limit.
-- Totals count sandboxes as Daytona does: cpu and memory of sandboxes that run (or are about
-- to), disk of every sandbox that is not archived or gone.
CREATE TABLE organization_quotas (
    organization_id TEXT PRIMARY KEY REFERENCES organizations(id),
    max_sandboxes BIGINT,
    total_cpu BIGINT,
    total_memory BIGINT,
    total_disk BIGINT,
    max_cpu_per_sandbox BIGINT,
    max_memory_per_sandbox BIGINT,
    max_disk_per_sandbox BIGINT
);
