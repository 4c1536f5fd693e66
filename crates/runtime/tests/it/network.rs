//! Outbound networking: a networked sandbox reaches test hosts outside (masqueraded), resolves
//! through the host's forwarder, and reaches nothing of the host, no other sandbox, no
//! metadata address and none of the host's other networks unless the operator allows it. Every
//! destination is a test host in a namespace these tests made (`net_fixture.rs`) or the host
//! itself; nothing is left behind.

use crate::common::{stdout, Fixture};
use crate::net_fixture::{host_leftovers, ip, table_exists, Server, TestNet};
use sandbar_runtime::{NetworkMode, Runtime, RuntimeConfig, SandboxId, SandboxSpec, DEFAULT_IMAGE};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

pub(crate) fn outbound() -> SandboxSpec {
    let mut spec = SandboxSpec::new(DEFAULT_IMAGE);
    spec.network = NetworkMode::Outbound;
    spec
}

/// A Python snippet that tries each `host port` pair (5 s bound each) and prints one line per
/// try: `connected`, `timeout`, or the errno name.
pub(crate) fn probe_script(targets: &[(String, u16)]) -> String {
    let list: Vec<String> = targets.iter().map(|(host, port)| format!("({host:?}, {port})")).collect();
    format!(
        r#"python3 - <<'EOF'
import errno, socket
for host, port in [{}]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, port))
        print("connected")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
    finally:
        s.close()
EOF"#,
        list.join(", ")
    )
}

/// Runs the probe in `id` and returns one outcome per target.
pub(crate) fn probe(fx: &Fixture, id: &SandboxId, targets: &[(String, u16)]) -> Vec<String> {
    let output = fx.sh(id, &probe_script(targets));
    assert!(output.status.shell_code() == 0, "probe failed: {}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), targets.len(), "one outcome per target: {lines:?}");
    lines
}

/// A refusal the sandbox sees at once: a reset, or an ICMP error (never a timeout, never a
/// connection).
pub(crate) fn refused(outcome: &str) -> bool {
    matches!(outcome, "ECONNREFUSED" | "EHOSTUNREACH" | "ENETUNREACH" | "EACCES" | "EPERM")
}

#[test]
fn a_networked_sandbox_reaches_the_outside_masqueraded_and_resolves_through_the_host() {
    let net = TestNet::new(1);
    let fx = Fixture::with_network("net-reach", net.config());
    let id = fx.started("a", &outbound());
    let address = fx.runtime.network_address(&id).expect("a networked sandbox has an address");
    assert!(net.config().range.contains(&address), "{address} is in the range");

    let body = fx.sh(&id, &format!("curl -sS --max-time 5 http://{}:8080/", net.upstream_a()));
    assert!(body.status.shell_code() == 0, "curl failed: {}", String::from_utf8_lossy(&body.stderr));
    assert_eq!(stdout(&body), net.host_upstream().to_string(), "the test host sees the host's address (NAT)");

    let gateway = Ipv4Addr::from(u32::from(net.config().range.network()) + 1);
    assert_eq!(
        stdout(&fx.sh(&id, "cat /etc/resolv.conf")),
        format!("# Written by sandbar at every start.\nnameserver {gateway}\noptions timeout:2 attempts:2\n")
    );
    let hosts = stdout(&fx.sh(&id, "cat /etc/hosts"));
    assert!(hosts.contains(&format!("{address}\t{id}\t# sandbar")), "{hosts}");
    let own = fx.sh(&id, "python3 -c 'import socket; print(socket.gethostbyname(socket.gethostname()))'");
    assert_eq!(stdout(&own).trim(), address.to_string(), "{}", String::from_utf8_lossy(&own.stderr));

    // Names resolve through the forwarder at the gateway, which asks the test DNS server.
    let resolved = fx.sh(&id, "getent ahostsv4 api.allowed.test | head -1");
    assert!(stdout(&resolved).starts_with(&net.upstream_a().to_string()), "{}", stdout(&resolved));
    assert!(crate::net_fixture::logged(&net, "api.allowed.test A"), "the query went upstream");
    let missing = fx.sh(&id, "getent hosts nope.allowed.test");
    assert_eq!(missing.status.shell_code(), 2, "a name that does not exist is not found");
    // No IPv6: AAAA answers are empty, and an IPv6 connect fails at once.
    let v6 = fx.sh(
        &id,
        "python3 -c \"import socket\ntry:\n  print(socket.getaddrinfo('allowed.test', 80, socket.AF_INET6))\nexcept socket.gaierror as e:\n  print('no address')\"",
    );
    assert_eq!(stdout(&v6).trim(), "no address");
    assert_eq!(probe(&fx, &id, &[("fd00::2".to_string(), 8080)]), vec!["ENETUNREACH"]);
}

#[test]
fn nothing_of_the_host_and_no_other_sandbox_is_reachable() {
    let net = TestNet::new(2);
    // If a guard failed, metadata traffic would land in the test's lan namespace, not on a real
    // network.
    ip(&["route", "add", "169.254.169.254/32", "dev", "tnl2"]);
    let fx = Fixture::with_network("net-guard", net.config());
    let a = fx.started("a", &outbound());
    let b = fx.started("b", &outbound());
    let b_address = fx.runtime.network_address(&b).unwrap();

    // A listener on every host address (IPv4 and IPv6), as a database on 0.0.0.0 would be.
    let port = 40002;
    let host_listener = Server::start(None, SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), |_| None);
    let mut targets: Vec<(String, u16)> = host_addresses().into_iter().map(|a| (a.to_string(), port)).collect();
    let range = net.config().range;
    let gateway = Ipv4Addr::from(u32::from(range.network()) + 1);
    let broadcast = range.broadcast();
    for extra in [gateway, range.network(), broadcast] {
        targets.push((extra.to_string(), port));
    }
    targets.push((gateway.to_string(), 22));
    targets.push((gateway.to_string(), 8080));
    let outcomes = probe(&fx, &a, &targets);
    for ((host, port), outcome) in targets.iter().zip(&outcomes) {
        assert!(refused(outcome), "{host}:{port} from a sandbox: {outcome}");
    }
    assert_eq!(host_listener.accepted(), 0, "the host listener saw no connection from a sandbox");

    // Sandbox to sandbox is refused both ways.
    let listen = "nohup python3 -c 'import socket,time\ns=socket.socket(); s.bind((\"0.0.0.0\", 9000)); s.listen(); time.sleep(60)' >/dev/null 2>&1 &";
    fx.sh(&b, listen);
    fx.sh(&a, listen);
    std::thread::sleep(Duration::from_millis(300));
    let a_address = fx.runtime.network_address(&a).unwrap();
    assert!(refused(&probe(&fx, &a, &[(b_address.to_string(), 9000)])[0]));
    assert!(refused(&probe(&fx, &b, &[(a_address.to_string(), 9000)])[0]));
    // Inside itself a sandbox still listens and connects.
    assert_eq!(probe(&fx, &b, &[("127.0.0.1".to_string(), 9000)]), vec!["connected"]);

    // Metadata, link-local and the host's other networks are refused; the test upstream,
    // allowed by the operator, is reached.
    let outcomes = probe(
        &fx,
        &a,
        &[
            ("169.254.169.254".to_string(), 80),
            (net.lan_host().to_string(), 8080),
            (net.upstream_a().to_string(), 8080),
        ],
    );
    assert!(refused(&outcomes[0]), "metadata: {}", outcomes[0]);
    assert!(refused(&outcomes[1]), "the host's lan: {}", outcomes[1]);
    assert_eq!(outcomes[2], "connected");
    assert_eq!(net.lan_accepted(), 0, "nothing reached the lan host");
}

