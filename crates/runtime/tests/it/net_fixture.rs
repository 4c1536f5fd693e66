//! Test hosts for the networking tests, in network namespaces the tests make themselves: an
//! "upstream" behind a test veth (an HTTP server that answers with the caller's address, a DNS
//! server with a fixed zone) and a "lan" (a private network with a TCP listener). No packet of
//! these tests goes anywhere but to these namespaces and the host itself; every namespace,
//! link and server goes when the fixture drops, also on failure.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Runs `ip` with `args`; panics with its stderr when it fails.
pub fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

/// A named network namespace (`/run/netns/<name>`), deleted on drop.
pub struct NamedNs {
    pub name: String,
}

impl NamedNs {
    pub fn new(name: String) -> NamedNs {
        // A namespace a crashed earlier run left goes first.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        NamedNs { name }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for NamedNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Runs `f` on a thread inside the namespace at `path`.
pub fn spawn_in<T: Send + 'static>(path: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("enter the test namespace");
        f()
    })
}

/// A TCP server on a thread: counts connections and answers each with `reply(peer)`.
pub struct Server {
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `address` (inside namespace `ns`, or the host's when `None`). `reply` gets the
    /// peer's address; `None` closes the connection without a word.
    pub fn start(
        ns: Option<&str>,
        address: SocketAddr,
        reply: impl Fn(SocketAddr) -> Option<String> + Send + 'static,
    ) -> Server {
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (count, halt) = (Arc::clone(&accepted), Arc::clone(&stop));
        let serve = move || {
            let listener = TcpListener::bind(address).unwrap_or_else(|e| panic!("listen on {address}: {e}"));
            listener.set_nonblocking(true).expect("nonblocking listener");
            ready_tx.send(()).expect("fixture waits");
            while !halt.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((mut stream, peer)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        if let Some(body) = reply(peer) {
                            let mut request = [0u8; 4096];
                            let _ = stream.read(&mut request);
                            let response = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                            let _ = stream.write_all(response.as_bytes());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("accept on {address}: {e}"),
                }
            }
        };
        let thread = match ns {
            Some(path) => spawn_in(path, serve),
            None => std::thread::spawn(serve),
        };
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the test server listens");
        Server { accepted, stop, thread: Some(thread) }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The test network of test number `k` (1..=30): upstream `198.18.k.0/29` behind host link
/// `tnu<k>` (host .1, test hosts .2 and .3), lan `192.168.250.4k/30` behind `tnl<k>` (host
/// .4k+1, the lan host .4k+2), and the runtime's range `10.214.k.0/24`.
pub struct TestNet {
    pub k: u8,
    pub upstream: NamedNs,
    pub lan: NamedNs,
    pub servers: Vec<Server>,
    pub dns: Option<crate::net_dns::TestDns>,
    /// Queries the test DNS server got, as `name type`.
    pub dns_log: Arc<Mutex<Vec<String>>>,
}

impl TestNet {
    pub fn new(k: u8) -> TestNet {
        crate::common::require_root();
        assert!((1..=30).contains(&k));
        let upstream = NamedNs::new(format!("sbtest-up{k}"));
        let lan = NamedNs::new(format!("sbtest-lan{k}"));
        let (host_up, host_lan) = (format!("tnu{k}"), format!("tnl{k}"));
        for link in [&host_up, &host_lan] {
            let _ = Command::new("ip").args(["link", "del", link]).output();
        }
        ip(&["link", "add", &host_up, "type", "veth", "peer", "name", "eth0", "netns", &upstream.name]);
        ip(&["addr", "add", &format!("198.18.{k}.1/29"), "dev", &host_up]);
        ip(&["link", "set", &host_up, "up"]);
        ip(&["-n", &upstream.name, "addr", "add", &format!("198.18.{k}.2/29"), "dev", "eth0"]);
        ip(&["-n", &upstream.name, "addr", "add", &format!("198.18.{k}.3/29"), "dev", "eth0"]);
        ip(&["-n", &upstream.name, "link", "set", "eth0", "up"]);
        let lan_base = 4 * u32::from(k);
        ip(&["link", "add", &host_lan, "type", "veth", "peer", "name", "eth0", "netns", &lan.name]);
        ip(&["addr", "add", &format!("192.168.250.{}/30", lan_base + 1), "dev", &host_lan]);
        ip(&["link", "set", &host_lan, "up"]);
        ip(&["-n", &lan.name, "addr", "add", &format!("192.168.250.{}/30", lan_base + 2), "dev", "eth0"]);
        ip(&["-n", &lan.name, "link", "set", "eth0", "up"]);
        // The lan host answers the host's masqueraded address directly (same /30).
        let mut net = TestNet { k, upstream, lan, servers: Vec::new(), dns: None, dns_log: Arc::default() };
        let upstream_path = net.upstream.path();
        net.servers.push(Server::start(
            Some(&upstream_path),
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
            |peer| Some(peer.ip().to_string()),
        ));
        let lan_path = net.lan.path();
        net.servers.push(Server::start(Some(&lan_path), SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)), |peer| {
            Some(peer.ip().to_string())
        }));
        net.dns = Some(crate::net_dns::TestDns::start(&upstream_path, net.upstream_a(), Arc::clone(&net.dns_log)));
        net
    }

    /// The host's address toward the upstream (what masqueraded traffic comes from).
    pub fn host_upstream(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.k, 1)
    }

