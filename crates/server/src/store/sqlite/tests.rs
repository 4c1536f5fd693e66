//! The SQLite backend's tests, on in-memory and temporary databases (no root, no runtime): the
//! shared conformance suite, corrupt rows, migrations from older schema versions, and the
//! file's permissions.

use super::*;
use crate::store::conformance::{sandbox, snapshot, store_conformance, NOW};

fn store() -> SqliteStore {
    SqliteStore::in_memory().expect("in-memory store")
}

store_conformance!(store());

#[tokio::test]
async fn a_corrupt_json_column_is_reported_with_its_row() {
    let store = store();
    let org = store.ensure_organization("a", NOW).await.unwrap();
    store.insert_sandbox(&sandbox(&org.id, "s1", "one")).await.unwrap();
    store.db().execute("UPDATE sandboxes SET labels = 'not json' WHERE id = 's1'", []).unwrap();
    let error = store.find_sandbox(&org.id, "s1").await.unwrap_err();
    assert!(matches!(&error, StoreError::Corrupt { id, column: "labels" } if id == "s1"), "{error:?}");
    assert_eq!(error.to_string(), "stored labels of s1 is corrupt");
}

#[tokio::test]
async fn an_older_database_is_migrated_forward_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        // A database as the first release left it: only the first migration ran.
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(MIGRATIONS[0].1).unwrap();
        connection.execute_batch("PRAGMA user_version = 1").unwrap();
        connection
            .execute("INSERT INTO organizations (id, name, created_at) VALUES ('o1', 'old', ?1)", params![NOW])
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = store.db().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version as usize, MIGRATIONS.len());
    assert_eq!(store.ensure_organization("old", NOW).await.unwrap().id, "o1");
    // The later migrations' columns exist.
    store
        .ensure_snapshot(&SnapshotRow { source_sandbox_id: Some("s1".into()), ..snapshot(None, "g", "x") })
        .await
        .unwrap();
    drop(store);
    // Opening again runs nothing twice.
    SqliteStore::open(&path).unwrap();
}

#[tokio::test]
async fn a_database_from_a_newer_sandbar_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    Connection::open(&path).unwrap().execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len() + 1)).unwrap();
    let error = SqliteStore::open(&path).err().expect("a newer schema must be refused");
    assert!(matches!(error, StoreError::NewerSchema { .. }), "{error:?}");
}

#[tokio::test]
async fn a_failing_migration_leaves_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.db");
    {
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(MIGRATIONS[0].1).unwrap();
        // The column migration 0002 adds exists already, so 0002 fails.
        connection.execute_batch("ALTER TABLE sandboxes ADD COLUMN signing_key TEXT; PRAGMA user_version = 1").unwrap();
    }
    let error = SqliteStore::open(&path).err().expect("migration 0002 must fail");
    assert!(matches!(error, StoreError::Migration { name: "0002_sandbox_signing_key", .. }), "{error:?}");
    let version: i64 = Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 1);
}

#[tokio::test]
async fn migration_files_are_numbered_in_order() {
    for (index, (name, _)) in MIGRATIONS.iter().enumerate() {
        assert!(name.starts_with(&format!("{:04}_", index + 1)), "migration {index} is named {name}");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, MIGRATIONS.len(), "every file in {} is listed in MIGRATIONS", dir.display());
}

#[tokio::test]
async fn the_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    // An existing database left world-readable by an older sandbar is made private too.
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    store.ensure_organization("acme", NOW).await.unwrap();
    let mode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("private.db"), 0o600);
    assert_eq!(mode("private.db-wal"), 0o600, "the WAL holds the same rows");
    assert_eq!(mode("private.db-shm"), 0o600);
}
