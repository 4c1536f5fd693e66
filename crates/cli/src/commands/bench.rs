//! `sandbar bench`: the runtime benchmark. Prints p50/p95/p99 per measurement and the ratio to
//! runc measured in the same run on the same rootfs, and optionally writes JSON.
//!
//! Method (also in docs/bench.md):
//! * `create+start+exec true`: create a sandbox from the default image (fresh upper/work dirs),
//!   start it (cgroups, clone, overlay and mounts, pivot_root, seccomp), exec `/bin/true` and
//!   wait for its exit status. Delete is timed separately.
//! * `exec true (running)`: one more exec + wait in an already running sandbox.
//! * `idle memory`: MemAvailable drop and init PSS per sandbox with N idle sandboxes.
//! * `runc run true`: `runc run` of `/bin/true` with the same image layer as a read-only root
//!   (runc's own create, start, wait and delete), against our create+start+exec+delete.
//! * the stateful operations (pause, snapshot, fork, archive beside `tar --zstd`): see
//!   `bench_state`.
//! * create+start while the process holds a big touched heap, beside a fresh process: see
//!   `bench_heap` (`--heap-only` runs just that).
//! * networking (setup cost beside loopback, policy change, throughput, idle memory): see
//!   `bench_net` (`--net-only` runs just that).

use crate::args::{BenchArgs, GlobalArgs};
use anyhow::{bail, Context};
use sandbar_runtime::{ExecSpec, ExitStatus, Runtime, RuntimeConfig, SandboxId, SandboxSpec, DEFAULT_IMAGE};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// p50/p95/p99 of a set of timings, in milliseconds.
#[derive(Debug, Clone)]
pub(super) struct Summary {
    name: String,
    samples: usize,
    pub(super) p50: f64,
    pub(super) p95: f64,
    pub(super) p99: f64,
}

impl Summary {
    pub(super) fn of(name: &str, mut millis: Vec<f64>) -> Summary {
        millis.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if millis.is_empty() {
                return f64::NAN;
            }
            let rank = ((q * millis.len() as f64).ceil() as usize).clamp(1, millis.len());
            millis[rank - 1]
        };
        Summary { name: name.to_string(), samples: millis.len(), p50: pick(0.50), p95: pick(0.95), p99: pick(0.99) }
    }

    pub(super) fn print(&self) {
        println!("{:<40} {:>6} {:>9.3} {:>9.3} {:>9.3}", self.name, self.samples, self.p50, self.p95, self.p99);
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "name": self.name, "samples": self.samples, "p50_ms": self.p50, "p95_ms": self.p95, "p99_ms": self.p99 })
    }
}

