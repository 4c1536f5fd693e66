//! The contract of [`Store`], written once against `&dyn Store`: every backend runs this suite
//! (`store_conformance!` makes one `#[tokio::test]` per case from a constructor), so a second
//! backend is held to exactly what the control plane relies on. The list case checks that a
//! backend's filtering, sorting and paging agree with `service::query`'s in-memory definition
//! on a table of queries.

use super::*;
use crate::model::{OrganizationQuota, UsageRow, VolumeMount};
use crate::service::{listing, query, ListQuery};
use sandbar_api::SandboxState;
use std::collections::BTreeMap;

pub(crate) const NOW: &str = "2026-12-07T10:00:00.000Z";

/// One `#[tokio::test]` per conformance case, each on a fresh store from `$make`.
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store::conformance::store_conformance!(@cases $make; organizations_are_created_once_per_name, keys_resolve_to_their_organization_until_revoked, an_ambiguous_prefix_revokes_nothing, sandboxes_round_trip_every_column, live_names_are_unique_per_organization_and_free_again_once_destroyed, lookups_are_scoped_by_organization_and_prefer_ids_to_names, lists_are_newest_first_and_leave_out_destroyed_unless_asked, signing_nonces_are_made_on_first_use_and_replaced_by_rotation, volumes_are_unique_by_name_and_scoped, snapshots_are_ensured_once_and_general_ones_are_visible_to_all, live_sandboxes_are_found_by_id_across_organizations, quotas_are_kept_per_organization, usage_rows_cover_live_sandboxes_of_one_or_all_organizations, queries_read_one_page_and_say_whether_more_follow,
            sql_lists_agree_with_the_query_module);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make;
                $crate::store::conformance::$case(&store).await;
            }
        )*
    };
}
pub(crate) use store_conformance;

pub(crate) fn sandbox(org: &str, id: &str, name: &str) -> SandboxRow {
    SandboxRow {
        env: BTreeMap::from([("A".into(), "1".into())]),
        labels: BTreeMap::from([("team".into(), "x".into())]),
        volumes: vec![VolumeMount { volume_id: "v1".into(), mount_path: "/data".into(), subpath: None }],
        ..crate::model::test_sandbox(org, id, name, NOW)
    }
}

pub(crate) fn key(org: &Organization, id: &str, prefix: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        organization_id: org.id.clone(),
        name: "label".into(),
        prefix: prefix.into(),
        created_at: NOW.into(),
        revoked_at: None,
    }
}

pub(crate) fn snapshot(org: Option<&str>, id: &str, name: &str) -> SnapshotRow {
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

async fn snapshot_names(store: &dyn Store, org: &str) -> Vec<String> {
    store.list_snapshots(org).await.unwrap().into_iter().map(|s| s.name).collect()
}

pub(crate) async fn organizations_are_created_once_per_name(store: &dyn Store) {
    let first = store.ensure_organization("acme", NOW).await.unwrap();
    let again = store.ensure_organization("acme", NOW).await.unwrap();
    let other = store.ensure_organization("other", NOW).await.unwrap();
    assert_eq!(first, again);
    assert_ne!(first.id, other.id);
}

pub(crate) async fn keys_resolve_to_their_organization_until_revoked(store: &dyn Store) {
    let org = store.ensure_organization("acme", NOW).await.unwrap();
    store.insert_api_key(&key(&org, "k1", "sb_aaa"), "hash-1").await.unwrap();
    assert_eq!(store.organization_of_key("hash-1").await.unwrap(), Some(org.clone()));
    assert_eq!(store.organization_of_key("hash-2").await.unwrap(), None);
    // The same hash twice is a conflict, not a second key.
    assert!(matches!(
        store.insert_api_key(&key(&org, "k2", "sb_bbb"), "hash-1").await,
        Err(StoreError::Conflict { .. })
    ));

    assert_eq!(store.revoke_api_key("sb_aaa", NOW).await.unwrap(), 1);
    assert_eq!(store.organization_of_key("hash-1").await.unwrap(), None);
    // A revoked key no longer matches, so revoking it again finds nothing.
    assert_eq!(store.revoke_api_key("k1", NOW).await.unwrap(), 0);
    let listed = store.list_api_keys().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.revoked_at.as_deref(), Some(NOW));
    assert_eq!(listed[0].1, "acme");
}