    /// The first upstream test host (HTTP on 8080, DNS on 53).
    pub fn upstream_a(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.k, 2)
    }

    /// The lan test host (HTTP on 8080).
    pub fn lan_host(&self) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 250, 4 * self.k + 2)
    }

    pub fn upstream_net(&self) -> ipnet::Ipv4Net {
        format!("198.18.{}.0/29", self.k).parse().unwrap()
    }

    pub fn lan_net(&self) -> ipnet::Ipv4Net {
        format!("192.168.250.{}/30", 4 * self.k).parse().unwrap()
    }

    /// The runtime's network config for this test network: its own instance and range, DNS
    /// to the test server only, and the upstream allowed (it is a host network).
    pub fn config(&self) -> sandbar_runtime::NetConfig {
        sandbar_runtime::NetConfig {
            instance: Some(format!("t{}", self.k)),
            range: format!("10.214.{}.0/24", self.k).parse().unwrap(),
            dns_upstream: vec![SocketAddr::from((self.upstream_a(), 53))],
            allow_networks: vec![self.upstream_net()],
            log_group: 100 + u16::from(self.k),
        }
    }

    /// Connections the lan server accepted.
    /// A runtime config over `data` with this network, under cgroup parent
    /// `sandbar-test-<pid>-<name>`, for tests that drop and remake runtimes by hand.
    pub fn runtime_config(&self, data: &std::path::Path, name: &str) -> sandbar_runtime::RuntimeConfig {
        let mut config = sandbar_runtime::RuntimeConfig::new(data, crate::common::images());
        config.cgroup_parent = format!("sandbar-test-{}-{name}", std::process::id());
        config.network = Some(self.config());
        config
    }

    pub fn lan_accepted(&self) -> usize {
        self.servers[1].accepted()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.servers.clear();
        self.dns = None;
        for link in [format!("tnu{}", self.k), format!("tnl{}", self.k)] {
            let _ = Command::new("ip").args(["link", "del", &link]).output();
        }
    }
}

/// Whether anything is left of test network `k` on the host (links, routes).
pub fn host_leftovers(k: u8) -> Vec<String> {
    let output = Command::new("ip").args(["-o", "link", "show"]).output().expect("ip link");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut left: Vec<String> = text
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| {
            name == &format!("tnu{k}") || name == &format!("tnl{k}") || name.starts_with(&format!("sbt{k}v"))
        })
        .collect();
    let routes = Command::new("ip").args(["-o", "route", "show", "table", "all"]).output().expect("ip route");
    left.extend(
        String::from_utf8_lossy(&routes.stdout)
            .lines()
            .filter(|line| line.contains(&format!("10.214.{k}.")) || line.contains(&format!("198.18.{k}.")))
            .map(|line| format!("route {line}")),
    );
    left
}

/// Whether nftables table `table` exists.
pub fn table_exists(table: &str) -> bool {
    Command::new("nft").args(["list", "table", "inet", table]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Whether the test DNS server got any query for `name` (any type).
pub fn asked(net: &TestNet, name: &str) -> bool {
    let prefix = format!("{name} ");
    sandbar_runtime::lock(&net.dns_log).iter().any(|seen| seen.starts_with(&prefix))
}

/// Whether the test DNS server got the query `entry` (`name TYPE`).
pub fn logged(net: &TestNet, entry: &str) -> bool {
    sandbar_runtime::lock(&net.dns_log).iter().any(|seen| seen == entry)
}
