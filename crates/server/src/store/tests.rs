//! The store's own tests, on an in-memory database (no root, no runtime): every method's
//! contract, the uniqueness rules, corrupt rows, and migrations from older schema versions.

use super::*;
use sandbar_api::SandboxState;
use std::collections::BTreeMap;

const NOW: &str = "2026-12-07T10:00:00.000Z";

fn store() -> Store {
    Store::in_memory().expect("in-memory store")
}

fn sandbox(org: &str, id: &str, name: &str) -> SandboxRow {
    SandboxRow {
        id: id.into(),
        organization_id: org.into(),
        name: name.into(),
        snapshot: "default".into(),
        user: "daytona".into(),
        env: BTreeMap::from([("A".into(), "1".into())]),
        labels: BTreeMap::from([("team".into(), "x".into())]),
        public: false,
        network_block_all: false,
        network_allow_list: None,
        domain_allow_list: None,
        target: "local".into(),
        cpu: 1,
        gpu: 0,
        memory: 1,
        disk: 3,
        state: SandboxState::Started,
        desired_state: SandboxState::Started,
        error_reason: None,
        recoverable: None,
        auto_stop_interval: Some(15),
        auto_archive_interval: Some(10080),
        auto_delete_interval: None,
        auto_pause_interval: None,
        volumes: vec![VolumeMount { volume_id: "v1".into(), mount_path: "/data".into(), subpath: None }],
        created_at: NOW.into(),
        updated_at: NOW.into(),
        last_activity_at: NOW.into(),
        state_changed_at: NOW.into(),
    }
}

fn key(org: &Organization, id: &str, prefix: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        organization_id: org.id.clone(),
        name: "label".into(),
        prefix: prefix.into(),
        created_at: NOW.into(),
        revoked_at: None,
    }
}

fn snapshot(org: Option<&str>, id: &str, name: &str) -> SnapshotRow {
    SnapshotRow {
        id: id.into(),
        organization_id: org.map(str::to_string),
        name: name.into(),
        image: format!("image-{id}"),
        source_sandbox_id: None,
        state: "active".into(),
        general: org.is_none(),
        cpu: 1,
        gpu: 0,
        mem: 1,
        disk: 3,
        created_at: NOW.into(),
        updated_at: NOW.into(),
        last_used_at: None,
    }
}

#[test]
fn organizations_are_created_once_per_name() {
    let store = store();
    let first = store.ensure_organization("acme", NOW).unwrap();
    let again = store.ensure_organization("acme", NOW).unwrap();
    let other = store.ensure_organization("other", NOW).unwrap();
    assert_eq!(first, again);
    assert_ne!(first.id, other.id);
}

#[test]
fn keys_resolve_to_their_organization_until_revoked() {
    let store = store();
    let org = store.ensure_organization("acme", NOW).unwrap();
    store.insert_api_key(&key(&org, "k1", "sb_aaa"), "hash-1").unwrap();
    assert_eq!(store.organization_of_key("hash-1").unwrap(), Some(org.clone()));
    assert_eq!(store.organization_of_key("hash-2").unwrap(), None);
    // The same hash twice is a conflict, not a second key.
    assert!(matches!(store.insert_api_key(&key(&org, "k2", "sb_bbb"), "hash-1"), Err(StoreError::Conflict { .. })));

    assert_eq!(store.revoke_api_key("sb_aaa", NOW).unwrap(), 1);
    assert_eq!(store.organization_of_key("hash-1").unwrap(), None);
    // A revoked key no longer matches, so revoking it again finds nothing.
    assert_eq!(store.revoke_api_key("k1", NOW).unwrap(), 0);
    let listed = store.list_api_keys().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.revoked_at.as_deref(), Some(NOW));
    assert_eq!(listed[0].1, "acme");
}

#[test]
fn an_ambiguous_prefix_revokes_nothing() {
    let store = store();
    let org = store.ensure_organization("acme", NOW).unwrap();
    store.insert_api_key(&key(&org, "k1", "same"), "h1").unwrap();
    store.insert_api_key(&key(&org, "k2", "same"), "h2").unwrap();
    assert_eq!(store.revoke_api_key("same", NOW).unwrap(), 2);
    assert!(store.organization_of_key("h1").unwrap().is_some());
    assert!(store.organization_of_key("h2").unwrap().is_some());
}

