//! Finding things in the sandbox's files: `find` (lines containing a literal) and `search`
//! (names matching a glob) run `grep`/`find` inside the sandbox as its user; `replace` rewrites
//! files through the [`SandboxFs`].

use super::*;
use crate::error::parse_json;
use axum::extract::Query;
use axum::{Extension, Json};
use sandbar_api::toolbox::fs::{Match, PatternQuery, ReplaceRequest, ReplaceResult, SearchFilesResponse};

/// Largest file `replace` rewrites.
const REPLACE_LIMIT: u64 = 64 << 20;

/// `GET /files/find?path=&pattern=`: lines containing `pattern` (a literal substring) in every
/// text file below `path`, found by `grep` inside the sandbox as its user.
pub(crate) async fn find(
    Extension(target): Extension<Target>,
    Query(query): Query<PatternQuery>,
) -> Result<Json<Vec<Match>>, ToolboxError> {
    if query.pattern.is_empty() {
        return Err(ToolboxError::bad_request("pattern is empty"));
    }
    let path = if query.path.is_empty() { target.workdir.clone() } else { query.path.clone() };
    // -I skips binary files, -F takes the pattern literally, -Z ends each file name with NUL so
    // names with ':' parse unambiguously.
    let argv = ["grep", "-rnIFZ", "--", &query.pattern, &path].map(String::from).to_vec();
    let output = run_in_sandbox(&target, argv).await?;
    let mut matches = Vec::new();
    for record in output.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
        let Some(nul) = record.iter().position(|b| *b == 0) else { continue };
        let file = String::from_utf8_lossy(&record[..nul]).into_owned();
        let rest = String::from_utf8_lossy(&record[nul + 1..]).into_owned();
        let Some((line, content)) = rest.split_once(':') else { continue };
        let Ok(line) = line.parse::<u64>() else { continue };
        matches.push(Match { file, line, content: content.to_string() });
    }
    Ok(Json(matches))
}

/// `GET /files/search?path=&pattern=`: paths below `path` whose base name matches the glob.
pub(crate) async fn search(
    Extension(target): Extension<Target>,
    Query(query): Query<PatternQuery>,
) -> Result<Json<SearchFilesResponse>, ToolboxError> {
    if query.pattern.is_empty() {
        return Err(ToolboxError::bad_request("pattern is empty"));
    }
    let path = if query.path.is_empty() { target.workdir.clone() } else { query.path.clone() };
    let argv = ["find", &path, "-name", &query.pattern, "-print0"].map(String::from).to_vec();
    let output = run_in_sandbox(&target, argv).await?;
    let files: Vec<String> =
        output.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    Ok(Json(SearchFilesResponse { files }))
}

/// `POST /files/replace`: replaces every literal occurrence of `pattern` in each file; reports
/// per file whether it worked.
pub(crate) async fn replace(
    Extension(target): Extension<Target>,
    body: axum::body::Bytes,
) -> Result<Json<Vec<ReplaceResult>>, ToolboxError> {
    let request: ReplaceRequest = parse_json(&body)?;
    if request.pattern.is_empty() {
        return Err(ToolboxError::bad_request("pattern is empty"));
    }
    blocking(move || {
        let fs = SandboxFs::open(&target)?;
        let results = request
            .files
            .iter()
            .map(|file| match replace_in(&fs, file, &request.pattern, &request.new_value) {
                Ok(()) => ReplaceResult { file: file.clone(), success: true, error: None },
                Err(error) => ReplaceResult { file: file.clone(), success: false, error: Some(error) },
            })
            .collect();
        Ok(Json(results))
    })
    .await
}

fn replace_in(fs: &SandboxFs, file: &str, pattern: &str, new_value: &str) -> Result<(), String> {
    use std::io::{Read, Seek, Write};
    let path = fs.absolute(file).map_err(|e| e.message)?;
    let mut opened = fs.open_regular(&path, true).map_err(|e| e.message)?;
    let size = opened.metadata().map_err(|e| e.to_string())?.len();
    if size > REPLACE_LIMIT {
        return Err(format!("{file} is {size} bytes, over the {REPLACE_LIMIT}-byte limit for replace"));
    }
    let mut text = String::new();
    (&mut opened)
        .take(REPLACE_LIMIT)
        .read_to_string(&mut text)
        .map_err(|e| format!("{file} is not readable text: {e}"))?;
    let replaced = text.replace(pattern, new_value);
    if replaced != text {
        opened.seek(std::io::SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        opened.set_len(0).map_err(|e| e.to_string())?;
        opened.write_all(replaced.as_bytes()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs a read-only helper command in the sandbox as its user; returns its stdout.
async fn run_in_sandbox(target: &Target, argv: Vec<String>) -> Result<Vec<u8>, ToolboxError> {
    let mut exec = sandbar_runtime::ExecSpec::new(argv);
    exec.user = Some(target.user.clone());
    exec.cwd = Some(target.workdir.clone());
    let runtime = std::sync::Arc::clone(&target.runtime);
    let id = target.id.clone();
    blocking(move || {
        let process = runtime.exec(&id, &exec).map_err(|e| ToolboxError::conflict(e.to_string()))?;
        let collected =
            process.collect(Some(std::time::Duration::from_secs(300))).map_err(|e| ToolboxError::internal(&e))?;
        if collected.timed_out {
            return Err(ToolboxError::timeout("the search took longer than 300 s"));
        }
        Ok(collected.stdout)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_rewrites_regular_files_and_reports_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "one two one").unwrap();
        std::fs::write(dir.path().join("same.txt"), "untouched").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let fs = SandboxFs::with_root(std::fs::File::open(dir.path()).unwrap(), "/", "me", None);
        replace_in(&fs, "a.txt", "one", "1").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "1 two 1");
        replace_in(&fs, "/same.txt", "absent", "x").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("same.txt")).unwrap(), "untouched");
        assert_eq!(replace_in(&fs, "sub", "a", "b").unwrap_err(), "path \"/sub\" is not a regular file");
        assert_eq!(replace_in(&fs, "missing", "a", "b").unwrap_err(), "file not found: /missing");
    }
}
