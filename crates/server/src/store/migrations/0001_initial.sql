-- The first schema: organizations, their API keys (stored as hashes), sandboxes, volumes and snapshots.
-- A sandbox name is unique among an organization's live (not destroyed) sandboxes.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE sandboxes (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    os_user TEXT NOT NULL,
    env TEXT NOT NULL,
    labels TEXT NOT NULL,
    public INTEGER NOT NULL,
    network_block_all INTEGER NOT NULL,
    network_allow_list TEXT,
    domain_allow_list TEXT,
    target TEXT NOT NULL,
    cpu INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    memory INTEGER NOT NULL,
    disk INTEGER NOT NULL,
    state TEXT NOT NULL,
    desired_state TEXT NOT NULL,
    error_reason TEXT,
    recoverable INTEGER,
    auto_stop_interval INTEGER,
    auto_archive_interval INTEGER,
    auto_delete_interval INTEGER,
    auto_pause_interval INTEGER,
    volumes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_activity_at TEXT NOT NULL,
    state_changed_at TEXT NOT NULL
);
CREATE UNIQUE INDEX sandboxes_live_name ON sandboxes (organization_id, name) WHERE state <> 'destroyed';
CREATE TABLE volumes (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_used_at TEXT
);
CREATE UNIQUE INDEX volumes_name ON volumes (organization_id, name);
CREATE TABLE snapshots (
    id TEXT PRIMARY KEY,
    organization_id TEXT,
    name TEXT NOT NULL,
    image TEXT NOT NULL,
    state TEXT NOT NULL,
    general INTEGER NOT NULL,
    cpu INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    mem INTEGER NOT NULL,
    disk INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_used_at TEXT
);
CREATE UNIQUE INDEX snapshots_name ON snapshots (COALESCE(organization_id, ''), name);
