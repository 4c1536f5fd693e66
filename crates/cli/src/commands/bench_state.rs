//! The stateful part of `sandbar bench`: pause+resume, snapshot and fork of stopped and running
//! sandboxes, and archive and restore of a sandbox with about 100 MB of changes beside
//! `tar --zstd` of the same writable layer, all in the same run (docs/bench.md, "Stateful").
//!
//! "Small" sandboxes have a few files of changes (what an agent's scratch sandbox typically has
//! between steps); "100 MB" ones hold 60 MB of random bytes and a copy of the image's Python
//! standard library (thousands of small, compressible files).

use super::bench::{expect_success, ms, Summary};
use crate::args::BenchArgs;
use anyhow::{bail, Context};
use sandbar_runtime::{ExecSpec, Runtime, SandboxId, SandboxSpec, DEFAULT_IMAGE};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Changes of a "small" sandbox.
const SMALL_CHANGES: &str =
    "mkdir -p /home/daytona/work && for i in 1 2 3 4 5; do echo $i > /home/daytona/work/f$i; done";
/// About 100 MB of changes: incompressible and compressible, big and small files.
const BIG_CHANGES: &str =
    "head -c 60000000 /dev/urandom > /home/daytona/blob && cp -a /usr/lib/python3.11 /home/daytona/py";

pub fn measure(runtime: &Runtime, args: &BenchArgs) -> anyhow::Result<Vec<Summary>> {
    let light = args.iterations.clamp(1, 50);
    let heavy = args.heavy_iterations.max(1);
    println!("stateful: {light} iterations of the light operations, {heavy} of the 100 MB ones");
    let mut out = Vec::new();
    let spec = SandboxSpec::new(DEFAULT_IMAGE);
    let mut next = 0usize;
    let mut fresh = |changes: &str, running: bool| -> anyhow::Result<SandboxId> {
        next += 1;
        let id = SandboxId::new(format!("bench-state-{next}"))?;
        runtime.create(&id, &spec)?;
        runtime.start(&id)?;
        expect_success(runtime.exec(&id, &ExecSpec::new(["sh", "-c", changes]))?.wait()?)?;
        if !running {
            runtime.stop(&id, Duration::ZERO)?;
        }
        Ok(id)
    };

    // Pause + resume of a running sandbox.
    let id = fresh(SMALL_CHANGES, true)?;
    let mut samples = Vec::new();
    for _ in 0..light * 4 {
        let started = Instant::now();
        runtime.pause(&id)?;
        runtime.resume(&id)?;
        samples.push(ms(started.elapsed()));
    }
    runtime.delete(&id)?;
    out.push(Summary::of("pause+resume", samples));

    // Snapshots: the stopped one is a rename, the running one a freeze-and-copy.
    for (name, changes, running, count) in [
        ("snapshot, stopped, small", SMALL_CHANGES, false, light),
        ("snapshot, stopped, 100 MB", BIG_CHANGES, false, heavy),
        ("snapshot, running, small", SMALL_CHANGES, true, light),
        ("snapshot, running, 100 MB", BIG_CHANGES, true, heavy),
    ] {
        let mut samples = Vec::new();
        for i in 0..count {
            let id = fresh(changes, running)?;
            let image = format!("bench-snap-{}-{i}", std::process::id());
            let started = Instant::now();
            runtime.snapshot(&id, &image)?;
            samples.push(ms(started.elapsed()));
            runtime.delete(&id)?;
            runtime.delete_image(&image)?;
        }
        out.push(Summary::of(name, samples));
    }

    // Forks copy the writable layer (cp -a --reflink=auto; ext4 has no reflinks).
    for (name, changes, running, count) in [
        ("fork, stopped, small", SMALL_CHANGES, false, light),
        ("fork, running, small", SMALL_CHANGES, true, light),
        ("fork, stopped, 100 MB", BIG_CHANGES, false, heavy),
        ("fork, running, 100 MB", BIG_CHANGES, true, heavy),
    ] {
        let source = fresh(changes, running)?;
        let mut samples = Vec::new();
        for i in 0..count {
            let copy = SandboxId::new(format!("{source}-fork-{i}"))?;
            let started = Instant::now();
            runtime.fork(&source, &copy)?;
            samples.push(ms(started.elapsed()));
            runtime.delete(&copy)?;
        }
        runtime.delete(&source)?;
        out.push(Summary::of(name, samples));
    }

    // Archive and restore beside GNU tar with zstd on the same writable layer.
    let (mut archive, mut restore, mut tar_pack, mut tar_unpack) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut archive_bytes, mut tar_bytes, mut content_bytes) = (0u64, 0u64, 0u64);
    for _ in 0..heavy {
        let id = fresh(BIG_CHANGES, false)?;
        let upper = runtime.upper_dir(&id);
        let scratch = upper.parent().context("sandbox directory")?.join("bench-tar");
        std::fs::create_dir_all(&scratch)?;
        let tarball = scratch.join("upper.tar.zst");
        let started = Instant::now();
        tar(&["--zstd", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-cpf"], &tarball, &upper, false)?;
        tar_pack.push(ms(started.elapsed()));
        tar_bytes = std::fs::metadata(&tarball)?.len();
        let unpacked = scratch.join("unpacked");
        std::fs::create_dir_all(&unpacked)?;
        let started = Instant::now();
        tar(&["--zstd", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"], &tarball, &unpacked, true)?;
        tar_unpack.push(ms(started.elapsed()));
        std::fs::remove_dir_all(&scratch)?;

        let started = Instant::now();
        let packed = runtime.archive(&id)?.context("the sandbox was archived already")?;
        archive.push(ms(started.elapsed()));
        (archive_bytes, content_bytes) = (packed.archive_bytes, packed.content_bytes);
        // Start of an archived sandbox = restore + a normal start; the normal start is a few ms.
        let started = Instant::now();
        runtime.start(&id)?;
        restore.push(ms(started.elapsed()));
        runtime.delete(&id)?;
    }
    let archive = Summary::of("archive, 100 MB", archive);
    let tar_pack = Summary::of("  tar --zstd -c of the same layer", tar_pack);
    let restore = Summary::of("restore+start, 100 MB", restore);
    let tar_unpack = Summary::of("  tar --zstd -x of the same layer", tar_unpack);
    println!(
        "archive: {:.1} MB of file contents became {:.1} MB (tar --zstd: {:.1} MB); archive / tar = {:.2}x, \
         restore+start / tar -x = {:.2}x (p50)",
        content_bytes as f64 / 1e6,
        archive_bytes as f64 / 1e6,
        tar_bytes as f64 / 1e6,
        archive.p50 / tar_pack.p50,
        restore.p50 / tar_unpack.p50
    );
    out.extend([archive, tar_pack, restore, tar_unpack]);
    for summary in &out {
        summary.print();
    }
    Ok(out)
}

/// `tar <flags> <tarball> -C <dir>`, plus `.` (what to pack) unless it extracts.
fn tar(flags: &[&str], tarball: &Path, dir: &Path, extract: bool) -> anyhow::Result<()> {
    let mut command = Command::new("tar");
    command.args(flags).arg(tarball).arg("-C").arg(dir);
    if !extract {
        command.arg(".");
    }
    let output = command.output().context("run tar (apt-get install tar zstd)")?;
    if !output.status.success() {
        bail!("tar {flags:?} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}
