//! Egress policies (Daytona's `networkBlockAll`, `networkAllowList`, `domainAllowList`): what a
//! sandbox reaches under each, a change on a running sandbox acting at once, and the policy
//! surviving stop/start and a runtime restart. Every destination is a test host in a namespace
//! these tests made (`net_fixture.rs`).

use crate::common::{stdout, Fixture};
use crate::net_fixture::{asked, logged, table_exists, TestNet};
use crate::network::{outbound, probe, refused, DeleteAll};
use sandbar_runtime::{EgressPolicy, ExecSpec, Link, Runtime, SandboxId, SandboxSpec};
use std::net::Ipv4Addr;
use std::time::Duration;

fn with_policy(policy: EgressPolicy) -> SandboxSpec {
    let mut spec = outbound();
    spec.egress = policy;
    spec
}

fn blocked() -> EgressPolicy {
    EgressPolicy { block_all: true, ..EgressPolicy::default() }
}

fn cidrs(nets: &[&str]) -> EgressPolicy {
    EgressPolicy { allow_cidrs: nets.iter().map(|n| n.parse().unwrap()).collect(), ..EgressPolicy::default() }
}

/// The second upstream test host (the same HTTP server as `upstream_a`).
fn upstream_b(net: &TestNet) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.upstream_a()) + 1)
}

fn http(host: Ipv4Addr) -> (String, u16) {
    (host.to_string(), 8080)
}

/// Log lines of `sandbar::egress` (denials), captured by a global subscriber this test binary
/// installs once (the reader runs on the runtime's network thread, so a thread-local one would
/// miss them).
fn egress_log() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOG: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static std::sync::Mutex<Vec<u8>> = Box::leak(Box::default());
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("sandbar::egress=info"))
            .with_ansi(false)
            .with_writer(move || Capture(log))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this binary");
        log
    })
}