pub(crate) async fn an_ambiguous_prefix_revokes_nothing(store: &dyn Store) {
    let org = store.ensure_organization("acme", NOW).await.unwrap();
    store.insert_api_key(&key(&org, "k1", "same"), "h1").await.unwrap();
    store.insert_api_key(&key(&org, "k2", "same"), "h2").await.unwrap();
    assert_eq!(store.revoke_api_key("same", NOW).await.unwrap(), 2);
    assert!(store.organization_of_key("h1").await.unwrap().is_some());
    assert!(store.organization_of_key("h2").await.unwrap().is_some());
}

pub(crate) async fn sandboxes_round_trip_every_column(store: &dyn Store) {
    let org = store.ensure_organization("acme", NOW).await.unwrap();
    let mut row = sandbox(&org.id, "s1", "one");
    row.network_allow_list = Some("10.0.0.0/8".into());
    row.recoverable = Some(true);
    row.error_reason = Some("disk full".into());
    row.state = SandboxState::Error;
    store.insert_sandbox(&row).await.unwrap();
    assert_eq!(store.find_sandbox(&org.id, "s1").await.unwrap(), Some(row.clone()));

    row.state = SandboxState::Stopped;
    row.labels.insert("new".into(), "label".into());
    row.updated_at = "2026-12-07T11:00:00.000Z".into();
    store.update_sandbox(&row).await.unwrap();
    assert_eq!(store.find_sandbox(&org.id, "one").await.unwrap(), Some(row));
}

pub(crate) async fn live_names_are_unique_per_organization_and_free_again_once_destroyed(store: &dyn Store) {
    let a = store.ensure_organization("a", NOW).await.unwrap();
    let b = store.ensure_organization("b", NOW).await.unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s1", "web")).await.unwrap();
    let taken = store.insert_sandbox(&sandbox(&a.id, "s2", "web")).await;
    assert!(matches!(&taken, Err(StoreError::Conflict { what }) if what == "a sandbox named \"web\""), "{taken:?}");
    // Another organization may use the name.
    store.insert_sandbox(&sandbox(&b.id, "s3", "web")).await.unwrap();

    let mut gone = store.find_sandbox(&a.id, "s1").await.unwrap().unwrap();
    gone.state = SandboxState::Destroyed;
    store.update_sandbox(&gone).await.unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s2", "web")).await.unwrap();
    assert_eq!(store.find_sandbox(&a.id, "web").await.unwrap().map(|r| r.id), Some("s2".into()));
}

pub(crate) async fn lookups_are_scoped_by_organization_and_prefer_ids_to_names(store: &dyn Store) {
    let a = store.ensure_organization("a", NOW).await.unwrap();
    let b = store.ensure_organization("b", NOW).await.unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s1", "s2")).await.unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s2", "other")).await.unwrap();
    // "s2" is one sandbox's id and the other's name: the id wins.
    assert_eq!(store.find_sandbox(&a.id, "s2").await.unwrap().map(|r| r.id), Some("s2".into()));
    assert_eq!(store.find_sandbox(&b.id, "s1").await.unwrap(), None);
}

pub(crate) async fn lists_are_newest_first_and_leave_out_destroyed_unless_asked(store: &dyn Store) {
    let org = store.ensure_organization("a", NOW).await.unwrap();
    let mut old = sandbox(&org.id, "s-old", "old");
    old.created_at = "2026-12-01T00:00:00.000Z".into();
    let mut dead = sandbox(&org.id, "s-dead", "dead");
    dead.state = SandboxState::Destroyed;
    store.insert_sandbox(&old).await.unwrap();
    store.insert_sandbox(&sandbox(&org.id, "s-new", "new")).await.unwrap();
    store.insert_sandbox(&dead).await.unwrap();
    let ids = |rows: Vec<SandboxRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_sandboxes(&org.id, false).await.unwrap()), ["s-new", "s-old"]);
    assert_eq!(ids(store.list_sandboxes(&org.id, true).await.unwrap()), ["s-dead", "s-new", "s-old"]);
    assert_eq!(ids(store.all_live_sandboxes().await.unwrap()), ["s-new", "s-old"]);
}

