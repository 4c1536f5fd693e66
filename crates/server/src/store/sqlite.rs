//! The SQLite backend of [`Store`]: one database file (WAL) behind the trait's methods, its
//! schema in the numbered `migrations/` files (which a PostgreSQL backend runs unchanged).
//!
//! Calls are short (well under a millisecond) and run inline on the calling task under a
//! `std::sync::Mutex` that is never held across an `.await`, as before the trait; the trait's
//! methods are async so a networked backend can await its pool.

use super::list_sql::{list_sql, Value};
use super::{SandboxPage, SandboxQuery, Store, StoreError};
use crate::model::{
    ApiKey, Organization, OrganizationQuota, SandboxRow, SnapshotRow, UsageRow, VolumeMount, VolumeRow,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Each is a
/// numbered file in `migrations/` (`NNNN_what.sql`), written in SQL that PostgreSQL also accepts,
/// so a second backend runs the same files. A migration is never edited once it has landed.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("migrations/0001_initial.sql")),
    ("0002_sandbox_signing_key", include_str!("migrations/0002_sandbox_signing_key.sql")),
    ("0003_snapshot_source_sandbox", include_str!("migrations/0003_snapshot_source_sandbox.sql")),
    ("0004_organization_quotas", include_str!("migrations/0004_organization_quotas.sql")),
    ("0005_signing_nonce", include_str!("migrations/0005_signing_nonce.sql")),
    ("0006_linked_sandbox", include_str!("migrations/0006_linked_sandbox.sql")),
];

/// The SQLite database.
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

/// Creates `path` empty with mode 0600 if it is missing, and makes an existing one 0600.
fn private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let private = |source| StoreError::Permissions { path: path.to_path_buf(), source };
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(private)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(private)
}

fn sql(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sql { operation, source: Box::new(source) }
}

/// Turns a unique-constraint failure into [`StoreError::Conflict`].
fn unique(operation: &'static str, what: String) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| match &source {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict { what }
        }
        _ => StoreError::Sql { operation, source: Box::new(source) },
    }
}

