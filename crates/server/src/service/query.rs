//! Which sandboxes a list shows and in which order: filters, sorting and the paging cursors.
//! Pure: rows in, rows out. This is the one definition of what a list query means: [`plan`]
//! hands the store the part its database matches exactly (see `listing`), and [`select`] is the
//! same query over rows in memory.

use super::ServiceError;
use crate::model::SandboxRow;
use crate::store::{Bounds, SandboxQuery, SortField};
use sandbar_api::SandboxState;
use std::collections::BTreeMap;

/// Filters and paging of a sandbox list, already parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
    /// Page size (1-200, default 100).
    pub limit: Option<i64>,
    /// Id prefix.
    pub id: Option<String>,
    /// Name prefix.
    pub name: Option<String>,
    /// All of these labels must match.
    pub labels: BTreeMap<String, String>,
    /// Any of these states.
    pub states: Vec<SandboxState>,
    /// Any of these snapshots.
    pub snapshots: Vec<String>,
    /// Resource bounds.
    pub min_cpu: Option<i64>,
    #[allow(missing_docs)]
    pub max_cpu: Option<i64>,
    #[allow(missing_docs)]
    pub min_memory: Option<i64>,
    #[allow(missing_docs)]
    pub max_memory: Option<i64>,
    #[allow(missing_docs)]
    pub min_disk: Option<i64>,
    #[allow(missing_docs)]
    pub max_disk: Option<i64>,
    /// Public flag.
    pub is_public: Option<bool>,
    /// Recoverable flag.
    pub is_recoverable: Option<bool>,
    /// Creation time bounds (ISO datetimes).
    pub created_after: Option<String>,
    #[allow(missing_docs)]
    pub created_before: Option<String>,
    /// Last activity bounds (ISO datetimes).
    pub activity_after: Option<String>,
    #[allow(missing_docs)]
    pub activity_before: Option<String>,
    /// Sort key: name, cpu, memoryGib, diskGib, lastActivityAt (default), createdAt.
    pub sort: Option<String>,
    /// asc or desc (default).
    pub ascending: bool,
    /// Include destroyed and errored sandboxes.
    pub include_errored_deleted: bool,
}

/// Where a page starts and how long it is: the cursor's offset (0 without one) and the limit
/// (1-200, default 100).
pub(crate) use crate::store::Window;

/// What the store is asked for a list: the query in the store's terms, and whether that is the
/// whole query (otherwise [`select`] finishes it on the rows the store returns).
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub query: SandboxQuery,
    pub exact: bool,
}

/// The store's part of `query` for the sandboxes of `organization_id`, unpaged. Labels are a
/// JSON column, which SQL databases each match in their own dialect, so they stay here; so do
/// prefixes that are not ASCII (SQL's `LOWER` folds ASCII letters only, and the names and ids
/// it compares with are ASCII: admission's `validate_name` and the server's UUIDs).
pub(crate) fn plan(organization_id: &str, query: &ListQuery) -> Result<Plan, ServiceError> {
    let sort = sort_field(query.sort.as_deref().unwrap_or("lastActivityAt"))?;
    let ascii = |prefix: &Option<String>| prefix.as_ref().is_none_or(|p| p.is_ascii());
    let exact = query.labels.is_empty() && ascii(&query.id) && ascii(&query.name);
    let pushed = |prefix: &Option<String>| prefix.clone().filter(|p| p.is_ascii());
    let bounds = |min: Option<i64>, max: Option<i64>| Bounds { min, max };
    let times = |min: &Option<String>, max: &Option<String>| Bounds { min: min.clone(), max: max.clone() };
    Ok(Plan {
        query: SandboxQuery {
            organization_id: organization_id.to_string(),
            include_destroyed: query.include_errored_deleted,
            id_prefix: pushed(&query.id),
            name_prefix: pushed(&query.name),
            states: query.states.clone(),
            snapshots: query.snapshots.clone(),
            cpu: bounds(query.min_cpu, query.max_cpu),
            memory: bounds(query.min_memory, query.max_memory),
            disk: bounds(query.min_disk, query.max_disk),
            public: query.is_public,
            recoverable: query.is_recoverable,
            created_at: times(&query.created_after, &query.created_before),
            last_activity_at: times(&query.activity_after, &query.activity_before),
            sort,
            ascending: query.ascending,
            page: None,
        },
        exact,
    })
}

