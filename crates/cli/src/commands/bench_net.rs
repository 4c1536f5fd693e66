//! `sandbar bench` networking (issue 11): a runtime with networking, measured against itself
//! with loopback-only sandboxes in the same run:
//! * create+start+exec true for loopback, open networking and an allow-list policy, interleaved,
//!   and delete for each (the difference is the network's setup and teardown cost);
//! * a policy change on a running sandbox (`update_network`, one nft transaction);
//! * TCP throughput for 5 s from a sandbox to a test host, beside the same sender on the host
//!   (both Python, so the ratio is the network path's cost, not the sender's);
//! * MemAvailable drop per idle sandbox, networked beside loopback-only.
//!
//! The only destination is a test host in a network namespace the bench makes for itself
//! (`198.18.250.2`, behind a veth), removed at the end, also on failure.

use super::bench::{expect_success, idle_memory, ms, Summary};
use crate::args::BenchArgs;
use anyhow::{bail, Context};
use sandbar_runtime::{
    EgressPolicy, ExecSpec, ImageStore, NetConfig, NetworkMode, Runtime, RuntimeConfig, SandboxId, SandboxSpec,
    DEFAULT_IMAGE,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const HOST: &str = "198.18.250.1";
const TEST_HOST: &str = "198.18.250.2";

/// A receiver in a namespace of its own: counts what each connection sends and answers the
/// count when the sender stops writing.
const RECEIVER: &str = r#"
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.250.2", 5201)); s.listen(16)
print("ready", flush=True)
def serve(c):
    n = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += len(b)
    c.sendall(str(n).encode()); c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Sends for 5 s to the receiver; prints bytes per second (as the receiver counted them).
const SENDER: &str = r#"
import socket, time
s = socket.create_connection(("198.18.250.2", 5201), 5)
buf = b"x" * (1 << 20)
start = time.time(); end = start + 5
while time.time() < end:
    s.sendall(buf)
s.shutdown(socket.SHUT_WR)
n = int(s.recv(64))
print(n / (time.time() - start))
"#;

/// The bench's own test host: a namespace, a veth to it, and the receiver.
struct TestHost {
    namespace: String,
    link: String,
    receiver: Option<Child>,
}

impl TestHost {
    fn new() -> anyhow::Result<TestHost> {
        let pid = std::process::id();
        let mut host =
            TestHost { namespace: format!("sbbench{pid}"), link: format!("tnb{}", pid % 100_000), receiver: None };
        let ns = host.namespace.clone();
        let link = host.link.clone();
        ip(&["netns", "add", &ns])?;
        ip(&["link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
        ip(&["addr", "add", &format!("{HOST}/30"), "dev", &link])?;
        ip(&["link", "set", &link, "up"])?;
        ip(&["-n", &ns, "addr", "add", &format!("{TEST_HOST}/30"), "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let mut receiver = Command::new("ip")
            .args(["netns", "exec", &ns, "python3", "-u", "-c", RECEIVER])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("start the receiver in the test namespace")?;
        let mut ready = String::new();
        BufReader::new(receiver.stdout.take().context("receiver stdout")?).read_line(&mut ready)?;
        host.receiver = Some(receiver);
        if ready.trim() != "ready" {
            bail!("the receiver did not start: {ready:?}");
        }
        Ok(host)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            let _ = receiver.kill();
            let _ = receiver.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &self.link]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.namespace]).status();
    }
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip").args(args).output().context("run ip (iproute2)")?;
    if !output.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// Runs the networking benchmarks on a runtime of their own under `data_dir`.
pub(super) fn run(
    images: &ImageStore,
    data_dir: &Path,
    args: &BenchArgs,
) -> anyhow::Result<(Vec<Summary>, serde_json::Value)> {
    let host = TestHost::new()?;
    let mut config = RuntimeConfig::new(data_dir, images.clone());
    config.cgroup_parent = format!("sandbar-bench-net-{}", std::process::id());
    config.network = Some(NetConfig {
        instance: Some("bn".into()),
        range: "10.216.0.0/22".parse().expect("a valid range"),
        // Nothing answers there: the bench resolves no names.
        dns_upstream: vec![format!("{TEST_HOST}:53").parse().expect("a valid address")],
        allow_networks: vec![format!("{HOST}/30").parse().expect("a valid network")],
        log_group: 95,
    });
    let runtime = Runtime::new(config)?;
    let result = measure(&runtime, args);
    let cleanup = runtime.delete_all();
    drop(runtime);
    drop(host);
    let _ = std::fs::remove_dir_all(data_dir);
    let result = result?;
    cleanup?;
    Ok(result)
}

fn spec(mode: NetworkMode, egress: EgressPolicy) -> SandboxSpec {
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.network = mode;
    spec.egress = egress;
    spec
}

fn measure(runtime: &Runtime, args: &BenchArgs) -> anyhow::Result<(Vec<Summary>, serde_json::Value)> {
    let allow = EgressPolicy { allow_cidrs: vec![format!("{TEST_HOST}/32").parse()?], ..EgressPolicy::default() };
    let kinds = [
        ("loopback", spec(NetworkMode::Loopback, EgressPolicy::default())),
        ("network, open", spec(NetworkMode::Outbound, EgressPolicy::default())),
        ("network, allow list", spec(NetworkMode::Outbound, allow.clone())),
    ];
    let true_exec = ExecSpec::new(["/bin/true"]);
    let mut starts: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    let mut deletes: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for i in 0..args.warmup + args.iterations {
        for (k, (_, spec)) in kinds.iter().enumerate() {
            let id = SandboxId::new(format!("bench-net-{k}-{i}"))?;
            let started = Instant::now();
            runtime.create(&id, spec)?;
            runtime.start(&id)?;
            expect_success(runtime.exec(&id, &true_exec)?.wait()?)?;
            let first_exec = started.elapsed();
            let deleting = Instant::now();
            runtime.delete(&id)?;
            if i >= args.warmup {
                starts[k].push(ms(first_exec));
                deletes[k].push(ms(deleting.elapsed()));
            }
        }
    }
    let mut summaries = Vec::new();
    for (k, (name, _)) in kinds.iter().enumerate() {
        summaries.push(Summary::of(&format!("create+start+exec true ({name})"), std::mem::take(&mut starts[k])));
    }
    for (k, (name, _)) in kinds.iter().enumerate() {
        summaries.push(Summary::of(&format!("delete ({name})"), std::mem::take(&mut deletes[k])));
    }
    for summary in &summaries {
        summary.print();
    }
    let p50 = |name: &str| summaries.iter().find(|s| s.name() == name).map_or(f64::NAN, |s| s.p50);
    let loopback = p50("create+start+exec true (loopback)");
    println!(
        "networking adds {:.2} ms (open) and {:.2} ms (allow list) to create+start+exec p50 ({:.2} ms loopback)",
        p50("create+start+exec true (network, open)") - loopback,
        p50("create+start+exec true (network, allow list)") - loopback,
        loopback
    );

    // A policy change on a running sandbox, alternating block-all and the allow list.
    let id = SandboxId::new("bench-net-policy")?;
    runtime.create(&id, &kinds[1].1)?;
    runtime.start(&id)?;
    let block = EgressPolicy { block_all: true, ..EgressPolicy::default() };
    let mut changes = Vec::new();
    for i in 0..args.warmup + args.iterations {
        let policy = if i % 2 == 0 { &block } else { &allow };
        let started = Instant::now();
        runtime.update_network(&id, policy)?;
        if i >= args.warmup {
            changes.push(ms(started.elapsed()));
        }
    }
    let change = Summary::of("policy change on a running sandbox", changes);
    change.print();
    summaries.push(change);

    // Throughput: the same sender in the sandbox and on the host, to the same receiver.
    runtime.update_network(&id, &EgressPolicy::default())?;
    let from_sandbox = {
        let output = runtime.exec(&id, &ExecSpec::new(["python3", "-c", SENDER]))?.output()?;
        expect_success(output.status)?;
        String::from_utf8_lossy(&output.stdout).trim().parse::<f64>().context("the sandbox sender's rate")?
    };
    let from_host = {
        let output = Command::new("python3").args(["-c", SENDER]).output().context("run the host sender")?;
        if !output.status.success() {
            bail!("the host sender failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        String::from_utf8_lossy(&output.stdout).trim().parse::<f64>().context("the host sender's rate")?
    };
    runtime.delete(&id)?;
    let mib = |rate: f64| rate / f64::from(1u32 << 20);
    println!(
        "TCP throughput to the test host over 5 s: sandbox {:.0} MiB/s, host {:.0} MiB/s (sandbox/host {:.2})",
        mib(from_sandbox),
        mib(from_host),
        from_sandbox / from_host
    );

    let count = args.net_sandboxes;
    let networked = idle_memory(runtime, &kinds[1].1, count)?;
    let loopback_only = idle_memory(runtime, &kinds[0].1, count)?;
    let json = serde_json::json!({
        "throughput_bytes_per_second": { "sandbox": from_sandbox, "host": from_host },
        "idle_memory_networked": networked,
        "idle_memory_loopback": loopback_only,
    });
    Ok((summaries, json))
}
