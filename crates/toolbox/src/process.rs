//! `POST /process/execute` and `POST /process/code-run`: one process in the sandbox, output
//! merged, with an optional timeout that kills the whole process group.

use crate::error::parse_json;
use crate::{Target, ToolboxError};
use axum::body::Bytes;
use axum::{Extension, Json};
use sandbar_api::toolbox::process::{
    CodeRunArtifacts, CodeRunRequest, CodeRunResponse, ExecuteRequest, ExecuteResponse,
};
use sandbar_runtime::{Collected, Error as RuntimeError, ExecSpec, ExecStdio, SpawnErrorKind};
use std::collections::BTreeMap;
use std::time::Duration;

/// Lines of this prefix in code-run output carry artifacts (charts) as JSON.
const ARTIFACT_PREFIX: &str = "dtn_artifact_k39fd2:";
/// Runs Python code-runs and turns the matplotlib figures they show into chart artifacts.
const PYTHON_RUNNER: &str = include_str!("code_run_python.py");
/// Transpiles TypeScript code-runs with the image's TypeScript compiler and runs them.
const TYPESCRIPT_RUNNER: &str = include_str!("code_run_typescript.js");

/// The shell the command is fed to on stdin, as the reference daemon does it (so heredocs and
/// multi-line scripts behave the same): bash, or sh in images without bash.
const SHELL: &str = "bash";
const FALLBACK_SHELL: &str = "sh";

pub(crate) async fn execute(
    Extension(target): Extension<Target>,
    body: Bytes,
) -> Result<Json<ExecuteResponse>, ToolboxError> {
    let request: ExecuteRequest = parse_json(&body)?;
    if request.command.trim().is_empty() {
        return Err(ToolboxError::bad_request("command is empty"));
    }
    let mut input = request.command.clone().into_bytes();
    input.push(b'\n');
    let exec = spec(&target, vec![SHELL.to_string()], request.cwd.clone(), request.envs.as_ref())?;
    // A command with the sandbox's defaults goes to the spare shell, and the next spare starts
    // at once (see `warm`).
    let defaults = request.cwd.is_none() && request.envs.as_ref().is_none_or(|envs| envs.is_empty());
    let warm = if defaults { target.warm.take(&target).await } else { None };
    if defaults {
        target.warm.refill(&target, exec.clone());
    }
    let (exit_code, output) = run(target, exec, warm, input, request.timeout).await?;
    Ok(Json(ExecuteResponse { exit_code, result: output }))
}

pub(crate) async fn code_run(
    Extension(target): Extension<Target>,
    body: Bytes,
) -> Result<Json<CodeRunResponse>, ToolboxError> {
    let request: CodeRunRequest = parse_json(&body)?;
    let language = request.language.clone().or_else(|| target.language.clone()).unwrap_or_else(|| "python".into());
    let argv_tail = request.argv.clone().unwrap_or_default();
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (argv, code) = match language.as_str() {
        // The program arrives on stdin; the runner reports matplotlib figures as charts.
        "python" => ([strings(&["python3", "-u", "-c", PYTHON_RUNNER]), argv_tail].concat(), request.code.clone()),
        // `node -` sees "-" as argv[1]; dropping it gives scripts the argv they expect.
        "javascript" => {
            ([strings(&["node", "-"]), argv_tail].concat(), format!("process.argv.splice(1, 1);\n{}", request.code))
        }
        "typescript" => ([strings(&["node", "-e", TYPESCRIPT_RUNNER, "--"]), argv_tail].concat(), request.code.clone()),
        other => {
            return Err(ToolboxError::bad_request(format!(
                "unsupported language {other:?}: use python, javascript or typescript"
            )))
        }
    };
    let exec = spec(&target, argv, None, request.envs.as_ref())?;
    let (exit_code, output) = run(target, exec, None, code.into_bytes(), request.timeout).await?;
    let (result, charts) = split_artifacts(&output);
    Ok(Json(CodeRunResponse { exit_code, result, artifacts: CodeRunArtifacts { charts } }))
}