/// The cursor after `window` when more rows follow it.
pub(crate) fn next_cursor(window: Window, more: bool) -> Option<String> {
    more.then(|| encode_cursor(window.offset + window.limit))
}

/// The page `query` asks for, checked before anything is read.
pub(crate) fn window(query: &ListQuery) -> Result<Window, ServiceError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=200).contains(&limit) {
        return Err(ServiceError::Invalid(format!("limit {limit} must be between 1 and 200")));
    }
    let offset = match &query.cursor {
        None => 0,
        Some(cursor) => decode_cursor(cursor)?,
    };
    Ok(Window { offset, limit: limit as usize })
}

/// The rows `query` selects, in its order (default: last activity, newest first).
pub(crate) fn select(rows: Vec<SandboxRow>, query: &ListQuery) -> Result<Vec<SandboxRow>, ServiceError> {
    let mut rows: Vec<SandboxRow> = rows.into_iter().filter(|row| matches_query(row, query)).collect();
    sort_rows(&mut rows, query.sort.as_deref().unwrap_or("lastActivityAt"), query.ascending)?;
    Ok(rows)
}

/// One page of `rows` (already selected and sorted), and the cursor of the next page when there
/// is one.
pub(crate) fn page(rows: Vec<SandboxRow>, window: Window) -> (Vec<SandboxRow>, Option<String>) {
    let total = rows.len();
    let page: Vec<SandboxRow> = rows.into_iter().skip(window.offset).take(window.limit).collect();
    let next = window.offset + page.len();
    let cursor = (next < total).then(|| encode_cursor(next));
    (page, cursor)
}

fn matches_query(row: &SandboxRow, q: &ListQuery) -> bool {
    let within = |value: i64, min: Option<i64>, max: Option<i64>| {
        min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m)
    };
    // Prefixes match regardless of case, as the spec says.
    let prefix = |value: &str, p: &str| value.to_lowercase().starts_with(&p.to_lowercase());
    q.id.as_ref().is_none_or(|p| prefix(&row.id, p))
        && q.name.as_ref().is_none_or(|p| prefix(&row.name, p))
        && q.labels.iter().all(|(k, v)| row.labels.get(k) == Some(v))
        && (q.states.is_empty() || q.states.contains(&row.state))
        && (q.snapshots.is_empty() || q.snapshots.contains(&row.snapshot))
        && within(row.cpu, q.min_cpu, q.max_cpu)
        && within(row.memory, q.min_memory, q.max_memory)
        && within(row.disk, q.min_disk, q.max_disk)
        && q.is_public.is_none_or(|p| row.public == p)
        && q.is_recoverable.is_none_or(|r| row.recoverable.unwrap_or(false) == r)
        // Times are the store's fixed-width UTC text, so text order is time order; bounds are
        // inclusive, as Daytona's.
        && q.created_after.as_ref().is_none_or(|t| row.created_at.as_str() >= t.as_str())
        && q.created_before.as_ref().is_none_or(|t| row.created_at.as_str() <= t.as_str())
        && q.activity_after.as_ref().is_none_or(|t| row.last_activity_at.as_str() >= t.as_str())
        && q.activity_before.as_ref().is_none_or(|t| row.last_activity_at.as_str() <= t.as_str())
}

/// The sort key named `sort`.
fn sort_field(sort: &str) -> Result<SortField, ServiceError> {
    Ok(match sort {
        "name" => SortField::Name,
        "cpu" => SortField::Cpu,
        "memoryGib" => SortField::Memory,
        "diskGib" => SortField::Disk,
        "lastActivityAt" => SortField::LastActivityAt,
        "createdAt" => SortField::CreatedAt,
        other => {
            return Err(ServiceError::Invalid(format!(
                "sort {other:?} must be one of name, cpu, memoryGib, diskGib, lastActivityAt, createdAt"
            )))
        }
    })
}

