//! Which sandboxes a list shows and in which order: filters, sorting and the paging cursors.
//! Pure: rows in, rows out.

use super::ServiceError;
use crate::model::SandboxRow;
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

pub(super) fn matches_query(row: &SandboxRow, q: &ListQuery) -> bool {
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

pub(super) fn sort_rows(rows: &mut [SandboxRow], sort: &str, ascending: bool) -> Result<(), ServiceError> {
    let key: fn(&SandboxRow, &SandboxRow) -> std::cmp::Ordering = match sort {
        "name" => |a, b| a.name.cmp(&b.name),
        "cpu" => |a, b| a.cpu.cmp(&b.cpu),
        "memoryGib" => |a, b| a.memory.cmp(&b.memory),
        "diskGib" => |a, b| a.disk.cmp(&b.disk),
        "lastActivityAt" => |a, b| a.last_activity_at.cmp(&b.last_activity_at),
        "createdAt" => |a, b| a.created_at.cmp(&b.created_at),
        other => {
            return Err(ServiceError::Invalid(format!(
                "sort {other:?} must be one of name, cpu, memoryGib, diskGib, lastActivityAt, createdAt"
            )))
        }
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

pub(super) fn encode_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

pub(super) fn decode_cursor(cursor: &str) -> Result<usize, ServiceError> {
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

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(matches!(decode_cursor("garbage!"), Err(ServiceError::Invalid(_))));
    }
}