const SANDBOX_COLUMNS: &str = "id, organization_id, name, snapshot, os_user, env, labels, public, network_block_all, \
     network_allow_list, domain_allow_list, target, cpu, gpu, memory, disk, state, desired_state, error_reason, \
     recoverable, auto_stop_interval, auto_archive_interval, auto_delete_interval, auto_pause_interval, volumes, \
     created_at, updated_at, last_activity_at, state_changed_at, linked_sandbox_id";

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path`. The database holds every
    /// sandbox's environment and signing key, so it and its WAL files are readable by the
    /// server's user only (0600; SQLite gives the WAL files the database file's mode).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        private_file(path)?;
        let connection = Connection::open(path).map_err(sql("open"))?;
        let store = SqliteStore::init(connection)?;
        for suffix in ["-wal", "-shm"] {
            let side =
                path.with_file_name(format!("{}{suffix}", path.file_name().unwrap_or_default().to_string_lossy()));
            if side.exists() {
                private_file(&side)?;
            }
        }
        Ok(store)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::init(Connection::open_in_memory().map_err(sql("open"))?)
    }

    fn init(connection: Connection) -> Result<SqliteStore, StoreError> {
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
            .map_err(sql("configure"))?;
        let version: i64 =
            connection.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql("read schema version"))?;
        let applied = usize::try_from(version).unwrap_or(0);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::NewerSchema { found: applied, known: MIGRATIONS.len() });
        }
        for (index, (name, migration)) in MIGRATIONS.iter().enumerate().skip(applied) {
            // One transaction per migration: a crash halfway leaves the previous version intact.
            let batch = format!("BEGIN; {migration}\nPRAGMA user_version = {}; COMMIT;", index + 1);
            if let Err(source) = connection.execute_batch(&batch) {
                let _ = connection.execute_batch("ROLLBACK");
                return Err(StoreError::Migration { name, source: Box::new(source) });
            }
        }
        Ok(SqliteStore { connection: Mutex::new(connection) })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        sandbar_runtime::lock(&self.connection)
    }
}

#[async_trait]
impl Store for SqliteStore {
    // ---- organizations and keys ----

    async fn ensure_organization(&self, name: &str, now: &str) -> Result<Organization, StoreError> {
        let db = self.db();
        let existing = db
            .query_row("SELECT id, name FROM organizations WHERE name = ?1", params![name], |r| {
                Ok(Organization { id: r.get(0)?, name: r.get(1)? })
            })
            .optional()
            .map_err(sql("read organization"))?;
        if let Some(org) = existing {
            return Ok(org);
        }
        let org = Organization { id: uuid::Uuid::new_v4().to_string(), name: name.to_string() };
        db.execute(
            "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![org.id, org.name, now],
        )
        .map_err(sql("create organization"))?;
        Ok(org)
    }

    async fn find_organization(&self, name: &str) -> Result<Option<Organization>, StoreError> {
        self.db()
            .query_row("SELECT id, name FROM organizations WHERE name = ?1", params![name], |r| {
                Ok(Organization { id: r.get(0)?, name: r.get(1)? })
            })
            .optional()
            .map_err(sql("read organization"))
    }

    async fn organization_quota(&self, org: &str) -> Result<OrganizationQuota, StoreError> {
        let quota = self
            .db()
            .query_row(
                "SELECT max_sandboxes, total_cpu, total_memory, total_disk, max_cpu_per_sandbox, \
                 max_memory_per_sandbox, max_disk_per_sandbox FROM organization_quotas WHERE organization_id = ?1",
                params![org],
                |r| {
                    Ok(OrganizationQuota {
                        max_sandboxes: r.get(0)?,
                        total_cpu: r.get(1)?,
                        total_memory: r.get(2)?,
                        total_disk: r.get(3)?,
                        max_cpu_per_sandbox: r.get(4)?,
                        max_memory_per_sandbox: r.get(5)?,
                        max_disk_per_sandbox: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(sql("read organization quota"))?;
        Ok(quota.unwrap_or_default())
    }

    async fn set_organization_quota(&self, org: &str, quota: &OrganizationQuota) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO organization_quotas (organization_id, max_sandboxes, total_cpu, total_memory, total_disk, \
                 max_cpu_per_sandbox, max_memory_per_sandbox, max_disk_per_sandbox) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (organization_id) DO UPDATE SET max_sandboxes = excluded.max_sandboxes, \
                 total_cpu = excluded.total_cpu, total_memory = excluded.total_memory, total_disk = excluded.total_disk, \
                 max_cpu_per_sandbox = excluded.max_cpu_per_sandbox, \
                 max_memory_per_sandbox = excluded.max_memory_per_sandbox, \
                 max_disk_per_sandbox = excluded.max_disk_per_sandbox",
                params![
                    org,
                    quota.max_sandboxes,
                    quota.total_cpu,
                    quota.total_memory,
                    quota.total_disk,
                    quota.max_cpu_per_sandbox,
                    quota.max_memory_per_sandbox,
                    quota.max_disk_per_sandbox
                ],
            )
            .map_err(sql("write organization quota"))?;
        Ok(())
    }

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO api_keys (id, organization_id, name, key_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![key.id, key.organization_id, key.name, key_hash, key.prefix, key.created_at],
            )
            .map_err(unique("store api key", "api key".to_string()))?;
        Ok(())
    }

    async fn organization_of_key(&self, key_hash: &str) -> Result<Option<Organization>, StoreError> {
        self.db()
            .query_row(
                "SELECT o.id, o.name FROM api_keys k JOIN organizations o ON o.id = k.organization_id \
                 WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
                params![key_hash],
                |r| Ok(Organization { id: r.get(0)?, name: r.get(1)? }),
            )
            .optional()
            .map_err(sql("look up api key"))
    }

    async fn list_api_keys(&self) -> Result<Vec<(ApiKey, String)>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT k.id, k.organization_id, k.name, k.prefix, k.created_at, k.revoked_at, o.name \
                 FROM api_keys k JOIN organizations o ON o.id = k.organization_id ORDER BY k.created_at",
            )
            .map_err(sql("list api keys"))?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    ApiKey {
                        id: r.get(0)?,
                        organization_id: r.get(1)?,
                        name: r.get(2)?,
                        prefix: r.get(3)?,
                        created_at: r.get(4)?,
                        revoked_at: r.get(5)?,
                    },
                    r.get(6)?,
                ))
            })
            .map_err(sql("list api keys"))?;
        rows.collect::<Result<_, _>>().map_err(sql("list api keys"))
    }

    async fn revoke_api_key(&self, id_or_prefix: &str, now: &str) -> Result<usize, StoreError> {
        let db = self.db();
        let matches: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM api_keys WHERE (id = ?1 OR prefix = ?1) AND revoked_at IS NULL",
                params![id_or_prefix],
                |r| r.get(0),
            )
            .map_err(sql("find api key"))?;
        if matches == 1 {
            db.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE (id = ?1 OR prefix = ?1) AND revoked_at IS NULL",
                params![id_or_prefix, now],
            )
            .map_err(sql("revoke api key"))?;
        }
        Ok(matches as usize)
    }

    // ---- sandboxes ----

    async fn insert_sandbox(&self, row: &SandboxRow) -> Result<(), StoreError> {
        let db = self.db();
        db.execute(
            &format!("INSERT INTO sandboxes ({SANDBOX_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)"),
            rusqlite::params_from_iter(sandbox_params(row)?.iter()),
        )
        .map_err(unique("insert sandbox", format!("a sandbox named {:?}", row.name)))?;
        Ok(())
    }

    async fn update_sandbox(&self, row: &SandboxRow) -> Result<(), StoreError> {
        let assignments: Vec<String> =
            SANDBOX_COLUMNS.split(", ").enumerate().skip(1).map(|(i, c)| format!("{c} = ?{}", i + 1)).collect();
        self.db()
            .execute(
                &format!("UPDATE sandboxes SET {} WHERE id = ?1", assignments.join(", ")),
                rusqlite::params_from_iter(sandbox_params(row)?.iter()),
            )
            .map_err(unique("update sandbox", format!("a sandbox named {:?}", row.name)))?;
        Ok(())
    }

    async fn find_sandbox(&self, org: &str, id_or_name: &str) -> Result<Option<SandboxRow>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!(
                "SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE organization_id = ?1 AND state <> 'destroyed' \
                 AND (id = ?2 OR name = ?2) ORDER BY CASE WHEN id = ?2 THEN 0 ELSE 1 END LIMIT 1"
            ))
            .map_err(sql("read sandbox"))?;
        let row =
            statement.query_row(params![org, id_or_name], read_sandbox).optional().map_err(sql("read sandbox"))?;
        row.transpose()
    }

    async fn signing_nonce(&self, org: &str, id: &str, rotate: bool) -> Result<Option<String>, StoreError> {
        let db = self.db();
        let current: Option<Option<String>> = db
            .query_row(
                "SELECT signing_nonce FROM sandboxes WHERE organization_id = ?1 AND id = ?2 AND state <> 'destroyed'",
                params![org, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("read signing nonce"))?;
        match current {
            None => Ok(None),
            Some(Some(nonce)) if !rotate => Ok(Some(nonce)),
            Some(_) => {
                let nonce = crate::signing::new_nonce();
                db.execute("UPDATE sandboxes SET signing_nonce = ?1 WHERE id = ?2", params![nonce, id])
                    .map_err(sql("store signing nonce"))?;
                Ok(Some(nonce))
            }
        }
    }

    async fn signing_nonce_by_id(&self, id: &str) -> Result<Option<(Organization, String)>, StoreError> {
        self.db()
            .query_row(
                "SELECT o.id, o.name, s.signing_nonce FROM sandboxes s JOIN organizations o ON o.id = s.organization_id \
                 WHERE s.id = ?1 AND s.state <> 'destroyed' AND s.signing_nonce IS NOT NULL",
                params![id],
                |r| Ok((Organization { id: r.get(0)?, name: r.get(1)? }, r.get(2)?)),
            )
            .optional()
            .map_err(sql("read signing nonce"))
    }

    async fn list_sandboxes(&self, org: &str, include_destroyed: bool) -> Result<Vec<SandboxRow>, StoreError> {
        let db = self.db();
        let filter = if include_destroyed { "" } else { "AND state <> 'destroyed'" };
        let mut statement = db
            .prepare(&format!(
                "SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE organization_id = ?1 {filter} ORDER BY created_at DESC, id"
            ))
            .map_err(sql("list sandboxes"))?;
        let rows = statement.query_map(params![org], read_sandbox).map_err(sql("list sandboxes"))?;
        let rows: Vec<Result<SandboxRow, StoreError>> =
            rows.collect::<Result<_, _>>().map_err(sql("list sandboxes"))?;
        rows.into_iter().collect()
    }

    async fn record_activity(&self, id: &str, at: &str) -> Result<(), StoreError> {
        self.db()
            .execute(
                "UPDATE sandboxes SET last_activity_at = ?2 WHERE id = ?1 AND last_activity_at < ?2",
                params![id, at],
            )
            .map_err(sql("record activity"))?;
        Ok(())
    }

    async fn find_live_sandbox(&self, id: &str) -> Result<Option<SandboxRow>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!("SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE id = ?1 AND state <> 'destroyed'"))
            .map_err(sql("read sandbox"))?;
        let row = statement.query_row(params![id], read_sandbox).optional().map_err(sql("read sandbox"))?;
        row.transpose()
    }

    async fn query_sandboxes(&self, query: &SandboxQuery) -> Result<SandboxPage, StoreError> {
        let list = list_sql(query);
        let params: Vec<rusqlite::types::Value> = list
            .params
            .into_iter()
            .map(|value| match value {
                Value::Text(text) => rusqlite::types::Value::Text(text),
                Value::Integer(number) => rusqlite::types::Value::Integer(number),
            })
            .collect();
        let db = self.db();
        let mut statement = db
            .prepare(&format!("SELECT {SANDBOX_COLUMNS} FROM sandboxes {}", list.clauses))
            .map_err(sql("list sandboxes"))?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(params.iter()), read_sandbox)
            .map_err(sql("list sandboxes"))?;
        let rows: Vec<Result<SandboxRow, StoreError>> =
            rows.collect::<Result<_, _>>().map_err(sql("list sandboxes"))?;
        let mut rows = rows.into_iter().collect::<Result<Vec<_>, _>>()?;
        // The query read one row past a page: its presence says more follow.
        let more = query.page.is_some_and(|page| rows.len() > page.limit);
        if let Some(page) = query.page {
            rows.truncate(page.limit);
        }
        Ok(SandboxPage { rows, more })
    }

    async fn live_followers(&self, owner_id: &str) -> Result<Vec<SandboxRow>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!(
                "SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE linked_sandbox_id = ?1 AND state <> 'destroyed' ORDER BY id"
            ))
            .map_err(sql("list linked sandboxes"))?;
        let rows = statement.query_map([owner_id], read_sandbox).map_err(sql("list linked sandboxes"))?;
        let rows: Vec<Result<SandboxRow, StoreError>> =
            rows.collect::<Result<_, _>>().map_err(sql("list linked sandboxes"))?;
        rows.into_iter().collect()
    }

    async fn all_live_sandboxes(&self) -> Result<Vec<SandboxRow>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!("SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE state <> 'destroyed' ORDER BY id"))
            .map_err(sql("list sandboxes"))?;
        let rows = statement.query_map([], read_sandbox).map_err(sql("list sandboxes"))?;
        let rows: Vec<Result<SandboxRow, StoreError>> =
            rows.collect::<Result<_, _>>().map_err(sql("list sandboxes"))?;
        rows.into_iter().collect()
    }

    async fn usage_rows(&self, org: Option<&str>) -> Result<Vec<UsageRow>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT id, organization_id, target, state, cpu, memory, disk FROM sandboxes \
                 WHERE state <> 'destroyed' AND (?1 IS NULL OR organization_id = ?1)",
            )
            .map_err(sql("sum sandbox resources"))?;
        let rows = statement
            .query_map(params![org], |r| {
                let id: String = r.get(0)?;
                let state: String = r.get(3)?;
                Ok((id, r.get(1)?, r.get(2)?, state, r.get(4)?, r.get(5)?, r.get(6)?))
            })
            .map_err(sql("sum sandbox resources"))?;
        let mut usage = Vec::new();
        for row in rows {
            let (id, organization_id, target, state, cpu, memory, disk) = row.map_err(sql("sum sandbox resources"))?;
            let state = sandbar_api::SandboxState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt { id: id.clone(), column: "state" })?;
            usage.push(UsageRow { id, organization_id, target, state, cpu, memory, disk });
        }
        Ok(usage)
    }

    // ---- volumes ----

    async fn insert_volume(&self, volume: &VolumeRow) -> Result<(), StoreError> {
        self.db()
            .execute(
                "INSERT INTO volumes (id, organization_id, name, state, created_at, updated_at, last_used_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![volume.id, volume.organization_id, volume.name, volume.state, volume.created_at, volume.updated_at, volume.last_used_at],
            )
            .map_err(unique("insert volume", format!("a volume named {:?}", volume.name)))?;
        Ok(())
    }

    async fn find_volume(&self, org: &str, id_or_name: &str) -> Result<Option<VolumeRow>, StoreError> {
        self.db()
            .query_row(
                "SELECT id, organization_id, name, state, created_at, updated_at, last_used_at FROM volumes \
                 WHERE organization_id = ?1 AND (id = ?2 OR name = ?2)",
                params![org, id_or_name],
                read_volume,
            )
            .optional()
            .map_err(sql("read volume"))
    }

    async fn list_volumes(&self, org: &str) -> Result<Vec<VolumeRow>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare("SELECT id, organization_id, name, state, created_at, updated_at, last_used_at FROM volumes WHERE organization_id = ?1 ORDER BY created_at")
            .map_err(sql("list volumes"))?;
        let rows = statement.query_map(params![org], read_volume).map_err(sql("list volumes"))?;
        rows.collect::<Result<_, _>>().map_err(sql("list volumes"))
    }

    async fn delete_volume(&self, id: &str) -> Result<(), StoreError> {
        self.db().execute("DELETE FROM volumes WHERE id = ?1", params![id]).map_err(sql("delete volume"))?;
        Ok(())
    }

    // ---- snapshots ----

    async fn ensure_snapshot(&self, snapshot: &SnapshotRow) -> Result<SnapshotRow, StoreError> {
        let db = self.db();
        db.execute(
            "INSERT INTO snapshots (id, organization_id, name, image, state, general, cpu, gpu, mem, disk, created_at, updated_at, last_used_at, source_sandbox_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT DO NOTHING",
            params![snapshot.id, snapshot.organization_id, snapshot.name, snapshot.image, snapshot.state, snapshot.general,
                snapshot.cpu, snapshot.gpu, snapshot.mem, snapshot.disk, snapshot.created_at, snapshot.updated_at, snapshot.last_used_at,
                snapshot.source_sandbox_id],
        )
        .map_err(sql("insert snapshot"))?;
        db.query_row(
            &format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE COALESCE(organization_id, '') = COALESCE(?1, '') AND name = ?2"),
            params![snapshot.organization_id, snapshot.name],
            read_snapshot,
        )
        .map_err(sql("read snapshot"))
    }

    async fn delete_snapshot(&self, id: &str) -> Result<(), StoreError> {
        self.db().execute("DELETE FROM snapshots WHERE id = ?1", params![id]).map_err(sql("delete snapshot"))?;
        Ok(())
    }

    async fn list_snapshots(&self, org: &str) -> Result<Vec<SnapshotRow>, StoreError> {
        let db = self.db();
        let mut statement = db
            .prepare(&format!(
                "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE organization_id = ?1 OR general = 1 ORDER BY general DESC, created_at"
            ))
            .map_err(sql("list snapshots"))?;
        let rows = statement.query_map(params![org], read_snapshot).map_err(sql("list snapshots"))?;
        rows.collect::<Result<_, _>>().map_err(sql("list snapshots"))
    }

    async fn find_snapshot(&self, org: &str, id_or_name: &str) -> Result<Option<SnapshotRow>, StoreError> {
        self.db()
            .query_row(
                &format!(
                    "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE (organization_id = ?1 OR general = 1) AND (id = ?2 OR name = ?2) \
                     ORDER BY general LIMIT 1"
                ),
                params![org, id_or_name],
                read_snapshot,
            )
            .optional()
            .map_err(sql("read snapshot"))
    }
}

const SNAPSHOT_COLUMNS: &str =
    "id, organization_id, name, image, state, general, cpu, gpu, mem, disk, created_at, updated_at, last_used_at, source_sandbox_id";

fn sandbox_params(row: &SandboxRow) -> Result<Vec<Box<dyn rusqlite::ToSql + '_>>, StoreError> {
    let json = |value: serde_json::Result<String>, column: &'static str| {
        value.map_err(|_| StoreError::Corrupt { id: row.id.clone(), column })
    };
    Ok(vec![
        Box::new(&row.id),
        Box::new(&row.organization_id),
        Box::new(&row.name),
        Box::new(&row.snapshot),
        Box::new(&row.user),
        Box::new(json(serde_json::to_string(&row.env), "env")?),
        Box::new(json(serde_json::to_string(&row.labels), "labels")?),
        Box::new(row.public),
        Box::new(row.network_block_all),
        Box::new(&row.network_allow_list),
        Box::new(&row.domain_allow_list),
        Box::new(&row.target),
        Box::new(row.cpu),
        Box::new(row.gpu),
        Box::new(row.memory),
        Box::new(row.disk),
        Box::new(row.state.as_str()),
        Box::new(row.desired_state.as_str()),
        Box::new(&row.error_reason),
        Box::new(row.recoverable),
        Box::new(row.auto_stop_interval),
        Box::new(row.auto_archive_interval),
        Box::new(row.auto_delete_interval),
        Box::new(row.auto_pause_interval),
        Box::new(json(serde_json::to_string(&row.volumes), "volumes")?),
        Box::new(&row.created_at),
        Box::new(&row.updated_at),
        Box::new(&row.last_activity_at),
        Box::new(&row.state_changed_at),
        Box::new(&row.linked_sandbox_id),
    ])
}

fn read_sandbox(r: &Row<'_>) -> rusqlite::Result<Result<SandboxRow, StoreError>> {
    let id: String = r.get(0)?;
    let corrupt = |column| StoreError::Corrupt { id: id.clone(), column };
    let env: String = r.get(5)?;
    let labels: String = r.get(6)?;
    let volumes: String = r.get(24)?;
    let state: String = r.get(16)?;
    let desired: String = r.get(17)?;
    let parsed = (|| {
        Ok(SandboxRow {
            id: id.clone(),
            organization_id: r.get(1).map_err(|_| corrupt("organization_id"))?,
            name: r.get(2).map_err(|_| corrupt("name"))?,
            snapshot: r.get(3).map_err(|_| corrupt("snapshot"))?,
            user: r.get(4).map_err(|_| corrupt("os_user"))?,
            env: serde_json::from_str(&env).map_err(|_| corrupt("env"))?,
            labels: serde_json::from_str(&labels).map_err(|_| corrupt("labels"))?,
            public: r.get(7).map_err(|_| corrupt("public"))?,
            network_block_all: r.get(8).map_err(|_| corrupt("network_block_all"))?,
            network_allow_list: r.get(9).map_err(|_| corrupt("network_allow_list"))?,
            domain_allow_list: r.get(10).map_err(|_| corrupt("domain_allow_list"))?,
            target: r.get(11).map_err(|_| corrupt("target"))?,
            cpu: r.get(12).map_err(|_| corrupt("cpu"))?,
            gpu: r.get(13).map_err(|_| corrupt("gpu"))?,
            memory: r.get(14).map_err(|_| corrupt("memory"))?,
            disk: r.get(15).map_err(|_| corrupt("disk"))?,
            state: sandbar_api::SandboxState::parse(&state).ok_or_else(|| corrupt("state"))?,
            desired_state: sandbar_api::SandboxState::parse(&desired).ok_or_else(|| corrupt("desired_state"))?,
            error_reason: r.get(18).map_err(|_| corrupt("error_reason"))?,
            recoverable: r.get(19).map_err(|_| corrupt("recoverable"))?,
            auto_stop_interval: r.get(20).map_err(|_| corrupt("auto_stop_interval"))?,
            auto_archive_interval: r.get(21).map_err(|_| corrupt("auto_archive_interval"))?,
            auto_delete_interval: r.get(22).map_err(|_| corrupt("auto_delete_interval"))?,
            auto_pause_interval: r.get(23).map_err(|_| corrupt("auto_pause_interval"))?,
            volumes: serde_json::from_str::<Vec<VolumeMount>>(&volumes).map_err(|_| corrupt("volumes"))?,
            created_at: r.get(25).map_err(|_| corrupt("created_at"))?,
            updated_at: r.get(26).map_err(|_| corrupt("updated_at"))?,
            last_activity_at: r.get(27).map_err(|_| corrupt("last_activity_at"))?,
            state_changed_at: r.get(28).map_err(|_| corrupt("state_changed_at"))?,
            linked_sandbox_id: r.get(29).map_err(|_| corrupt("linked_sandbox_id"))?,
        })
    })();
    Ok(parsed)
}

fn read_volume(r: &Row<'_>) -> rusqlite::Result<VolumeRow> {
    Ok(VolumeRow {
        id: r.get(0)?,
        organization_id: r.get(1)?,
        name: r.get(2)?,
        state: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        last_used_at: r.get(6)?,
    })
}

fn read_snapshot(r: &Row<'_>) -> rusqlite::Result<SnapshotRow> {
    Ok(SnapshotRow {
        source_sandbox_id: r.get(13)?,
        id: r.get(0)?,
        organization_id: r.get(1)?,
        name: r.get(2)?,
        image: r.get(3)?,
        state: r.get(4)?,
        general: r.get(5)?,
        cpu: r.get(6)?,
        gpu: r.get(7)?,
        mem: r.get(8)?,
        disk: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        last_used_at: r.get(12)?,
    })
}

#[cfg(test)]
mod tests;