#[test]
fn sandboxes_round_trip_every_column() {
    let store = store();
    let org = store.ensure_organization("acme", NOW).unwrap();
    let mut row = sandbox(&org.id, "s1", "one");
    row.network_allow_list = Some("10.0.0.0/8".into());
    row.recoverable = Some(true);
    row.error_reason = Some("disk full".into());
    row.state = SandboxState::Error;
    store.insert_sandbox(&row).unwrap();
    assert_eq!(store.find_sandbox(&org.id, "s1").unwrap(), Some(row.clone()));

    row.state = SandboxState::Stopped;
    row.labels.insert("new".into(), "label".into());
    row.updated_at = "2026-12-07T11:00:00.000Z".into();
    store.update_sandbox(&row).unwrap();
    assert_eq!(store.find_sandbox(&org.id, "one").unwrap(), Some(row));
}

#[test]
fn live_names_are_unique_per_organization_and_free_again_once_destroyed() {
    let store = store();
    let a = store.ensure_organization("a", NOW).unwrap();
    let b = store.ensure_organization("b", NOW).unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s1", "web")).unwrap();
    let taken = store.insert_sandbox(&sandbox(&a.id, "s2", "web"));
    assert!(matches!(&taken, Err(StoreError::Conflict { what }) if what == "a sandbox named \"web\""), "{taken:?}");
    // Another organization may use the name.
    store.insert_sandbox(&sandbox(&b.id, "s3", "web")).unwrap();

    let mut gone = store.find_sandbox(&a.id, "s1").unwrap().unwrap();
    gone.state = SandboxState::Destroyed;
    store.update_sandbox(&gone).unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s2", "web")).unwrap();
    assert_eq!(store.find_sandbox(&a.id, "web").unwrap().map(|r| r.id), Some("s2".into()));
}

#[test]
fn lookups_are_scoped_by_organization_and_prefer_ids_to_names() {
    let store = store();
    let a = store.ensure_organization("a", NOW).unwrap();
    let b = store.ensure_organization("b", NOW).unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s1", "s2")).unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s2", "other")).unwrap();
    // "s2" is one sandbox's id and the other's name: the id wins.
    assert_eq!(store.find_sandbox(&a.id, "s2").unwrap().map(|r| r.id), Some("s2".into()));
    assert_eq!(store.find_sandbox(&b.id, "s1").unwrap(), None);
}

#[test]
fn lists_are_newest_first_and_leave_out_destroyed_unless_asked() {
    let store = store();
    let org = store.ensure_organization("a", NOW).unwrap();
    let mut old = sandbox(&org.id, "s-old", "old");
    old.created_at = "2026-12-01T00:00:00.000Z".into();
    let mut dead = sandbox(&org.id, "s-dead", "dead");
    dead.state = SandboxState::Destroyed;
    store.insert_sandbox(&old).unwrap();
    store.insert_sandbox(&sandbox(&org.id, "s-new", "new")).unwrap();
    store.insert_sandbox(&dead).unwrap();
    let ids = |rows: Vec<SandboxRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_sandboxes(&org.id, false).unwrap()), ["s-new", "s-old"]);
    assert_eq!(ids(store.list_sandboxes(&org.id, true).unwrap()), ["s-dead", "s-new", "s-old"]);
    assert_eq!(ids(store.all_live_sandboxes().unwrap()), ["s-new", "s-old"]);
}

#[test]
fn a_corrupt_json_column_is_reported_with_its_row() {
    let store = store();
    let org = store.ensure_organization("a", NOW).unwrap();
    store.insert_sandbox(&sandbox(&org.id, "s1", "one")).unwrap();
    store.db().execute("UPDATE sandboxes SET labels = 'not json' WHERE id = 's1'", []).unwrap();
    let error = store.find_sandbox(&org.id, "s1").unwrap_err();
    assert!(matches!(&error, StoreError::Corrupt { id, column: "labels" } if id == "s1"), "{error:?}");
    assert_eq!(error.to_string(), "stored labels of s1 is corrupt");
}

#[test]
fn signing_keys_are_made_on_first_use_and_replaced_by_rotation() {
    let store = store();
    let org = store.ensure_organization("a", NOW).unwrap();
    store.insert_sandbox(&sandbox(&org.id, "s1", "one")).unwrap();
    assert_eq!(store.signing_key_by_id("s1").unwrap(), None, "no key before first use");
    let first = store.signing_key(&org.id, "s1", false).unwrap().unwrap();
    assert_eq!(store.signing_key(&org.id, "s1", false).unwrap().as_deref(), Some(first.as_str()));
    let rotated = store.signing_key(&org.id, "s1", true).unwrap().unwrap();
    assert_ne!(first, rotated);
    assert_eq!(store.signing_key_by_id("s1").unwrap(), Some((org.clone(), rotated)));
    let other = store.ensure_organization("b", NOW).unwrap();
    assert_eq!(store.signing_key(&other.id, "s1", false).unwrap(), None, "another organization gets nothing");
}