pub(crate) async fn signing_nonces_are_made_on_first_use_and_replaced_by_rotation(store: &dyn Store) {
    let org = store.ensure_organization("a", NOW).await.unwrap();
    store.insert_sandbox(&sandbox(&org.id, "s1", "one")).await.unwrap();
    assert_eq!(store.signing_nonce_by_id("s1").await.unwrap(), None, "no nonce before first use");
    let first = store.signing_nonce(&org.id, "s1", false).await.unwrap().unwrap();
    assert_eq!(store.signing_nonce(&org.id, "s1", false).await.unwrap().as_deref(), Some(first.as_str()));
    let rotated = store.signing_nonce(&org.id, "s1", true).await.unwrap().unwrap();
    assert_ne!(first, rotated);
    assert_eq!(store.signing_nonce_by_id("s1").await.unwrap(), Some((org.clone(), rotated)));
    let other = store.ensure_organization("b", NOW).await.unwrap();
    assert_eq!(store.signing_nonce(&other.id, "s1", false).await.unwrap(), None, "another organization gets nothing");
}

pub(crate) async fn volumes_are_unique_by_name_and_scoped(store: &dyn Store) {
    let org = store.ensure_organization("a", NOW).await.unwrap();
    let volume = VolumeRow {
        id: "v1".into(),
        organization_id: org.id.clone(),
        name: "data".into(),
        state: "ready".into(),
        created_at: NOW.into(),
        updated_at: NOW.into(),
        last_used_at: None,
    };
    store.insert_volume(&volume).await.unwrap();
    let again = VolumeRow { id: "v2".into(), ..volume.clone() };
    assert!(matches!(store.insert_volume(&again).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.find_volume(&org.id, "data").await.unwrap(), Some(volume.clone()));
    assert_eq!(store.find_volume(&org.id, "v1").await.unwrap(), Some(volume.clone()));
    assert_eq!(store.find_volume("someone-else", "v1").await.unwrap(), None);
    assert_eq!(store.list_volumes(&org.id).await.unwrap(), vec![volume]);
    store.delete_volume("v1").await.unwrap();
    assert!(store.list_volumes(&org.id).await.unwrap().is_empty());
}

pub(crate) async fn snapshots_are_ensured_once_and_general_ones_are_visible_to_all(store: &dyn Store) {
    let a = store.ensure_organization("a", NOW).await.unwrap();
    let b = store.ensure_organization("b", NOW).await.unwrap();
    let general = store.ensure_snapshot(&snapshot(None, "g1", "default")).await.unwrap();
    // Ensuring the same name again returns the stored row, not the new one.
    assert_eq!(store.ensure_snapshot(&snapshot(None, "g2", "default")).await.unwrap(), general);
    let own = store.ensure_snapshot(&snapshot(Some(&a.id), "p1", "mine")).await.unwrap();
    assert_eq!(own.id, "p1");
    assert_eq!(snapshot_names(store, &a.id).await, ["default", "mine"]);
    assert_eq!(snapshot_names(store, &b.id).await, ["default"]);
    assert_eq!(store.find_snapshot(&b.id, "mine").await.unwrap(), None);
    assert_eq!(store.find_snapshot(&b.id, "default").await.unwrap().map(|s| s.id), Some("g1".into()));
    // An organization's snapshot named like a general one is found first for that organization.
    store.ensure_snapshot(&snapshot(Some(&a.id), "p2", "default")).await.unwrap();
    assert_eq!(store.find_snapshot(&a.id, "default").await.unwrap().map(|s| s.id), Some("p2".into()));
    store.delete_snapshot("p1").await.unwrap();
    assert_eq!(store.find_snapshot(&a.id, "p1").await.unwrap(), None);
}

pub(crate) async fn live_sandboxes_are_found_by_id_across_organizations(store: &dyn Store) {
    let a = store.ensure_organization("a", NOW).await.unwrap();
    let b = store.ensure_organization("b", NOW).await.unwrap();
    store.insert_sandbox(&sandbox(&a.id, "s1", "one")).await.unwrap();
    let mut other = sandbox(&b.id, "s2", "two");
    store.insert_sandbox(&other).await.unwrap();
    assert_eq!(store.find_live_sandbox("s1").await.unwrap().map(|r| r.organization_id), Some(a.id));
    assert_eq!(store.find_live_sandbox("s2").await.unwrap(), Some(other.clone()));
    assert_eq!(store.find_live_sandbox("one").await.unwrap(), None, "by id only, not by name");
    other.state = SandboxState::Destroyed;
    store.update_sandbox(&other).await.unwrap();
    assert_eq!(store.find_live_sandbox("s2").await.unwrap(), None, "a destroyed sandbox is not live");
}

pub(crate) async fn quotas_are_kept_per_organization(store: &dyn Store) {
    let a = store.ensure_organization("a", NOW).await.unwrap();
    let b = store.ensure_organization("b", NOW).await.unwrap();
    assert_eq!(store.find_organization("a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.find_organization("nope").await.unwrap(), None);
    assert_eq!(store.organization_quota(&a.id).await.unwrap(), OrganizationQuota::default(), "no quota by default");
    let quota = OrganizationQuota {
        max_sandboxes: Some(5),
        total_cpu: Some(8),
        total_memory: None,
        total_disk: Some(100),
        max_cpu_per_sandbox: Some(2),
        max_memory_per_sandbox: Some(4),
        max_disk_per_sandbox: None,
    };
    store.set_organization_quota(&a.id, &quota).await.unwrap();
    assert_eq!(store.organization_quota(&a.id).await.unwrap(), quota);
    assert_eq!(store.organization_quota(&b.id).await.unwrap(), OrganizationQuota::default(), "b is untouched");
    let lifted = OrganizationQuota { total_cpu: None, ..quota };
    store.set_organization_quota(&a.id, &lifted).await.unwrap();
    assert_eq!(store.organization_quota(&a.id).await.unwrap(), lifted, "a second set replaces the first");
}

pub(crate) async fn usage_rows_cover_live_sandboxes_of_one_or_all_organizations(store: &dyn Store) {
    let a = store.ensure_organization("a", NOW).await.unwrap();
    let b = store.ensure_organization("b", NOW).await.unwrap();
    let mut one = sandbox(&a.id, "s1", "one");
    (one.cpu, one.memory, one.disk, one.state) = (2, 3, 4, SandboxState::Stopped);
    store.insert_sandbox(&one).await.unwrap();
    store.insert_sandbox(&sandbox(&b.id, "s2", "two")).await.unwrap();
    let mut gone = sandbox(&a.id, "s3", "three");
    gone.state = SandboxState::Destroyed;
    store.insert_sandbox(&gone).await.unwrap();
    let mut rows = store.usage_rows(None).await.unwrap();
    rows.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["s1", "s2"], "destroyed ones hold nothing");
    assert_eq!(
        rows[0],
        UsageRow {
            id: "s1".into(),
            organization_id: a.id.clone(),
            target: one.target.clone(),
            state: SandboxState::Stopped,
            cpu: 2,
            memory: 3,
            disk: 4
        }
    );
    let of_a = store.usage_rows(Some(&a.id)).await.unwrap();
    assert_eq!(of_a.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["s1"]);
}

pub(crate) async fn queries_read_one_page_and_say_whether_more_follow(store: &dyn Store) {
    let org = store.ensure_organization("a", NOW).await.unwrap();
    for (id, name) in [("s1", "d"), ("s2", "b"), ("s3", "a"), ("s4", "c")] {
        store.insert_sandbox(&sandbox(&org.id, id, name)).await.unwrap();
    }
    let query = |page| SandboxQuery {
        organization_id: org.id.clone(),
        include_destroyed: false,
        id_prefix: None,
        name_prefix: None,
        states: Vec::new(),
        snapshots: Vec::new(),
        cpu: Bounds::default(),
        memory: Bounds::default(),
        disk: Bounds::default(),
        public: None,
        recoverable: None,
        created_at: Bounds::default(),
        last_activity_at: Bounds::default(),
        sort: SortField::Name,
        ascending: true,
        page,
    };
    let read = |page| {
        let query = query(page);
        async move {
            let page = store.query_sandboxes(&query).await.unwrap();
            (page.rows.into_iter().map(|r| r.name).collect::<Vec<_>>(), page.more)
        }
    };
    assert_eq!(read(None).await, (vec!["a".into(), "b".into(), "c".into(), "d".into()], false));
    assert_eq!(read(Some(Window { offset: 1, limit: 2 })).await, (vec!["b".into(), "c".into()], true));
    assert_eq!(read(Some(Window { offset: 2, limit: 2 })).await, (vec!["c".into(), "d".into()], false));
    assert_eq!(read(Some(Window { offset: 9, limit: 2 })).await, (Vec::new(), false));
}

/// Rows that differ, and tie, in every filtered and sorted field; one of another organization.
fn list_rows(org: &str, other: &str) -> Vec<SandboxRow> {
    let names =
        ["alpha", "Beta", "ALPHA-2", "gamma", "delta", "a_b", "epsilon", "Zeta", "eta", "theta", "iota", "kappa"];
    let states = [SandboxState::Started, SandboxState::Stopped, SandboxState::Error, SandboxState::Destroyed];
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut row = sandbox(org, &format!("{}-{i:02}", if i % 3 == 0 { "Id" } else { "id" }), name);
            let n = i as i64;
            row.cpu = n % 4 + 1;
            row.memory = (n * 7) % 5 + 1;
            row.disk = 10 - n % 3;
            row.state = states[i % 4];
            row.snapshot = if i % 5 == 0 { "mine".into() } else { "default".into() };
            row.public = i % 2 == 1;
            row.recoverable = [None, Some(true), Some(false)][i % 3];
            row.created_at = format!("2026-01-{:02}T00:00:00.000Z", 1 + (n * 5) % 7);
            row.last_activity_at = format!("2026-02-{:02}T00:00:00.000Z", 1 + (n * 3) % 4);
            row.labels = BTreeMap::new();
            if i % 2 == 0 {
                row.labels.insert("team".into(), "a".into());
            }
            if i % 3 == 0 {
                row.labels.insert("tier".into(), "gold".into());
            }
            if i == 11 {
                row.organization_id = other.into();
            }
            row
        })
        .collect()
}

