//! `GET /git/status`: `git status --porcelain=v1 --branch -z` read into the daemon's `GitStatus`.

use super::*;

/// `GET /git/status?path=`.
pub(crate) async fn status(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<GitStatus>, ToolboxError> {
    let out = git(&target, &query.path, &["status", "--porcelain=v1", "--branch", "-z"], Vec::new()).await?;
    let mut entries = out.split('\0').filter(|e| !e.is_empty());
    let header = entries.next().unwrap_or_default();
    let header = header.strip_prefix("## ").unwrap_or(header);
    let (branch_part, tracking) = header.split_once("...").map(|(b, t)| (b, Some(t))).unwrap_or((header, None));
    let current_branch = branch_part.strip_prefix("No commits yet on ").unwrap_or(branch_part).to_string();
    let ahead = tracking.and_then(|t| number_after(t, "ahead "));
    let behind = tracking.and_then(|t| number_after(t, "behind "));
    let mut files = Vec::new();
    let mut rest: Vec<&str> = entries.collect();
    rest.reverse();
    while let Some(entry) = rest.pop() {
        if entry.len() < 3 {
            continue;
        }
        let (x, y, name) = (&entry[0..1], &entry[1..2], &entry[3..]);
        // Renames and copies carry the old name as the next entry.
        let extra = if x == "R" || x == "C" { rest.pop().unwrap_or_default() } else { "" };
        files.push(FileStatus {
            name: name.to_string(),
            extra: extra.to_string(),
            staging: Status::from_porcelain(x),
            worktree: Status::from_porcelain(y),
        });
    }
    Ok(Json(GitStatus {
        current_branch,
        file_status: files,
        branch_published: tracking.is_some(),
        ahead: ahead.unwrap_or(0),
        behind: behind.unwrap_or(0),
    }))
}

fn number_after(text: &str, label: &str) -> Option<i64> {
    let start = text.find(label)? + label.len();
    text[start..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
}
