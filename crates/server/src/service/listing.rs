//! Running a sandbox list: `query` says what a list means and plans it; the store filters,
//! sorts and pages in its database whatever it matches exactly, and `query` finishes the rest
//! (label filters) on the rows it returns.

use super::query::{self, ListQuery};
use super::ServiceError;
use crate::model::SandboxRow;
use crate::store::{SandboxQuery, Store};

/// One page of `organization_id`'s sandboxes matching `query`, and the cursor of the next page.
pub(crate) async fn list_page(
    store: &dyn Store,
    organization_id: &str,
    query: &ListQuery,
) -> Result<(Vec<SandboxRow>, Option<String>), ServiceError> {
    let window = query::window(query)?;
    let plan = query::plan(organization_id, query)?;
    if plan.exact {
        let page = store.query_sandboxes(&SandboxQuery { page: Some(window), ..plan.query }).await?;
        Ok((page.rows, query::next_cursor(window, page.more)))
    } else {
        let rows = store.query_sandboxes(&plan.query).await?.rows;
        Ok(query::page(query::select(rows, query)?, window))
    }
}

/// All of `organization_id`'s sandboxes matching `query`, unpaged.
pub(crate) async fn list_all(
    store: &dyn Store,
    organization_id: &str,
    query: &ListQuery,
) -> Result<Vec<SandboxRow>, ServiceError> {
    let plan = query::plan(organization_id, query)?;
    let rows = store.query_sandboxes(&plan.query).await?.rows;
    if plan.exact {
        Ok(rows)
    } else {
        query::select(rows, query)
    }
}