/// The queries the SQL path is checked on: every filter alone and combined, every sort in both
/// directions, the residual (label and non-ASCII prefix) path, and several page sizes.
fn list_queries() -> Vec<ListQuery> {
    let q = ListQuery::default;
    let team = BTreeMap::from([("team".to_string(), "a".to_string())]);
    let both = BTreeMap::from([("team".to_string(), "a".to_string()), ("tier".to_string(), "gold".to_string())]);
    let mut queries = vec![
        q(),
        ListQuery { include_errored_deleted: true, ..q() },
        ListQuery { name: Some("al".into()), ..q() },
        ListQuery { name: Some("ALPHA".into()), include_errored_deleted: true, ..q() },
        ListQuery { name: Some("a_".into()), ..q() },
        ListQuery { name: Some(String::new()), ..q() },
        ListQuery { name: Some("é".into()), ..q() },
        ListQuery { id: Some("ID-0".into()), ..q() },
        ListQuery { id: Some("id-1".into()), include_errored_deleted: true, ..q() },
        ListQuery { labels: team.clone(), ..q() },
        ListQuery { labels: both, include_errored_deleted: true, ..q() },
        ListQuery { labels: team, name: Some("e".into()), limit: Some(1), ..q() },
        ListQuery { states: vec![SandboxState::Stopped, SandboxState::Error], ..q() },
        ListQuery { states: vec![SandboxState::Destroyed], include_errored_deleted: true, ..q() },
        ListQuery { snapshots: vec!["mine".into()], include_errored_deleted: true, ..q() },
        ListQuery { snapshots: vec!["mine".into(), "default".into()], ..q() },
        ListQuery { min_cpu: Some(2), max_cpu: Some(3), ..q() },
        ListQuery { min_memory: Some(3), ..q() },
        ListQuery { max_disk: Some(9), min_disk: Some(9), ..q() },
        ListQuery { is_public: Some(true), ..q() },
        ListQuery { is_public: Some(false), include_errored_deleted: true, ..q() },
        ListQuery { is_recoverable: Some(true), ..q() },
        ListQuery { is_recoverable: Some(false), include_errored_deleted: true, ..q() },
        ListQuery {
            created_after: Some("2026-01-02T00:00:00.000Z".into()),
            created_before: Some("2026-01-05T00:00:00.000Z".into()),
            ..q()
        },
        ListQuery { activity_after: Some("2026-02-03T00:00:00.000Z".into()), ..q() },
        ListQuery { activity_before: Some("2026-02-02T00:00:00.000Z".into()), include_errored_deleted: true, ..q() },
        ListQuery { min_cpu: Some(2), is_public: Some(true), states: vec![SandboxState::Started], ..q() },
    ];
    for sort in ["name", "cpu", "memoryGib", "diskGib", "lastActivityAt", "createdAt"] {
        for ascending in [false, true] {
            queries.push(ListQuery { sort: Some(sort.into()), ascending, include_errored_deleted: true, ..q() });
        }
    }
    let paged: Vec<ListQuery> = queries
        .iter()
        .flat_map(|query| [1, 2, 3, 200].map(|limit| ListQuery { limit: Some(limit), ..query.clone() }))
        .collect();
    queries.extend(paged);
    queries
}