#[test]
fn an_operator_allowed_network_is_reachable() {
    let net = TestNet::new(3);
    let mut config = net.config();
    config.allow_networks.push(net.lan_net());
    let fx = Fixture::with_network("net-allow", config);
    let id = fx.started("a", &outbound());
    let body = fx.sh(&id, &format!("curl -sS --max-time 5 http://{}:8080/", net.lan_host()));
    assert_eq!(stdout(&body), format!("192.168.250.{}", 4 * 3 + 1), "{}", String::from_utf8_lossy(&body.stderr));
    assert_eq!(net.lan_accepted(), 1);
}

#[test]
fn a_range_that_overlaps_the_hosts_routes_is_refused() {
    let net = TestNet::new(4);
    let mut config = net.config();
    config.range = "198.18.4.0/24".parse().unwrap();
    config.allow_networks.clear();
    // Never contacted: the runtime refuses the range before it starts its forwarder.
    config.dns_upstream = vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 5353))];
    let data = tempfile::tempdir().unwrap();
    let mut runtime_config = RuntimeConfig::new(data.path(), crate::common::images());
    let cgroup_parent = format!("sandbar-test-{}-overlap", std::process::id());
    runtime_config.cgroup_parent = cgroup_parent.clone();
    runtime_config.network = Some(config);
    let error = Runtime::new(runtime_config).err().expect("an overlapping range is refused");
    let message = error.to_string();
    assert!(message.contains("198.18.4.0/24") && message.contains("tnu4"), "{message}");
    assert!(!table_exists("sandbar_t4"), "nothing was installed");
    let found = std::process::Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "5", "-type", "d", "-name", &cgroup_parent])
        .output()
        .expect("find");
    let found = String::from_utf8_lossy(&found.stdout);
    assert!(found.trim().is_empty(), "the refused runtime left its parent cgroup: {found}");
}

