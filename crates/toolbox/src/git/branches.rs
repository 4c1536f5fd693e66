//! Branches: list, create, delete, checkout.

use super::*;

/// `GET /git/branches?path=` → `{"branches": [...]}`.
pub(crate) async fn branches(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<ListBranchResponse>, ToolboxError> {
    let out = git(&target, &query.path, &["branch", "--format=%(refname:short)"], Vec::new()).await?;
    let branches = out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    Ok(Json(ListBranchResponse { branches }))
}

/// `POST /git/branches` → 201.
pub(crate) async fn create_branch(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitBranchRequest = parse_json(&body)?;
    git(&target, &request.path, &["branch", "--", request.name.as_str()], Vec::new()).await?;
    Ok(created())
}

/// `DELETE /git/branches` with a JSON body (G16) → 204.
pub(crate) async fn delete_branch(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ToolboxError> {
    let request: GitBranchRequest = parse_json(&body)?;
    git(&target, &request.path, &["branch", "-D", "--", request.name.as_str()], Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /git/checkout`.
pub(crate) async fn checkout(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Response, ToolboxError> {
    let request: GitCheckoutRequest = parse_json(&body)?;
    git(&target, &request.path, &["checkout", request.branch.as_str(), "--"], Vec::new()).await?;
    Ok(ok())
}
