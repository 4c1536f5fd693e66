//! `GET /git/status`: `git status --porcelain=v1 --branch -z` read into the daemon's `GitStatus`
//! by [`parse_status`], a pure function tested on git's own output.

use super::*;

/// `GET /git/status?path=`.
pub(crate) async fn status(
    Extension(target): Extension<Target>,
    Query(query): Query<PathQuery>,
) -> Result<Json<GitStatus>, ToolboxError> {
    let out = git(&target, &query.path, &["status", "--porcelain=v1", "--branch", "-z"], Vec::new()).await?;
    Ok(Json(parse_status(&out)))
}

/// The status of `git status --porcelain=v1 --branch -z` output: the `## branch...upstream
/// [ahead N, behind M]` header, then NUL-separated `XY name` entries, where a rename or copy is
/// followed by its old name.
pub(crate) fn parse_status(out: &str) -> GitStatus {
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
    GitStatus {
        current_branch,
        file_status: files,
        branch_published: tracking.is_some(),
        ahead: ahead.unwrap_or(0),
        behind: behind.unwrap_or(0),
    }
}

fn number_after(text: &str, label: &str) -> Option<i64> {
    let start = text.find(label)? + label.len();
    text[start..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, extra: &str, staging: Status, worktree: Status) -> FileStatus {
        FileStatus { name: name.into(), extra: extra.into(), staging, worktree }
    }

    #[test]
    fn a_tracking_branch_with_changes() {
        let out = "## main...origin/main [ahead 2, behind 13]\0 M src/lib.rs\0A  new.txt\0?? notes.md\0";
        let status = parse_status(out);
        assert_eq!(status.current_branch, "main");
        assert!(status.branch_published);
        assert_eq!((status.ahead, status.behind), (2, 13));
        assert_eq!(
            status.file_status,
            [
                file("src/lib.rs", "", Status::Unmodified, Status::Modified),
                file("new.txt", "", Status::Added, Status::Unmodified),
                file("notes.md", "", Status::Untracked, Status::Untracked),
            ]
        );
    }

    #[test]
    fn a_rename_carries_its_old_name_in_the_next_entry() {
        let status = parse_status("## main...origin/main\0R  after.txt\0before.txt\0 D gone.txt\0");
        assert_eq!((status.ahead, status.behind), (0, 0));
        assert_eq!(
            status.file_status,
            [
                file("after.txt", "before.txt", Status::Renamed, Status::Unmodified),
                file("gone.txt", "", Status::Unmodified, Status::Deleted),
            ]
        );
    }

    #[test]
    fn a_new_repository_and_an_unpublished_branch() {
        let fresh = parse_status("## No commits yet on trunk\0");
        assert_eq!(fresh.current_branch, "trunk");
        assert!(!fresh.branch_published);
        assert!(fresh.file_status.is_empty());
        let local = parse_status("## feature\0MM both.rs\0");
        assert_eq!(local.current_branch, "feature");
        assert!(!local.branch_published);
        assert_eq!(local.file_status, [file("both.rs", "", Status::Modified, Status::Modified)]);
    }

    #[test]
    fn names_with_spaces_and_unicode_are_kept_whole() {
        let status = parse_status("## main\0?? my file ü.txt\0");
        assert_eq!(status.file_status[0].name, "my file ü.txt");
    }
}