fn spec(
    target: &Target,
    argv: Vec<String>,
    cwd: Option<String>,
    envs: Option<&BTreeMap<String, String>>,
) -> Result<ExecSpec, ToolboxError> {
    let mut exec = ExecSpec::new(argv);
    exec.stdio = ExecStdio::Merged;
    exec.user = Some(target.user.clone());
    exec.cwd = Some(match cwd {
        Some(cwd) if cwd.starts_with('/') => cwd,
        // Relative paths resolve against the working directory, as the daemon does.
        Some(cwd) => format!("{}/{}", target.workdir.trim_end_matches('/'), cwd),
        None => target.workdir.clone(),
    });
    for (key, value) in envs.into_iter().flatten() {
        // The runtime's rule, answered as the daemon words it.
        if sandbar_runtime::validate_env_name(key).is_err() {
            return Err(ToolboxError::bad_request(format!(
                "invalid environment variable name {key:?}: names must match ^[A-Za-z_][A-Za-z0-9_]*$"
            )));
        }
        exec.env.push((key.clone(), value.clone()));
    }
    Ok(exec)
}

/// Runs `exec` (or `warm`, a process already started with it) with `input` on stdin; returns the
/// exit code and merged output. A process that cannot start (bad cwd, missing program) is exit
/// code -1 with the reason as output, as the daemon reports it.
async fn run(
    target: Target,
    exec: ExecSpec,
    warm: Option<sandbar_runtime::Process>,
    input: Vec<u8>,
    timeout: Option<u64>,
) -> Result<(i32, String), ToolboxError> {
    let timeout = timeout.filter(|t| *t > 0).map(Duration::from_secs);
    let outcome = tokio::task::spawn_blocking(move || -> Result<Result<Collected, String>, RuntimeError> {
        let started = match warm.map(Ok).unwrap_or_else(|| target.runtime.exec(&target.id, &exec)) {
            // An image without bash: run the same input with sh.
            Err(RuntimeError::Request { kind: SpawnErrorKind::NotFound, .. }) if exec.argv == [SHELL] => {
                let mut fallback = exec.clone();
                fallback.argv = vec![FALLBACK_SHELL.to_string()];
                target.runtime.exec(&target.id, &fallback)
            }
            other => other,
        };
        let process = match started {
            Ok(process) => process,
            Err(RuntimeError::Request { error, .. }) => return Ok(Err(error)),
            Err(other) => return Err(other),
        };
        // The deadline covers feeding the input too: a shell that never reads it is killed on time.
        process.collect_with_input(input, timeout).map(Ok)
    })
    .await
    .map_err(|e| ToolboxError::internal(&e))?;
    match outcome {
        Ok(Ok(collected)) if collected.timed_out => Err(ToolboxError::timeout(format!(
            "process timed out after {} s and was killed with its process group",
            timeout.map(|t| t.as_secs()).unwrap_or_default()
        ))),
        Ok(Ok(collected)) => {
            Ok((collected.status.shell_code(), String::from_utf8_lossy(&collected.stdout).into_owned()))
        }
        Ok(Err(start_error)) => Ok((-1, start_error)),
        Err(RuntimeError::NotRunning { id }) | Err(RuntimeError::Paused { id }) => {
            Err(ToolboxError::conflict(format!("sandbox {id} is not running; start it first")))
        }
        Err(other) => Err(ToolboxError::internal(&other)),
    }
}

/// Removes artifact lines from the output and parses the charts they carry.
fn split_artifacts(output: &str) -> (String, Vec<serde_json::Value>) {
    let mut charts = Vec::new();
    let mut kept = String::with_capacity(output.len());
    for line in output.split_inclusive('\n') {
        match line.strip_prefix(ARTIFACT_PREFIX) {
            Some(json) => {
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(json.trim()) {
                    if value.get("type").and_then(|t| t.as_str()) == Some("chart") {
                        charts.push(value.get("value").cloned().unwrap_or(value));
                    }
                }
            }
            None => kept.push_str(line),
        }
    }
    (kept, charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_lines_are_split_from_the_output() {
        let output = format!("a\n{ARTIFACT_PREFIX}{{\"type\":\"chart\",\"value\":{{\"title\":\"t\"}}}}\nb\n");
        let (text, charts) = split_artifacts(&output);
        assert_eq!(text, "a\nb\n");
        assert_eq!(charts, vec![serde_json::json!({"title": "t"})]);
    }
}
