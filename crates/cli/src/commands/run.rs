//! `sandbar run`: one command in a fresh sandbox, streamed to this terminal, then cleaned up.

use crate::args::{GlobalArgs, RunArgs};
use anyhow::{bail, Context};
use sandbar_runtime::{BindMount, ExecSpec, ExitStatus, SandboxId, SandboxSpec};
use std::io::Write;
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    let spec = spec_from(&args)?;
    let (images, _) = super::images_with_default(global)?;
    let runtime = super::runtime(global, images)?;
    let id = SandboxId::new(format!("run-{}-{}", std::process::id(), nanos()))?;
    runtime.create(&id, &spec)?;
    let result = (|| {
        runtime.start(&id)?;
        let mut process = runtime.exec(&id, &ExecSpec::new(args.command.clone()))?;
        let stdin = process.stdin.take();
        // Copy our stdin in the background; a closed terminal or pipe closes the process's stdin.
        if let Some(mut sandbox_stdin) = stdin {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut sandbox_stdin);
            });
        }
        let stderr = process.stderr.take();
        let copier = std::thread::spawn(move || {
            if let Some(mut err) = stderr {
                let _ = std::io::copy(&mut err, &mut std::io::stderr());
            }
        });
        if let Some(mut out) = process.stdout.take() {
            let _ = std::io::copy(&mut out, &mut std::io::stdout().lock());
        }
        let _ = copier.join();
        let _ = std::io::stdout().flush();
        anyhow::Ok(process.wait()?)
    })();
    let deleted = runtime.delete(&id);
    runtime.remove_cgroup_parent();
    let status = result?;
    deleted.with_context(|| format!("while deleting sandbox {id}"))?;
    Ok(ExitCode::from(match status {
        ExitStatus::Code(code) => code.clamp(0, 255) as u8,
        ExitStatus::Signal(signal) => (128 + signal).clamp(0, 255) as u8,
    }))
}

fn spec_from(args: &RunArgs) -> anyhow::Result<SandboxSpec> {
    let mut spec = SandboxSpec::new(args.image.clone());
    spec.user = args.user.clone();
    spec.workdir = args.workdir.clone();
    for pair in &args.env {
        let Some((key, value)) = pair.split_once('=') else { bail!("--env {pair:?} must be KEY=VALUE") };
        spec.env.push((key.to_string(), value.to_string()));
    }
    for volume in &args.volumes {
        let parts: Vec<&str> = volume.split(':').collect();
        let (source, target, read_only) = match parts.as_slice() {
            [source, target] => (*source, *target, false),
            [source, target, "ro"] => (*source, *target, true),
            _ => bail!("--volume {volume:?} must be HOST:TARGET or HOST:TARGET:ro"),
        };
        let source = std::fs::canonicalize(source).with_context(|| format!("--volume source {source}"))?;
        spec.mounts.push(BindMount { source, target: target.into(), read_only });
    }
    spec.limits.memory_bytes = args.memory_mib.map(|mib| mib << 20);
    spec.limits.cpu_millis = args.cpus.map(|cpus| (cpus * 1000.0).round() as u64);
    spec.limits.pids = args.pids;
    Ok(spec)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
        % 1_000_000_000
}