#[test]
fn a_running_sandbox_keeps_its_network_across_a_runtime_restart() {
    let net = TestNet::new(5);
    let data = tempfile::tempdir().unwrap();
    let config = || net.runtime_config(data.path(), "netrestart");
    let id = SandboxId::new("net-restart").unwrap();
    let address = {
        let runtime = Runtime::new(config()).expect("runtime");
        // Left running on purpose when this block ends; deleted if the test fails inside it.
        let _cleanup = DeleteAll { runtime: &runtime, only_on_panic: true };
        runtime.create(&id, &outbound()).unwrap();
        runtime.start(&id).unwrap();
        runtime.network_address(&id).unwrap()
        // Dropped with the sandbox running: its link and the table stay.
    };
    assert!(table_exists("sandbar_t5"), "a running sandbox keeps its guards while no runtime runs");
    let runtime = Runtime::new(config()).expect("runtime again");
    let cleanup = DeleteAll { runtime: &runtime, only_on_panic: false };
    assert_eq!(runtime.recover_orphans().unwrap().adopted, 1);
    assert_eq!(runtime.network_address(&id), Some(address), "re-adopted with the same address");
    let exec = sandbar_runtime::ExecSpec::new([
        "curl",
        "-sS",
        "--max-time",
        "5",
        &format!("http://{}:8080/", net.upstream_a()),
    ]);
    let body = runtime.exec(&id, &exec).unwrap().output().unwrap();
    assert_eq!(String::from_utf8_lossy(&body.stdout), net.host_upstream().to_string());
    assert!(runtime.network_leftovers().is_empty(), "{:?}", runtime.network_leftovers());
    // A new sandbox does not get the adopted one's address.
    let other = SandboxId::new("net-restart-2").unwrap();
    runtime.create(&other, &outbound()).unwrap();
    runtime.start(&other).unwrap();
    assert_ne!(runtime.network_address(&other), Some(address));
    runtime.delete_all().unwrap();
    assert!(runtime.network_leftovers().is_empty(), "{:?}", runtime.network_leftovers());
    drop(cleanup);
    drop(runtime);
    assert!(!table_exists("sandbar_t5"), "the table goes with the last runtime");
    assert!(host_leftovers(5).iter().all(|l| l.starts_with("route") || l.starts_with("tnu") || l.starts_with("tnl")));
}

#[test]
fn a_hundred_networked_sandboxes_leave_nothing_behind() {
    let net = TestNet::new(6);
    let fx = Fixture::with_network("net-leak", net.config());
    let (table, dummy) = fx.runtime.network_host_names().unwrap();
    for round in 0..100 {
        // Open, blocked, CIDR- and name-restricted sandboxes in turn, each leaving its objects.
        let mut spec = outbound();
        spec.egress = match round % 4 {
            0 => sandbar_runtime::EgressPolicy::default(),
            1 => sandbar_runtime::EgressPolicy { block_all: true, ..Default::default() },
            2 => sandbar_runtime::EgressPolicy { allow_cidrs: vec![net.upstream_net()], ..Default::default() },
            _ => sandbar_runtime::EgressPolicy { allow_domains: vec!["*.allowed.test".into()], ..Default::default() },
        };
        let id = fx.started(&format!("r{round}"), &spec);
        if round == 3 {
            // A name lookup admits an address into the sandbox's own set, which goes with it.
            let body = fx.sh(&id, "curl -sS --max-time 5 http://api.allowed.test:8080/");
            assert_eq!(stdout(&body), net.host_upstream().to_string());
        } else if round % 10 == 0 {
            let body = fx.sh(&id, &format!("curl -sS --max-time 5 http://{}:8080/", net.upstream_a()));
            assert_eq!(stdout(&body), net.host_upstream().to_string());
        } else {
            assert!(fx.sh(&id, "true").status.shell_code() == 0);
        }
        fx.runtime.delete(&id).unwrap();
    }
    assert!(fx.runtime.network_leftovers().is_empty(), "{:?}", fx.runtime.network_leftovers());
    drop(fx);
    assert!(!table_exists(&table), "table {table} removed");
    let links = host_leftovers(6);
    assert!(!links.iter().any(|l| l.starts_with("sbt6v") || l.contains(&dummy)), "{links:?}");
    assert!(!links.iter().any(|l| l.contains("10.214.6.")), "no route of the range is left: {links:?}");
}

/// Deletes every sandbox of a runtime a test made by hand when dropped (always, or only when the
/// test is failing), so a failed test leaves no running sandbox or cgroup behind.
pub(crate) struct DeleteAll<'a> {
    pub(crate) runtime: &'a Runtime,
    pub(crate) only_on_panic: bool,
}

impl Drop for DeleteAll<'_> {
    fn drop(&mut self) {
        if !self.only_on_panic || std::thread::panicking() {
            let _ = self.runtime.delete_all();
        }
    }
}

/// Every address of the host (all links, IPv4 and IPv6), from `ip -j addr`.
fn host_addresses() -> Vec<IpAddr> {
    let output = std::process::Command::new("ip").args(["-j", "addr", "show"]).output().expect("ip addr");
    let links: serde_json::Value = serde_json::from_slice(&output.stdout).expect("ip -j output");
    let mut addresses = Vec::new();
    for link in links.as_array().unwrap() {
        for info in link["addr_info"].as_array().into_iter().flatten() {
            let Some(local) = info["local"].as_str() else { continue };
            let Ok(address) = local.parse::<IpAddr>() else { continue };
            // A link-local IPv6 address needs a scope id, which no sandbox can give.
            if matches!(address, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80) {
                continue;
            }
            addresses.push(address);
        }
    }
    assert!(addresses.len() >= 2, "the host has addresses: {addresses:?}");
    addresses
}