struct Capture(&'static std::sync::Mutex<Vec<u8>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        sandbar_runtime::lock(self.0).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (bounded) for a captured line containing every one of `parts`.
fn wait_for_line(parts: &[&str]) -> bool {
    for _ in 0..200 {
        let text = String::from_utf8_lossy(&sandbar_runtime::lock(egress_log())).to_string();
        if text.lines().any(|line| parts.iter().all(|part| line.contains(part))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn denied(fx: &Fixture, id: &SandboxId) -> u64 {
    fx.runtime.network(id).expect("network info").expect("a running networked sandbox").denied_packets
}

#[test]
fn block_all_leaves_loopback_only_and_refuses_at_once() {
    egress_log();
    let net = TestNet::new(7);
    let fx = Fixture::with_network("eg-block", net.config());
    let id = fx.started("a", &with_policy(blocked()));
    assert_eq!(denied(&fx, &id), 0, "a new sandbox starts with no denials");

    let outcomes = probe(&fx, &id, &[http(net.upstream_a()), http(upstream_b(&net))]);
    assert!(outcomes.iter().all(|o| refused(o)), "refused at once, not timed out: {outcomes:?}");
    assert!(denied(&fx, &id) >= 2, "each refused connect is counted: {}", denied(&fx, &id));
    let destination = format!("destination={}", net.upstream_a());
    assert!(
        wait_for_line(&["connection denied", &format!("sandbox_id={id}"), &destination, "port=8080"]),
        "no log line names the sandbox and destination: {}",
        String::from_utf8_lossy(&sandbar_runtime::lock(egress_log()))
    );
    // Its resolver answers nothing, and nothing is asked upstream.
    let lookup = fx.sh(&id, "getent hosts other.test");
    assert_eq!(lookup.status.shell_code(), 2, "not found: {}", stdout(&lookup));
    assert!(!asked(&net, "other.test"), "a blocked sandbox's query never leaves the host");
    // Loopback still works inside.
    let local = fx.sh(
        &id,
        "python3 -c \"import socket\ns=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\nc=socket.create_connection(s.getsockname(), 5); print('local ok')\"",
    );
    assert_eq!(stdout(&local).trim(), "local ok", "{}", String::from_utf8_lossy(&local.stderr));
    // Another sandbox beside it is open.
    let open = fx.started("b", &outbound());
    assert_eq!(probe(&fx, &open, &[http(net.upstream_a())]), vec!["connected"]);
    assert_eq!(denied(&fx, &open), 0);
}

#[test]
fn allow_lists_admit_only_their_networks_and_the_addresses_of_their_names() {
    let net = TestNet::new(8);
    let fx = Fixture::with_network("eg-allow", net.config());
    let only_b = fx.started("cidr", &with_policy(cidrs(&[&format!("{}/32", upstream_b(&net))])));
    assert_eq!(
        probe(&fx, &only_b, &[http(upstream_b(&net)), http(net.upstream_a())]),
        vec!["connected".to_string(), "ECONNREFUSED".to_string()]
    );
    // A CIDR list narrows, never widens: the lan is a host network the operator did not allow.
    let lan = fx.started("lan", &with_policy(cidrs(&[&net.lan_net().to_string()])));
    assert!(refused(&probe(&fx, &lan, &[http(net.lan_host())])[0]));

    let names = EgressPolicy { allow_domains: vec!["*.allowed.test".into()], ..EgressPolicy::default() };
    let by_name = fx.started("names", &with_policy(names));
    // Before any lookup, the address is not admitted.
    assert_eq!(probe(&fx, &by_name, &[http(net.upstream_a())]), vec!["ECONNREFUSED"]);
    let body = fx.sh(&by_name, "curl -sS --max-time 5 http://api.allowed.test:8080/");
    assert_eq!(stdout(&body), net.host_upstream().to_string(), "{}", String::from_utf8_lossy(&body.stderr));
    // The wildcard does not cover the name itself, nor other names; neither is asked upstream.
    for name in ["allowed.test", "other.test"] {
        let lookup = fx.sh(&by_name, &format!("getent hosts {name}"));
        assert_eq!(lookup.status.shell_code(), 2, "{name} is not found: {}", stdout(&lookup));
        assert!(!asked(&net, name), "{name} was asked upstream");
    }
    assert!(logged(&net, "api.allowed.test A"), "the allowed name was asked upstream");
    // A hard-coded address that was never answered is refused.
    assert_eq!(probe(&fx, &by_name, &[http(upstream_b(&net))]), vec!["ECONNREFUSED"]);
    // Block wins over a list.
    let both = EgressPolicy { block_all: true, ..cidrs(&[&net.upstream_net().to_string()]) };
    let blocked_with_list = fx.started("both", &with_policy(both));
    assert!(refused(&probe(&fx, &blocked_with_list, &[http(net.upstream_a())])[0]));
}

/// A connection open to a test host, then a policy change on the running sandbox: the same
/// process sees the connection cut, new connects refused, and after a restore connects work.
#[test]
fn a_policy_change_acts_on_a_running_sandbox_at_once() {
    let net = TestNet::new(9);
    let fx = Fixture::with_network("eg-live", net.config());
    let id = fx.started("a", &outbound());
    let script = format!(
        r#"python3 - <<'EOF'
import os, socket, time
s = socket.create_connection(("{}", 8080), 5)
open("/tmp/state", "w").write("open")
deadline = time.time() + 4
while not os.path.exists("/tmp/go") and time.time() < deadline:
    time.sleep(0.01)
try:
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    data = s.recv(100)
    print("answered" if data else "closed")
except OSError as e:
    print(type(e).__name__)
EOF"#,
        net.upstream_a()
    );
    let process = fx.runtime.exec(&id, &ExecSpec::new(["sh", "-c", &script])).unwrap();
    let mut waited = 0;
    while stdout(&fx.sh(&id, "cat /tmp/state 2>/dev/null")) != "open" {
        waited += 1;
        assert!(waited < 400, "the connection did not open");
        std::thread::sleep(Duration::from_millis(10));
    }
    fx.runtime.update_network(&id, &blocked()).unwrap();
    fx.sh(&id, "touch /tmp/go");
    let cut = process.output().unwrap();
    assert_eq!(stdout(&cut).trim(), "ConnectionResetError", "{}", String::from_utf8_lossy(&cut.stderr));
    assert!(refused(&probe(&fx, &id, &[http(net.upstream_a())])[0]));

    fx.runtime.update_network(&id, &EgressPolicy::default()).unwrap();
    assert_eq!(probe(&fx, &id, &[http(net.upstream_a())]), vec!["connected"], "restored without a restart");
    // From open to an allow list: only the listed host.
    fx.runtime.update_network(&id, &cidrs(&[&format!("{}/32", upstream_b(&net))])).unwrap();
    assert_eq!(
        probe(&fx, &id, &[http(net.upstream_a()), http(upstream_b(&net))]),
        vec!["ECONNREFUSED".to_string(), "connected".to_string()]
    );
    // A bad pattern changes nothing.
    let bad = EgressPolicy { allow_domains: vec!["not a name".into()], ..EgressPolicy::default() };
    assert!(fx.runtime.update_network(&id, &bad).is_err());
    assert_eq!(probe(&fx, &id, &[http(upstream_b(&net))]), vec!["connected"]);
    assert!(fx.runtime.network_leftovers().is_empty(), "{:?}", fx.runtime.network_leftovers());
}

#[test]
fn a_policy_survives_stop_start_and_a_runtime_restart() {
    let net = TestNet::new(10);
    let data = tempfile::tempdir().unwrap();
    let config = || net.runtime_config(data.path(), "egrestart");
    let id = SandboxId::new("eg-restart").unwrap();
    let curl = || {
        ExecSpec::new(["python3", "-c", &format!(
        "import socket\ntry:\n  socket.create_connection(('{}', 8080), 5); print('connected')\nexcept OSError as e:\n  print(type(e).__name__)",
        net.upstream_a()
    )])
    };
    let reach = |runtime: &Runtime| {
        String::from_utf8_lossy(&runtime.exec(&id, &curl()).unwrap().output().unwrap().stdout).trim().to_string()
    };
    {
        let runtime = Runtime::new(config()).expect("runtime");
        let _cleanup = DeleteAll { runtime: &runtime, only_on_panic: true };
        runtime.create(&id, &outbound()).unwrap();
        // Set while stopped: the record carries it to the start.
        runtime.update_network(&id, &blocked()).unwrap();
        runtime.start(&id).unwrap();
        assert_eq!(reach(&runtime), "ConnectionRefusedError");
        runtime.stop(&id, Duration::from_secs(1)).unwrap();
        runtime.start(&id).unwrap();
        assert_eq!(reach(&runtime), "ConnectionRefusedError", "blocked after stop/start");
        // Dropped with the sandbox running: the table keeps enforcing.
    }
    assert!(table_exists("sandbar_t10"));
    let runtime = Runtime::new(config()).expect("runtime again");
    let cleanup = DeleteAll { runtime: &runtime, only_on_panic: false };
    assert_eq!(runtime.recover_orphans().unwrap().adopted, 1);
    assert_eq!(reach(&runtime), "ConnectionRefusedError", "blocked after a runtime restart");
    runtime.update_network(&id, &EgressPolicy::default()).unwrap();
    assert_eq!(reach(&runtime), "connected");
    runtime.delete_all().unwrap();
    assert!(runtime.network_leftovers().is_empty(), "{:?}", runtime.network_leftovers());
    drop(cleanup);
    drop(runtime);
    assert!(!table_exists("sandbar_t10"));
}

/// Starts a listener on port `port` in sandbox `id` that accepts and closes, and waits for it.
fn listen(fx: &Fixture, id: &SandboxId, port: u16) {
    let server = format!(
        "setsid python3 -c \"import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('0.0.0.0', {port})); s.listen()\nwhile True:\n  c, _ = s.accept(); c.close()\" > /dev/null 2>&1 < /dev/null &"
    );
    fx.sh(id, &server);
    for _ in 0..300 {
        if probe(fx, id, &[("127.0.0.1".to_string(), port)]) == vec!["connected"] {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the listener in {id} did not come up");
}

#[test]
fn a_linked_follower_reaches_its_owner_by_name_and_nothing_else() {
    let net = TestNet::new(11);
    let fx = Fixture::with_network("eg-link", net.config());
    let owner = fx.started("owner", &outbound());
    let third = fx.started("third", &outbound());
    let mut spec = with_policy(blocked());
    spec.link = Some(Link { owner: owner.to_string(), owner_alias: "own-11".into(), alias: "fol-11".into() });
    let follower = fx.started("follower", &spec);
    let (owner_address, follower_address, third_address) = (
        fx.runtime.network_address(&owner).unwrap(),
        fx.runtime.network_address(&follower).unwrap(),
        fx.runtime.network_address(&third).unwrap(),
    );
    for id in [&owner, &follower, &third] {
        listen(&fx, id, 9000);
    }
    // The follower resolves its owner's name and reaches it (its block-all does not cover the
    // link), and nothing else: not the third sandbox, not the outside.
    let resolved = fx.sh(&follower, "getent hosts own-11");
    assert!(stdout(&resolved).starts_with(&owner_address.to_string()), "{}", stdout(&resolved));
    assert_eq!(
        probe(&fx, &follower, &[("own-11".into(), 9000), (third_address.to_string(), 9000), http(net.upstream_a())]),
        vec!["connected".to_string(), "ECONNREFUSED".to_string(), "ECONNREFUSED".to_string()]
    );
    // The owner resolves and reaches its follower; the third sandbox reaches neither.
    let back = fx.sh(&owner, "getent hosts fol-11");
    assert!(stdout(&back).starts_with(&follower_address.to_string()), "{}", stdout(&back));
    assert_eq!(probe(&fx, &owner, &[("fol-11".into(), 9000)]), vec!["connected"]);
    assert_eq!(fx.sh(&third, "getent hosts own-11").status.shell_code(), 2, "only the follower knows the name");
    assert!(probe(&fx, &third, &[(owner_address.to_string(), 9000), (follower_address.to_string(), 9000)])
        .iter()
        .all(|o| refused(o)));

    // The link goes with the owner.
    fx.runtime.delete(&owner).unwrap();
    assert_eq!(fx.sh(&follower, "getent hosts own-11").status.shell_code(), 2);
    assert!(fx.runtime.network_leftovers().is_empty(), "{:?}", fx.runtime.network_leftovers());
    // An owner that starts again links with its running follower again.
    let owner = fx.started("owner2", &outbound());
    let mut spec = with_policy(blocked());
    spec.link = Some(Link { owner: owner.to_string(), owner_alias: "own-11".into(), alias: "fol-11b".into() });
    let second = fx.started("follower2", &spec);
    fx.runtime.stop(&owner, Duration::from_secs(1)).unwrap();
    assert_eq!(fx.sh(&second, "getent hosts own-11").status.shell_code(), 2, "no name while the owner is stopped");
    fx.runtime.start(&owner).unwrap();
    listen(&fx, &owner, 9000);
    assert_eq!(probe(&fx, &second, &[("own-11".into(), 9000)]), vec!["connected"]);
    assert!(fx.runtime.network_leftovers().is_empty(), "{:?}", fx.runtime.network_leftovers());
}