pub fn run(global: &GlobalArgs, args: BenchArgs) -> anyhow::Result<ExitCode> {
    let (images, manifest) = super::images_with_default(global)?;
    let net_dir = global.data_dir.join(format!("bench-net-{}", std::process::id()));
    if args.net_only {
        println!("{:<40} {:>6} {:>9} {:>9} {:>9}", "benchmark (ms)", "n", "p50", "p95", "p99");
        let (summaries, network) = super::bench_net::run(&images, &net_dir, &args)?;
        write_json(
            &args,
            serde_json::json!({
                "machine": machine(),
                "results": summaries.iter().map(Summary::json).collect::<Vec<_>>(),
                "network": network,
            }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let layer = images.layer_path(manifest.layers.last().context("default image has no layer")?);
    let data_dir = global.data_dir.join(format!("bench-{}", std::process::id()));
    let mut config = RuntimeConfig::new(&data_dir, images.clone());
    config.cgroup_parent = format!("sandbar-bench-{}", std::process::id());
    config.disk =
        args.disk_size.map(|size_bytes| sandbar_runtime::DataDisk { image: data_dir.join("disk.img"), size_bytes });
    let runtime = Runtime::new(config)?;
    let result = measure(&runtime, &layer, &args);
    let cleanup = runtime.delete_all();
    let layout = runtime.cgroup_layout();
    // Dropping the runtime unmounts a data disk before its directory goes.
    drop(runtime);
    let _ = std::fs::remove_dir_all(&data_dir);
    let (mut summaries, memory) = result?;
    cleanup?;
    let (net_summaries, network) = super::bench_net::run(&images, &net_dir, &args)?;
    summaries.extend(net_summaries);
    write_json(
        &args,
        serde_json::json!({
            "machine": machine(),
            "cgroup_layout": layout,
            "results": summaries.iter().map(Summary::json).collect::<Vec<_>>(),
            "idle_memory": memory,
            "network": network,
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn write_json(args: &BenchArgs, value: serde_json::Value) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&value)?)?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

fn measure(runtime: &Runtime, layer: &Path, args: &BenchArgs) -> anyhow::Result<(Vec<Summary>, serde_json::Value)> {
    println!(
        "cgroup layout: {}; {} iterations after {} warm-ups",
        runtime.cgroup_layout(),
        args.iterations,
        args.warmup
    );
    println!("{:<40} {:>6} {:>9} {:>9} {:>9}", "benchmark (ms)", "n", "p50", "p95", "p99");
    if args.heap_only {
        return Ok((super::bench_heap::measure(runtime, args)?, serde_json::Value::Null));
    }
    let spec = SandboxSpec::new(DEFAULT_IMAGE);
    let true_exec = ExecSpec::new(["/bin/true"]);

    let mut cold = Vec::new();
    let (mut create_only, mut start_only, mut exec_only) = (Vec::new(), Vec::new(), Vec::new());
    let mut delete = Vec::new();
    let mut full = Vec::new();
    for i in 0..args.warmup + args.iterations {
        let id = SandboxId::new(format!("bench-cold-{i}"))?;
        let started = Instant::now();
        runtime.create(&id, &spec)?;
        let created = started.elapsed();
        runtime.start(&id)?;
        let running = started.elapsed();
        expect_success(runtime.exec(&id, &true_exec)?.wait()?)?;
        let first_exec = started.elapsed();
        let deleting = Instant::now();
        runtime.delete(&id)?;
        if i >= args.warmup {
            cold.push(ms(first_exec));
            create_only.push(ms(created));
            start_only.push(ms(running - created));
            exec_only.push(ms(first_exec - running));
            delete.push(ms(deleting.elapsed()));
            full.push(ms(started.elapsed()));
        }
    }
    let cold = Summary::of("create+start+exec true", cold);
    let delete = Summary::of("delete (stop+cleanup)", delete);
    let full = Summary::of("create+start+exec true+delete", full);
    let parts = [
        Summary::of("  of which create", create_only),
        Summary::of("  of which start", start_only),
        Summary::of("  of which first exec", exec_only),
    ];
    for summary in [&cold].into_iter().chain(&parts).chain([&delete, &full]) {
        summary.print();
    }

    let id = SandboxId::new("bench-warm")?;
    runtime.create(&id, &spec)?;
    runtime.start(&id)?;
    let mut warm = Vec::new();
    for i in 0..args.warmup + args.iterations * 5 {
        let started = Instant::now();
        expect_success(runtime.exec(&id, &true_exec)?.wait()?)?;
        if i >= args.warmup {
            warm.push(ms(started.elapsed()));
        }
    }
    runtime.delete(&id)?;
    let warm = Summary::of("exec true (running sandbox)", warm);
    warm.print();

    let heap = super::bench_heap::measure(runtime, args)?;
    let stateful = super::bench_state::measure(runtime, args)?;
    let memory = idle_memory(runtime, &spec, args.sandboxes)?;
    let mut summaries = vec![cold.clone()];
    summaries.extend(parts);
    summaries.extend([delete, full.clone(), warm]);
    summaries.extend(heap);
    summaries.extend(stateful);
    match runc(layer, args) {
        Ok(runc) => {
            runc.print();
            println!(
                "runc / sandbar (p50): {:.1}x against create+start+exec, {:.1}x against create+start+exec+delete",
                runc.p50 / cold.p50,
                runc.p50 / full.p50
            );
            summaries.push(runc);
        }
        Err(err) => println!("runc comparison skipped: {err:#}"),
    }
    Ok((summaries, memory))
}

/// Starts `count` idle sandboxes and reports the memory they cost, per sandbox.
pub(super) fn idle_memory(runtime: &Runtime, spec: &SandboxSpec, count: usize) -> anyhow::Result<serde_json::Value> {
    let settle = Duration::from_secs(3);
    flush_dirty_pages();
    std::thread::sleep(Duration::from_millis(500));
    let before = mem_available_kib()?;
    let mut ids = Vec::new();
    let started = Instant::now();
    for i in 0..count {
        let id = SandboxId::new(format!("bench-idle-{i}"))?;
        runtime.create(&id, spec)?;
        runtime.start(&id)?;
        ids.push(id);
    }
    let create_ms = ms(started.elapsed()) / count as f64;
    std::thread::sleep(settle);
    let after = mem_available_kib()?;
    let mut pss_kib = 0u64;
    for id in &ids {
        pss_kib += pss_kib_of(runtime.init_pid(id)?).unwrap_or(0);
    }
    let per_sandbox_kib = before.saturating_sub(after) as f64 / count as f64;
    let per_init_pss = pss_kib as f64 / count as f64;
    println!(
        "idle memory with {count} sandboxes: {per_sandbox_kib:.0} KiB MemAvailable drop per sandbox \
         (init PSS {per_init_pss:.0} KiB); {create_ms:.2} ms per create+start"
    );
    for id in &ids {
        runtime.delete(id)?;
    }
    Ok(serde_json::json!({
        "sandboxes": count,
        "mem_available_drop_kib_per_sandbox": per_sandbox_kib,
        "init_pss_kib_per_sandbox": per_init_pss,
        "create_start_ms_each": create_ms,
    }))
}

/// `runc run /bin/true` with the image layer as a read-only root, same iteration counts.
fn runc(layer: &Path, args: &BenchArgs) -> anyhow::Result<Summary> {
    let runc = which("runc").context("runc is not installed (apt-get install runc)")?;
    let bundle = tempfile_dir("sandbar-bench-runc")?;
    let result = (|| {
        let status = Command::new(&runc).args(["spec", "--bundle"]).arg(&bundle).status()?;
        if !status.success() {
            bail!("runc spec failed: {status}");
        }
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&config_path)?)?;
        config["root"] = serde_json::json!({ "path": layer, "readonly": true });
        config["process"]["args"] = serde_json::json!(["/bin/true"]);
        config["process"]["terminal"] = serde_json::json!(false);
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config)?)?;
        let mut samples = Vec::new();
        let iterations = args.runc_iterations;
        for i in 0..(args.warmup.min(10) + iterations) {
            let id = format!("sandbar-bench-{}-{i}", std::process::id());
            let started = Instant::now();
            let status = Command::new(&runc)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()?;
            let elapsed = started.elapsed();
            if !status.success() {
                let _ = Command::new(&runc).args(["delete", "--force", &id]).status();
                bail!("runc run failed: {status}");
            }
            if i >= args.warmup.min(10) {
                samples.push(ms(elapsed));
            }
        }
        Ok(Summary::of("runc run true (create+start+delete)", samples))
    })();
    let _ = std::fs::remove_dir_all(&bundle);
    result
}

pub(super) fn expect_success(status: ExitStatus) -> anyhow::Result<()> {
    if status != ExitStatus::Code(0) {
        bail!("/bin/true ended with {status:?}");
    }
    Ok(())
}

pub(super) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mem_available_kib() -> anyhow::Result<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
        .context("no MemAvailable in /proc/meminfo")
}

fn pss_kib_of(pid: i32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
}

/// Flushes dirty pages so writeback of earlier runs does not skew the memory measurement.
fn flush_dirty_pages() {
    let _ = Command::new("sync").status();
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .chain(["/usr/sbin", "/sbin"].iter().map(|dir| Path::new(dir).join(program)))
        .find(|path| path.is_file())
}

fn tempfile_dir(prefix: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path)?;
    Ok(path)
}

fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    serde_json::json!({ "cpu": cpu, "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "kernel": kernel })
}