pub(crate) async fn sql_lists_agree_with_the_query_module(store: &dyn Store) {
    let org = store.ensure_organization("a", NOW).await.unwrap();
    let other = store.ensure_organization("b", NOW).await.unwrap();
    for row in list_rows(&org.id, &other.id) {
        store.insert_sandbox(&row).await.unwrap();
    }
    for query in list_queries() {
        let rows = store.list_sandboxes(&org.id, query.include_errored_deleted).await.unwrap();
        let expected_all = query::select(rows, &query).unwrap();
        let actual_all = listing::list_all(store, &org.id, &query).await.unwrap();
        assert_eq!(ids(&actual_all), ids(&expected_all), "unpaged {query:?}");
        assert!(
            !expected_all.is_empty()
                || query.name.is_some()
                || query.id.is_some()
                || !query.labels.is_empty()
                || query.states.len() == 1,
            "the rows exercise {query:?}"
        );
        // Every page, following the cursors, as the in-memory path pages them.
        let mut paging = query.clone();
        loop {
            let expected = query::page(expected_all.clone(), query::window(&paging).unwrap());
            let actual = listing::list_page(store, &org.id, &paging).await.unwrap();
            assert_eq!(ids(&actual.0), ids(&expected.0), "page of {paging:?}");
            assert_eq!(actual.1, expected.1, "cursor after {paging:?}");
            match actual.1 {
                Some(cursor) => paging.cursor = Some(cursor),
                None => break,
            }
        }
    }
    // A bad sort is refused before the store is asked, with the query module's message.
    let bad = ListQuery { sort: Some("color".into()), ..ListQuery::default() };
    assert_eq!(
        listing::list_page(store, &org.id, &bad).await.unwrap_err().to_string(),
        "sort \"color\" must be one of name, cpu, memoryGib, diskGib, lastActivityAt, createdAt"
    );
}

fn ids(rows: &[SandboxRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}