fn sort_rows(rows: &mut [SandboxRow], sort: &str, ascending: bool) -> Result<(), ServiceError> {
    let key: fn(&SandboxRow, &SandboxRow) -> std::cmp::Ordering = match sort_field(sort)? {
        SortField::Name => |a, b| a.name.cmp(&b.name),
        SortField::Cpu => |a, b| a.cpu.cmp(&b.cpu),
        SortField::Memory => |a, b| a.memory.cmp(&b.memory),
        SortField::Disk => |a, b| a.disk.cmp(&b.disk),
        SortField::LastActivityAt => |a, b| a.last_activity_at.cmp(&b.last_activity_at),
        SortField::CreatedAt => |a, b| a.created_at.cmp(&b.created_at),
    };
    // Ties break on id so pages never overlap or skip.
    rows.sort_by(|a, b| {
        let order = key(a, b).then_with(|| a.id.cmp(&b.id));
        if ascending {
            order
        } else {
            order.reverse()
        }
    });
    Ok(())
}

fn encode_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Result<usize, ServiceError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ServiceError::Invalid(format!("cursor {cursor:?} is not one this server issued")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, name: &str) -> SandboxRow {
        SandboxRow {
            auto_delete_interval: Some(-1),
            ..crate::model::test_sandbox("org", id, name, "2026-01-01T00:00:00.000Z")
        }
    }

    /// Five sandboxes that differ in every filtered field.
    fn rows() -> Vec<SandboxRow> {
        let mut rows: Vec<SandboxRow> = ["alpha", "Beta", "gamma", "delta", "epsilon"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut r = row(&format!("id-{i}"), name);
                r.cpu = i as i64 + 1;
                r.memory = 2 * (i as i64 + 1);
                r.disk = 10 - i as i64;
                r.created_at = format!("2026-01-0{}T00:00:00.000Z", i + 1);
                r.last_activity_at = format!("2026-02-0{}T00:00:00.000Z", 5 - i);
                r
            })
            .collect();
        rows[0].labels.insert("team".into(), "a".into());
        rows[1].labels.insert("team".into(), "a".into());
        rows[1].labels.insert("tier".into(), "gold".into());
        rows[2].state = SandboxState::Stopped;
        rows[3].state = SandboxState::Error;
        rows[3].recoverable = Some(true);
        rows[4].snapshot = "mine".into();
        rows[4].public = true;
        rows
    }

    fn names(query: ListQuery) -> Vec<String> {
        select(rows(), &query).unwrap().into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn every_filter_narrows_the_list() {
        let q = ListQuery::default;
        assert_eq!(names(ListQuery { name: Some("beta".into()), ..q() }), ["Beta"], "prefixes ignore case");
        assert_eq!(names(ListQuery { id: Some("ID-2".into()), ..q() }), ["gamma"]);
        let team = BTreeMap::from([("team".to_string(), "a".to_string())]);
        assert_eq!(
            names(ListQuery { labels: team.clone(), ascending: true, sort: Some("name".into()), ..q() }),
            ["Beta", "alpha"]
        );
        let both = BTreeMap::from([("team".to_string(), "a".to_string()), ("tier".to_string(), "gold".to_string())]);
        assert_eq!(names(ListQuery { labels: both, ..q() }), ["Beta"], "all labels must match");
        assert_eq!(
            names(ListQuery { states: vec![SandboxState::Stopped, SandboxState::Error], ..q() }),
            ["gamma", "delta"]
        );
        assert_eq!(names(ListQuery { snapshots: vec!["mine".into()], ..q() }), ["epsilon"]);
        assert_eq!(
            names(ListQuery { min_cpu: Some(2), max_cpu: Some(3), ..q() }),
            ["Beta", "gamma"],
            "bounds are inclusive"
        );
        assert_eq!(names(ListQuery { min_memory: Some(8), ..q() }), ["delta", "epsilon"]);
        assert_eq!(names(ListQuery { max_disk: Some(7), ..q() }), ["delta", "epsilon"]);
        assert_eq!(names(ListQuery { is_public: Some(true), ..q() }), ["epsilon"]);
        assert_eq!(names(ListQuery { is_recoverable: Some(true), ..q() }), ["delta"]);
        assert_eq!(names(ListQuery { is_recoverable: Some(false), ..q() }).len(), 4, "unset counts as not recoverable");
        assert_eq!(
            names(ListQuery {
                created_after: Some("2026-01-02T00:00:00.000Z".into()),
                created_before: Some("2026-01-03T00:00:00.000Z".into()),
                ..q()
            }),
            ["Beta", "gamma"],
            "time bounds are inclusive"
        );
        assert_eq!(
            names(ListQuery { activity_before: Some("2026-02-02T00:00:00.000Z".into()), ..q() }),
            ["delta", "epsilon"]
        );
        assert_eq!(names(ListQuery { activity_after: Some("2026-02-05T00:00:00.000Z".into()), ..q() }), ["alpha"]);
        assert!(names(ListQuery { name: Some("zeta".into()), ..q() }).is_empty());
    }

    #[test]
    fn sorting_defaults_to_newest_activity_and_breaks_ties_on_id() {
        let q = ListQuery::default;
        assert_eq!(names(q()), ["alpha", "Beta", "gamma", "delta", "epsilon"], "last activity, newest first");
        assert_eq!(names(ListQuery { ascending: true, ..q() }), ["epsilon", "delta", "gamma", "Beta", "alpha"]);
        assert_eq!(
            names(ListQuery { sort: Some("cpu".into()), ..q() }),
            ["epsilon", "delta", "gamma", "Beta", "alpha"]
        );
        assert_eq!(names(ListQuery { sort: Some("diskGib".into()), ascending: true, ..q() })[0], "epsilon");
        assert_eq!(names(ListQuery { sort: Some("memoryGib".into()), ..q() })[0], "epsilon");
        assert_eq!(names(ListQuery { sort: Some("createdAt".into()), ascending: true, ..q() })[0], "alpha");
        assert_eq!(
            names(ListQuery { sort: Some("name".into()), ascending: true, ..q() }),
            ["Beta", "alpha", "delta", "epsilon", "gamma"],
            "names sort by byte order"
        );
        let mut same = vec![row("b", "x"), row("c", "x"), row("a", "x")];
        sort_rows(&mut same, "name", true).unwrap();
        assert_eq!(same.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        sort_rows(&mut same, "name", false).unwrap();
        assert_eq!(same.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
        assert_eq!(
            select(rows(), &ListQuery { sort: Some("color".into()), ..q() }).unwrap_err().to_string(),
            "sort \"color\" must be one of name, cpu, memoryGib, diskGib, lastActivityAt, createdAt"
        );
    }

    #[test]
    fn pages_follow_their_cursors_to_the_end_without_overlap() {
        let mut query = ListQuery { limit: Some(2), ..ListQuery::default() };
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let (items, next) = page(select(rows(), &query).unwrap(), window(&query).unwrap());
            pages += 1;
            seen.extend(items.into_iter().map(|r| r.name));
            match next {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ["alpha", "Beta", "gamma", "delta", "epsilon"]);
        let (all, next) = page(rows(), window(&ListQuery::default()).unwrap());
        assert_eq!((all.len(), next), (5, None), "100 by default, no cursor after the last page");
        let past = Window { offset: 9, limit: 2 };
        assert_eq!(page(rows(), past), (Vec::new(), None));
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        for limit in [0, 201, -1] {
            let query = ListQuery { limit: Some(limit), ..ListQuery::default() };
            assert_eq!(window(&query).unwrap_err().to_string(), format!("limit {limit} must be between 1 and 200"));
        }
        let query = ListQuery { limit: Some(200), cursor: Some(encode_cursor(7)), ..ListQuery::default() };
        assert_eq!(window(&query).unwrap(), Window { offset: 7, limit: 200 });
        let bogus = ListQuery { cursor: Some("bogus".into()), ..ListQuery::default() };
        assert_eq!(window(&bogus).unwrap_err().to_string(), "cursor \"bogus\" is not one this server issued");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(matches!(decode_cursor("garbage!"), Err(ServiceError::Invalid(_))));
    }
}