#[test]
fn volumes_are_unique_by_name_and_scoped() {
    let store = store();
    let org = store.ensure_organization("a", NOW).unwrap();
    let volume = VolumeRow {
        id: "v1".into(),
        organization_id: org.id.clone(),
        name: "data".into(),
        state: "ready".into(),
        created_at: NOW.into(),
        updated_at: NOW.into(),
        last_used_at: None,
    };
    store.insert_volume(&volume).unwrap();
    let again = VolumeRow { id: "v2".into(), ..volume.clone() };
    assert!(matches!(store.insert_volume(&again), Err(StoreError::Conflict { .. })));
    assert_eq!(store.find_volume(&org.id, "data").unwrap(), Some(volume.clone()));
    assert_eq!(store.find_volume(&org.id, "v1").unwrap(), Some(volume.clone()));
    assert_eq!(store.find_volume("someone-else", "v1").unwrap(), None);
    assert_eq!(store.list_volumes(&org.id).unwrap(), vec![volume]);
    store.delete_volume("v1").unwrap();
    assert!(store.list_volumes(&org.id).unwrap().is_empty());
}

#[test]
fn snapshots_are_ensured_once_and_general_ones_are_visible_to_all() {
    let store = store();
    let a = store.ensure_organization("a", NOW).unwrap();
    let b = store.ensure_organization("b", NOW).unwrap();
    let general = store.ensure_snapshot(&snapshot(None, "g1", "default")).unwrap();
    // Ensuring the same name again returns the stored row, not the new one.
    assert_eq!(store.ensure_snapshot(&snapshot(None, "g2", "default")).unwrap(), general);
    let own = store.ensure_snapshot(&snapshot(Some(&a.id), "p1", "mine")).unwrap();
    assert_eq!(own.id, "p1");
    let names = |org: &str| store.list_snapshots(org).unwrap().into_iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names(&a.id), ["default", "mine"]);
    assert_eq!(names(&b.id), ["default"]);
    assert_eq!(store.find_snapshot(&b.id, "mine").unwrap(), None);
    assert_eq!(store.find_snapshot(&b.id, "default").unwrap().map(|s| s.id), Some("g1".into()));
    // An organization's snapshot named like a general one is found first for that organization.
    store.ensure_snapshot(&snapshot(Some(&a.id), "p2", "default")).unwrap();
    assert_eq!(store.find_snapshot(&a.id, "default").unwrap().map(|s| s.id), Some("p2".into()));
    store.delete_snapshot("p1").unwrap();
    assert_eq!(store.find_snapshot(&a.id, "p1").unwrap(), None);
}

#[test]
fn an_older_database_is_migrated_forward_and_keeps_its_rows() {
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
    let store = Store::open(&path).unwrap();
    let version: i64 = store.db().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version as usize, MIGRATIONS.len());
    assert_eq!(store.ensure_organization("old", NOW).unwrap().id, "o1");
    // The later migrations' columns exist.
    store.ensure_snapshot(&SnapshotRow { source_sandbox_id: Some("s1".into()), ..snapshot(None, "g", "x") }).unwrap();
    drop(store);
    // Opening again runs nothing twice.
    Store::open(&path).unwrap();
}

#[test]
fn a_database_from_a_newer_sandbar_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    Connection::open(&path).unwrap().execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len() + 1)).unwrap();
    let error = Store::open(&path).err().expect("a newer schema must be refused");
    assert!(matches!(error, StoreError::NewerSchema { .. }), "{error:?}");
}

#[test]
fn a_failing_migration_leaves_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.db");
    {
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch(MIGRATIONS[0].1).unwrap();
        // The column migration 0002 adds exists already, so 0002 fails.
        connection.execute_batch("ALTER TABLE sandboxes ADD COLUMN signing_key TEXT; PRAGMA user_version = 1").unwrap();
    }
    let error = Store::open(&path).err().expect("migration 0002 must fail");
    assert!(matches!(error, StoreError::Migration { name: "0002_sandbox_signing_key", .. }), "{error:?}");
    let version: i64 = Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 1);
}

#[test]
fn migration_files_are_numbered_in_order() {
    for (index, (name, _)) in MIGRATIONS.iter().enumerate() {
        assert!(name.starts_with(&format!("{:04}_", index + 1)), "migration {index} is named {name}");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, MIGRATIONS.len(), "every file in {} is listed in MIGRATIONS", dir.display());
}

#[test]
fn the_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    // An existing database left world-readable by an older sandbar is made private too.
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&path).unwrap();
    store.ensure_organization("acme", NOW).unwrap();
    let mode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("private.db"), 0o600);
    assert_eq!(mode("private.db-wal"), 0o600, "the WAL holds the same rows");
    assert_eq!(mode("private.db-shm"), 0o600);
}
