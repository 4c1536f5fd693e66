//! The SQL of a sandbox list, shared by SQL backends: the `WHERE`, `ORDER BY` and `LIMIT`
//! clauses of a [`SandboxQuery`], with numbered `?N` placeholders (PostgreSQL's `$N`) and their
//! values, in SQL both SQLite and PostgreSQL accept.

use super::{Bounds, SandboxQuery, SortField};

/// A placeholder's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A TEXT value.
    Text(String),
    /// An INTEGER value (flags are 0 and 1, as the schema stores them).
    Integer(i64),
}

/// The clauses after `SELECT … FROM sandboxes` and the values of their placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSql {
    /// `WHERE … ORDER BY … [LIMIT … OFFSET …]`.
    pub clauses: String,
    /// The value of `?1`, `?2`, ….
    pub params: Vec<Value>,
}

/// The clauses of `query`. A paged query reads one row past its page, so the backend can tell
/// whether more follow without counting.
pub fn list_sql(query: &SandboxQuery) -> ListSql {
    let mut sql = Builder { conditions: Vec::new(), params: Vec::new() };
    let org = sql.bind(Value::Text(query.organization_id.clone()));
    sql.conditions.push(format!("organization_id = {org}"));
    if !query.include_destroyed {
        sql.conditions.push("state <> 'destroyed'".to_string());
    }
    for (column, prefix) in [("id", &query.id_prefix), ("name", &query.name_prefix)] {
        if let Some(prefix) = prefix {
            let length = sql.bind(Value::Integer(prefix.chars().count() as i64));
            let lower = sql.bind(Value::Text(prefix.to_ascii_lowercase()));
            sql.conditions.push(format!("LOWER(SUBSTR({column}, 1, {length})) = {lower}"));
        }
    }
    let states: Vec<Value> = query.states.iter().map(|s| Value::Text(s.as_str().to_string())).collect();
    sql.any_of("state", states);
    sql.any_of("snapshot", query.snapshots.iter().cloned().map(Value::Text).collect());
    for (column, bounds) in [("cpu", &query.cpu), ("memory", &query.memory), ("disk", &query.disk)] {
        sql.within(column, bounds, |v| Value::Integer(*v));
    }
    for (column, flag) in [("public", query.public), ("COALESCE(recoverable, 0)", query.recoverable)] {
        if let Some(flag) = flag {
            let value = sql.bind(Value::Integer(i64::from(flag)));
            sql.conditions.push(format!("{column} = {value}"));
        }
    }
    sql.within("created_at", &query.created_at, |v| Value::Text(v.clone()));
    sql.within("last_activity_at", &query.last_activity_at, |v| Value::Text(v.clone()));

    let column = match query.sort {
        SortField::Name => "name",
        SortField::Cpu => "cpu",
        SortField::Memory => "memory",
        SortField::Disk => "disk",
        SortField::LastActivityAt => "last_activity_at",
        SortField::CreatedAt => "created_at",
    };
    let direction = if query.ascending { "ASC" } else { "DESC" };
    // Text sorts by byte order (SQLite's BINARY collation; PostgreSQL needs COLLATE "C" on
    // the column); ties break on id so pages never overlap or skip.
    let mut clauses = format!("WHERE {} ORDER BY {column} {direction}, id {direction}", sql.conditions.join(" AND "));
    if let Some(page) = query.page {
        let limit = sql.bind(Value::Integer(page.limit as i64 + 1));
        let offset = sql.bind(Value::Integer(page.offset as i64));
        clauses.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
    }
    ListSql { clauses, params: sql.params }
}

struct Builder {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Builder {
    /// Adds a value and returns its placeholder.
    fn bind(&mut self, value: Value) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn any_of(&mut self, column: &str, values: Vec<Value>) {
        if values.is_empty() {
            return;
        }
        let placeholders: Vec<String> = values.into_iter().map(|v| self.bind(v)).collect();
        self.conditions.push(format!("{column} IN ({})", placeholders.join(", ")));
    }

    fn within<T>(&mut self, column: &str, bounds: &Bounds<T>, value: impl Fn(&T) -> Value) {
        if let Some(min) = &bounds.min {
            let min = self.bind(value(min));
            self.conditions.push(format!("{column} >= {min}"));
        }
        if let Some(max) = &bounds.max {
            let max = self.bind(value(max));
            self.conditions.push(format!("{column} <= {max}"));
        }
    }
}
