//! Outbound networking for sandboxes: each networked sandbox gets a veth pair into the host, one
//! address of Sandbar's range as a /32 with a default route to a gateway address the host holds on
//! a dummy link, NAT to the outside, an nftables table that keeps it away from everything of the
//! host and from other sandboxes, and a DNS forwarder at the gateway.
//!
//! Boundaries: links, addresses and routes go through rtnetlink (`link.rs`), the firewall through
//! typed nftables JSON (`firewall.rs`), DNS through hickory (`dns.rs`). Everything async runs on
//! one small tokio runtime owned by [`Net`]; the runtime's sync methods wait on it through a
//! channel, so they work from any thread (also from inside another tokio runtime's blocking
//! pool). Veth pairs are made ahead in a pool, so a start takes a ready one.
//!
//! Invariants: an address (slot) is held by exactly one pooled or running sandbox; the slot is
//! freed only after its link is deleted; the firewall table is replaced in one transaction, so
//! the guards never lapse, also while sandboxes run.

mod dns;
mod firewall;
mod ipam;
mod link;
mod nflog;

use crate::error::BoxError;
use crate::pool::Pool;
use crate::spec::{EgressPolicy, Link, SandboxId};
use crate::sync::lock;
use crate::Error;
use firewall::{Ruleset, SlotRules, Transaction};
use ipam::Ipam;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// How sandboxes reach the outside: Sandbar's address range, where DNS goes, and which of the
/// host's networks sandboxes may reach after all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Names this runtime's table (`sandbar_<instance>`), links (`sb<instance>v…`) and dummy
    /// (`sb<instance>dns`), so several runtimes can share a host (tests); 1 to 4 lower-case
    /// letters or digits. `None`: `sandbar`, `sbv…`, `sbdns`.
    pub instance: Option<String>,
    /// The range sandbox addresses come from (at most a /28, and it must not overlap any
    /// network the host routes). Its first address is the gateway and resolver.
    pub range: Ipv4Net,
    /// Where the forwarder sends queries; empty: the host's own resolvers (`/etc/resolv.conf`).
    pub dns_upstream: Vec<SocketAddr>,
    /// Networks sandboxes may reach although they are private or the host's own
    /// (`--network-allow`).
    pub allow_networks: Vec<Ipv4Net>,
    /// The NFLOG group denied connections are reported on (read by the runtime, which logs
    /// each with its sandbox id); distinct per runtime instance on one host.
    pub log_group: u16,
}

/// The default NFLOG group of denied connections.
pub const DEFAULT_LOG_GROUP: u16 = 91;

/// The default range of sandbox addresses.
pub const DEFAULT_NETWORK_RANGE: &str = "10.213.0.0/16";

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            instance: None,
            range: DEFAULT_NETWORK_RANGE.parse().expect("the default range parses"),
            dns_upstream: Vec::new(),
            allow_networks: Vec::new(),
            log_group: DEFAULT_LOG_GROUP,
        }
    }
}

/// The names of what one runtime instance owns on the host.
#[derive(Debug, Clone)]
struct Names {
    table: String,
    link_prefix: String,
    dummy: String,
}

impl Names {
    fn of(instance: Option<&str>) -> Result<Names, Error> {
        match instance {
            None => Ok(Names { table: "sandbar".into(), link_prefix: "sbv".into(), dummy: "sbdns".into() }),
            Some(name) => {
                let valid =
                    (1..=4).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                if !valid {
                    return Err(Error::InvalidSpec {
                        what: format!("network instance {name:?}: use 1 to 4 lower-case letters or digits"),
                    });
                }
                Ok(Names {
                    table: format!("sandbar_{name}"),
                    link_prefix: format!("sb{name}v"),
                    dummy: format!("sb{name}dns"),
                })
            }
        }
    }

    fn host_link(&self, slot: u32) -> String {
        format!("{}{slot:x}", self.link_prefix)
    }

    fn slot_of_link(&self, name: &str) -> Option<u32> {
        u32::from_str_radix(name.strip_prefix(&self.link_prefix)?, 16).ok()
    }

    fn is_own_device(&self, device: &str) -> bool {
        device.starts_with(&self.link_prefix) || device == self.dummy
    }
}

/// What a running sandbox's `running.json` records of its network, so a later runtime process
/// re-adopts the sandbox with the same address and link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetMarker {
    pub(crate) slot: u32,
    pub(crate) address: Ipv4Addr,
    /// The conntrack mark of flows its current policy admitted (0: none yet).
    #[serde(default)]
    pub(crate) generation: u32,
}

/// A sandbox an earlier process left running, as the new one finds it before recovery: its
/// address and the policy its record names (block-all when the record cannot be read).
#[derive(Debug, Clone)]
pub(crate) struct Reserved {
    pub(crate) marker: NetMarker,
    pub(crate) policy: EgressPolicy,
}

/// The host's side of sandbox networking: the netlink connection, the address allocator, the
/// firewall table and the DNS forwarder.
pub(crate) struct Net {
    names: Names,
    range: Ipv4Net,
    gateway: Ipv4Addr,
    ruleset: Ruleset,
    /// The `nft` command the ruleset is applied with.
    nft: PathBuf,
    ipam: Mutex<Ipam>,
    host: rtnetlink::Handle,
    clients: dns::Clients,
    dns: Mutex<Option<dns::DnsServer>>,
    /// The last policy generation handed out (conntrack marks; never 0).
    generation: AtomicU32,
    /// Linked pairs in the firewall, as (follower, owner) addresses.
    links: Mutex<Vec<(Ipv4Addr, Ipv4Addr)>>,
    /// Always `Some` until dropped (then shut down without blocking, which is allowed also
    /// inside another tokio runtime).
    rt: Option<tokio::runtime::Runtime>,
}

/// A network namespace with its sandbox link ready, waiting in the pool. Dropped unused, it
/// deletes its link and frees its address.
pub(crate) struct NetSlot {
    net: Arc<Net>,
    netns: OwnedFd,
    slot: u32,
    host_index: u32,
    /// The address's denied-packet count when the slot was made.
    denied_base: u64,
    armed: bool,
}

impl Drop for NetSlot {
    fn drop(&mut self) {
        if self.armed {
            self.net.release_slot(self.slot, Some(self.host_index), false);
        }
    }
}

/// A running sandbox's network: its address and host link. [`Attached::release`] gives it all
/// back (stop, delete, a failed start); dropping it without that leaves it in place (the runtime
/// went away while the sandbox runs, for a later process to re-adopt).
pub(crate) struct Attached {
    net: Arc<Net>,
    sandbox_id: String,
    slot: u32,
    address: Ipv4Addr,
    host_index: u32,
    generation: AtomicU32,
    /// The address's denied-packet count when this sandbox got it.
    denied_base: u64,
    /// Whether the firewall holds policy objects of this slot (to clear on change and release).
    has_objects: AtomicBool,
    released: AtomicBool,
}

impl Attached {
    /// The sandbox's address.
    pub(crate) fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The resolver the sandbox's `/etc/resolv.conf` names.
    pub(crate) fn nameserver(&self) -> Ipv4Addr {
        self.net.gateway
    }

    /// What `running.json` records.
    pub(crate) fn marker(&self) -> NetMarker {
        NetMarker { slot: self.slot, address: self.address, generation: self.generation.load(Ordering::Acquire) }
    }

    /// Puts `policy` in force in the firewall (one transaction; an open policy on a fresh link
    /// needs none). Call before the sandbox runs anything.
    pub(crate) fn enforce(&self, policy: &EgressPolicy) -> Result<(), BoxError> {
        let generation = self.net.next_generation();
        let rules = SlotRules { slot: self.slot, address: self.address, policy: policy.clone(), generation };
        let had_objects = self.has_objects.load(Ordering::Acquire);
        if !had_objects && policy.is_open() {
            return Ok(());
        }
        apply(&self.net.nft, &self.net.ruleset.set_policy(&rules, had_objects))?;
        self.has_objects.store(!policy.is_open(), Ordering::Release);
        self.generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// Changes a running sandbox's policy: the firewall at once (flows the old policy admitted
    /// through DNS are cut), then what its resolver answers.
    pub(crate) fn update(&self, policy: &EgressPolicy) -> Result<(), BoxError> {
        self.enforce(policy)?;
        self.net.clients.insert(self.address, self.net.client(&self.sandbox_id, self.slot, policy));
        Ok(())
    }

    /// Links this follower with its running `owner`: each reaches the other, and resolves the
    /// other's name. Linking twice does nothing.
    pub(crate) fn link_to(&self, owner: &Attached, link: &Link) -> Result<(), BoxError> {
        let net = &self.net;
        let pair = (self.address, owner.address);
        if lock(&net.links).contains(&pair) {
            return Ok(());
        }
        apply(&net.nft, &net.ruleset.link(self.address, owner.address))?;
        lock(&net.links).push(pair);
        net.clients.set_alias(self.address, &link.owner_alias, owner.address);
        net.clients.set_alias(owner.address, &link.alias, self.address);
        Ok(())
    }

    /// Packets the firewall refused from this sandbox since its start.
    pub(crate) fn denied_packets(&self) -> Result<u64, BoxError> {
        Ok(self.net.denied_packets(self.address)?.saturating_sub(self.denied_base))
    }

    /// Deletes the link, forgets the sandbox in the forwarder and frees the address. Runs once;
    /// later calls do nothing.
    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.net.clients.remove(self.address);
            self.net.release_slot(self.slot, Some(self.host_index), self.has_objects.load(Ordering::Acquire));
        }
    }
}

impl Net {
    /// Sets up the host side: checks the range against the host's routes, removes links an
    /// earlier process left (except those of `reserved` slots, which sandboxes that may be
    /// re-adopted hold), makes the gateway, installs the firewall table, turns on IPv4
    /// forwarding and starts the forwarder.
    pub(crate) fn new(config: &NetConfig, reserved: &[Reserved]) -> Result<Net, Error> {
        let names = Names::of(config.instance.as_deref())?;
        let range = config.range.trunc();
        if range.prefix_len() > 28 {
            return Err(Error::InvalidSpec { what: format!("network range {range}: use at most a /28") });
        }
        let gateway = Ipv4Addr::from(u32::from(range.network()) + 1);
        for upstream in &config.dns_upstream {
            if let SocketAddr::V4(v4) = upstream {
                if range.contains(v4.ip()) {
                    return Err(Error::InvalidSpec {
                        what: format!("DNS upstream {upstream} lies in the sandbox range {range}"),
                    });
                }
            }
        }
        for allowed in &config.allow_networks {
            if overlaps(allowed, &range) {
                return Err(Error::NetworkRange {
                    range: range.to_string(),
                    clash: format!("--network-allow {allowed}"),
                });
            }
        }
        let nft = find_nft()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sandbar-net")
            .enable_all()
            .build()
            .map_err(setup("start the network thread"))?;
        let host = {
            let _entered = rt.enter();
            let (connection, handle, _) = rtnetlink::new_connection().map_err(setup("open a netlink socket"))?;
            rt.spawn(connection);
            handle
        };
        let mut ipam = Ipam::new(range);
        for kept in reserved {
            ipam.claim(kept.marker.slot);
        }
        let clients = dns::Clients::default();
        let mut net = Net {
            ruleset: Ruleset {
                table: names.table.clone(),
                link_prefix: names.link_prefix.clone(),
                range,
                gateway,
                never: Vec::new(),
                allowed: Ipv4Net::aggregate(&config.allow_networks),
                log_group: config.log_group,
            },
            names,
            range,
            gateway,
            nft,
            ipam: Mutex::new(ipam),
            host,
            clients,
            dns: Mutex::new(None),
            generation: AtomicU32::new(initial_generation()),
            links: Mutex::new(Vec::new()),
            rt: Some(rt),
        };
        let routes =
            net.on_host(|h| async move { link::ipv4_routes(&h).await }).map_err(setup("list the host's routes"))?;
        let mut never: Vec<Ipv4Net> = firewall::NEVER_REACHABLE
            .iter()
            .map(|(address, len)| Ipv4Net::new(*address, *len).expect("valid prefix"))
            .collect();
        for route in &routes {
            let own = route.device.as_deref().is_some_and(|device| net.names.is_own_device(device));
            if own || route.destination.prefix_len() == 0 {
                continue;
            }
            if overlaps(&route.destination, &range) {
                let device = route.device.as_deref().unwrap_or("-");
                return Err(Error::NetworkRange {
                    range: range.to_string(),
                    clash: format!("the host's route {} dev {device} (table {})", route.destination, route.table),
                });
            }
            if route.scope_link {
                never.push(route.destination);
            }
        }
        net.ruleset.never = Ipv4Net::aggregate(&never);
        let kept: Vec<u32> = reserved.iter().map(|kept| kept.marker.slot).collect();
        net.sweep(&kept)?;
        let dummy = net.names.dummy.clone();
        net.on_host(move |h| async move { link::ensure_dummy(&h, &dummy, gateway).await })
            .map_err(setup(format!("make the gateway {gateway} on link {}", net.names.dummy)))?;
        // Sandboxes an earlier process left running keep their policies through the replace.
        let slots: Vec<SlotRules> = reserved
            .iter()
            .map(|kept| SlotRules {
                slot: kept.marker.slot,
                address: kept.marker.address,
                policy: kept.policy.clone(),
                generation: kept.marker.generation,
            })
            .collect();
        apply(&net.nft, &net.ruleset.replace(&slots))
            .map_err(setup(format!("install nftables table inet {}", net.names.table)))?;
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").map_err(setup("turn on IPv4 forwarding"))?;
        let upstreams = if config.dns_upstream.is_empty() {
            dns::Upstreams::system()
        } else {
            dns::Upstreams::explicit(config.dns_upstream.clone())
        };
        let listen = SocketAddrV4::new(gateway, 53);
        let clients = net.clients.clone();
        let (nft, ruleset) = (net.nft.clone(), net.ruleset.clone());
        let admit: dns::Admit =
            Arc::new(move |slot, addresses| apply(&nft, &ruleset.admit(slot, &addresses)).map_err(|e| e.to_string()));
        let server = net
            .run(async move { dns::serve(listen, upstreams, clients, admit).await })
            .map_err(setup(format!("start the DNS forwarder on {listen}")))?;
        *lock(&net.dns) = Some(server);
        let group = config.log_group;
        match net.run(nflog::open(group)) {
            Ok(socket) => {
                net.rt().spawn(nflog::run(socket, net.clients.clone()));
            }
            // Denials are still refused and counted; only their log lines are missing.
            Err(e) => tracing::warn!(group, error = %e, "cannot read denied-packet records; denials are not logged"),
        }
        Ok(net)
    }

    /// Runs `future` on the network thread and waits for it.
    fn run<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.rt().spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv().expect("the network thread runs while Net lives")
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the network runtime lives as long as Net")
    }

    /// Runs `f` with the host's netlink handle on the network thread.
    fn on_host<T: Send + 'static, F: Future<Output = T> + Send + 'static>(
        &self,
        f: impl FnOnce(rtnetlink::Handle) -> F,
    ) -> T {
        self.run(f(self.host.clone()))
    }

    /// Deletes every link of this instance whose slot is not in `keep`.
    fn sweep(&self, keep: &[u32]) -> Result<(), Error> {
        let prefix = self.names.link_prefix.clone();
        let links = self
            .on_host(move |h| async move { link::links_with_prefix(&h, &prefix).await })
            .map_err(setup("list leftover sandbox links"))?;
        for (index, name) in links {
            if self.names.slot_of_link(&name).is_some_and(|slot| keep.contains(&slot)) {
                continue;
            }
            tracing::info!(link = %name, "removing a sandbox link an earlier process left");
            self.on_host(move |h| async move { link::delete_link(&h, index).await })
                .map_err(setup(format!("delete leftover link {name}")))?;
        }
        Ok(())
    }

    /// Makes a network namespace with a sandbox link for the next free address.
    fn make_slot(net: &Arc<Net>) -> Result<NetSlot, BoxError> {
        let slot = lock(&net.ipam)
            .reserve()
            .ok_or_else(|| format!("no free address in the sandbox range {} (every address is in use)", net.range))?;
        let address = lock(&net.ipam).address(slot);
        let made = net.make_link(slot).and_then(|(netns, host_index)| {
            let mut slot = NetSlot { net: Arc::clone(net), netns, slot, host_index, denied_base: 0, armed: true };
            // The address's counter, and where it stands (dropping `slot` on failure frees it).
            apply(&net.nft, &net.ruleset.counted(address))?;
            slot.denied_base = net.denied_packets(address)?;
            Ok(slot)
        });
        match made {
            Ok(slot) => Ok(slot),
            Err(e) => {
                // A slot that got as far as a link gave itself back when dropped.
                if lock(&net.ipam).is_taken(slot) {
                    net.release_slot(slot, None, false);
                }
                Err(e)
            }
        }
    }

    fn make_link(&self, slot: u32) -> Result<(OwnedFd, u32), BoxError> {
        let rt = self.rt().handle().clone();
        let (netns, ns) = crate::sys::in_new_network_namespace(move || {
            // New links in this namespace (the sandbox's eth0) get no IPv6.
            std::fs::write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")?;
            let _entered = rt.enter();
            let (connection, handle, _) = rtnetlink::new_connection()?;
            rt.spawn(connection);
            Ok(handle)
        })
        .map_err(|e| format!("make a network namespace: {e}"))?;
        let plan = link::LinkPlan {
            host_name: self.names.host_link(slot),
            host_mac: mac(slot, 0),
            peer_mac: mac(slot, 1),
            address: lock(&self.ipam).address(slot),
            gateway: self.gateway,
        };
        let fd = netns.try_clone().map_err(|e| format!("duplicate a namespace fd: {e}"))?;
        let host = self.host.clone();
        let host_index = self.run(async move {
            let made = link::make_sandbox_link(&host, &ns, fd.as_fd(), &plan).await;
            drop(ns);
            made
        })?;
        // The host side carries no IPv6 either (not even a link-local address).
        let sysctl = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", self.names.host_link(slot));
        if let Err(e) = std::fs::write(&sysctl, "1") {
            tracing::debug!(path = %sysctl, error = %e, "could not turn IPv6 off on a host link");
        }
        Ok((netns, host_index))
    }

    /// Removes a slot's firewall state (its links, and its policy objects when `had_objects`)
    /// and its link (by index when known, else by name), and frees the slot. An open sandbox
    /// without links needs no `nft` call.
    fn release_slot(&self, slot: u32, host_index: Option<u32>, had_objects: bool) {
        let name = self.names.host_link(slot);
        let address = lock(&self.ipam).address(slot);
        let peers: Vec<Ipv4Addr> = lock(&self.links)
            .iter()
            .filter_map(|(follower, owner)| match address {
                a if a == *follower => Some(*owner),
                a if a == *owner => Some(*follower),
                _ => None,
            })
            .collect();
        self.clients.remove_aliases(address);
        if had_objects || !peers.is_empty() {
            if let Err(e) = apply(&self.nft, &self.ruleset.release(slot, address, &peers, had_objects)) {
                // A later sandbox on this address would inherit the policy: the address stays taken.
                tracing::warn!(%address, error = %e, "could not remove a sandbox address's firewall state; it stays taken");
                return;
            }
        }
        lock(&self.links).retain(|(follower, owner)| *follower != address && *owner != address);
        let deleted = match host_index {
            Some(index) => self.on_host(move |h| async move { link::delete_link(&h, index).await }),
            None => {
                let name = name.clone();
                self.on_host(move |h| async move { link::delete_named(&h, &name).await })
            }
        };
        match deleted {
            // The address is only given out again once nothing of the old link is left.
            Ok(()) => lock(&self.ipam).release(slot),
            Err(e) => {
                tracing::warn!(link = %name, error = %e, "could not delete a sandbox link; its address stays taken")
            }
        }
    }

    /// Re-adopts the network of a sandbox an earlier process left running.
    pub(crate) fn adopt(
        self: &Arc<Self>,
        id: &SandboxId,
        marker: &NetMarker,
        policy: &EgressPolicy,
    ) -> Result<Attached, String> {
        let name = self.names.host_link(marker.slot);
        if lock(&self.ipam).address(marker.slot) != marker.address {
            return Err(format!("its address {} is not slot {} of {}", marker.address, marker.slot, self.range));
        }
        let wanted = name.clone();
        let host_index = self
            .on_host(move |h| async move { link::index_of(&h, &wanted).await })
            .map_err(|e| format!("look up its network link {name}: {e}"))?
            .ok_or_else(|| format!("its network link {name} is gone"))?;
        lock(&self.ipam).claim(marker.slot);
        self.clients.insert(marker.address, self.client(id.as_str(), marker.slot, policy));
        Ok(Attached {
            net: Arc::clone(self),
            sandbox_id: id.to_string(),
            slot: marker.slot,
            address: marker.address,
            host_index,
            generation: AtomicU32::new(marker.generation),
            // The table was rebuilt when this process started: its counters start at zero.
            denied_base: 0,
            // What an earlier process left is not known here: cleared on release to be sure.
            has_objects: AtomicBool::new(true),
            released: AtomicBool::new(false),
        })
    }

    /// Gives back the slot of a sandbox that was not re-adopted (its init is gone or was killed).
    pub(crate) fn forget(&self, marker: &NetMarker) {
        self.release_slot(marker.slot, None, true);
    }

    /// The forwarder's entry for a sandbox.
    fn client(&self, sandbox_id: &str, slot: u32, policy: &EgressPolicy) -> dns::Client {
        dns::Client { sandbox_id: sandbox_id.to_string(), policy: policy.clone(), slot }
    }

    /// A fresh policy generation (a conntrack mark): never 0, which unmarked flows carry.
    fn next_generation(&self) -> u32 {
        loop {
            let generation = self.generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
            if generation != 0 {
                return generation;
            }
        }
    }

    /// `nft -j list <what...>` of this runtime's table.
    fn list(&self, what: &[&str]) -> Result<serde_json::Value, BoxError> {
        let output = std::process::Command::new(&self.nft)
            .args(["-j", "list"])
            .args(what)
            .output()
            .map_err(|e| format!("run {}: {e}", self.nft.display()))?;
        if !output.status.success() {
            return Err(
                format!("nft list {}: {}", what.join(" "), String::from_utf8_lossy(&output.stderr).trim()).into()
            );
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    fn list_table(&self) -> Result<serde_json::Value, BoxError> {
        self.list(&["table", "inet", &self.names.table])
    }

    /// The denied-packet counter of a sandbox address.
    fn denied_packets(&self, address: Ipv4Addr) -> Result<u64, BoxError> {
        let listing = self.list(&["set", "inet", &self.names.table, self.ruleset.denied_set()])?;
        firewall::counter_of(&listing, address)
            .ok_or_else(|| format!("no denied-packet counter for {address} in table {}", self.names.table).into())
    }

    /// Removes what the runtime owns on the host: the firewall table and the gateway link. Call
    /// only when no sandbox runs (a running one would lose its guards).
    fn remove_host_state(&self) {
        if let Err(e) = apply(&self.nft, &self.ruleset.remove()) {
            tracing::warn!(table = %self.names.table, error = %e, "could not remove the nftables table");
        }
        let dummy = self.names.dummy.clone();
        let removed = self.on_host(move |h| async move { link::delete_named(&h, &dummy).await });
        if let Err(e) = removed {
            tracing::warn!(link = %self.names.dummy, error = %e, "could not remove the gateway link");
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(server) = lock(&self.dns).take() {
            self.run(server.shutdown());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Sandbox networking of one runtime: [`Net`] and its pool of ready links.
pub(crate) struct Networking {
    net: Arc<Net>,
    slots: Pool<NetSlot>,
}

impl Networking {
    /// Sets up the host side (see [`Net::new`]) and starts filling the pool.
    pub(crate) fn new(config: &NetConfig, reserved: &[Reserved]) -> Result<Networking, Error> {
        let net = Arc::new(Net::new(config, reserved)?);
        let maker = Arc::clone(&net);
        let slots = Pool::new("network link", 4, 16, move || Net::make_slot(&maker));
        Ok(Networking { net, slots })
    }

    /// A namespace with a ready link for sandbox `id`, and the handle to give it back. Its
    /// resolver answers by `policy` already; the firewall needs [`Attached::enforce`].
    pub(crate) fn take(&self, id: &SandboxId, policy: &EgressPolicy) -> Result<(OwnedFd, Attached), BoxError> {
        let mut slot = self.slots.take()?;
        slot.armed = false;
        let address = lock(&self.net.ipam).address(slot.slot);
        self.net.clients.insert(address, self.net.client(id.as_str(), slot.slot, policy));
        let netns = slot.netns.try_clone().map_err(|e| format!("duplicate a namespace fd: {e}"))?;
        Ok((
            netns,
            Attached {
                net: Arc::clone(&self.net),
                sandbox_id: id.to_string(),
                slot: slot.slot,
                address,
                host_index: slot.host_index,
                generation: AtomicU32::new(0),
                denied_base: slot.denied_base,
                has_objects: AtomicBool::new(false),
                released: AtomicBool::new(false),
            },
        ))
    }

    /// See [`Net::adopt`].
    pub(crate) fn adopt(&self, id: &SandboxId, marker: &NetMarker, policy: &EgressPolicy) -> Result<Attached, String> {
        self.net.adopt(id, marker, policy)
    }

    /// See [`Net::forget`].
    pub(crate) fn forget(&self, marker: &NetMarker) {
        self.net.forget(marker)
    }

    /// Empties the pool (deleting its links) and, when `idle` (no sandbox runs), removes the
    /// table and the gateway too.
    pub(crate) fn shut_down(&self, idle: bool) {
        drop(self.slots.close());
        if idle {
            self.net.remove_host_state();
        }
    }

    /// What of networking is on the host that neither a running sandbox (by address) nor the
    /// pool accounts for: links, taken address slots, forwarder clients. Empty when nothing leaked.
    pub(crate) fn leftovers(&self, running: &HashSet<Ipv4Addr>) -> Vec<String> {
        // A link the refill thread is making holds its slot before it is in the pool.
        self.slots.settle();
        let mut held: HashSet<u32> = self.slots.with_items(|items| items.iter().map(|slot| slot.slot).collect());
        let net = &self.net;
        let in_use = {
            let ipam = lock(&net.ipam);
            held.extend(running.iter().filter_map(|address| ipam.slot_of(*address)));
            ipam.in_use()
        };
        let mut found = Vec::new();
        let prefix = net.names.link_prefix.clone();
        match net.on_host(move |h| async move { link::links_with_prefix(&h, &prefix).await }) {
            Ok(links) => found.extend(
                links
                    .into_iter()
                    .filter(|(_, name)| net.names.slot_of_link(name).is_none_or(|slot| !held.contains(&slot)))
                    .map(|(_, name)| format!("link {name}")),
            ),
            Err(e) => found.push(format!("links not listed: {e}")),
        }
        found.extend(in_use.into_iter().filter(|slot| !held.contains(slot)).map(|slot| format!("address slot {slot}")));
        let held_addresses: HashSet<Ipv4Addr> = {
            let ipam = lock(&net.ipam);
            held.iter().map(|slot| ipam.address(*slot)).collect()
        };
        match net.list_table() {
            Ok(listing) => found.extend(firewall::leftovers(&listing, &held, &held_addresses)),
            Err(e) => found.push(format!("firewall table not listed: {e}")),
        }
        found.extend(
            net.clients
                .addresses()
                .into_iter()
                .filter(|address| !running.contains(address))
                .map(|address| format!("DNS client {address}")),
        );
        found
    }

    /// The firewall table's name.
    pub(crate) fn table(&self) -> &str {
        &self.net.names.table
    }

    /// The gateway link's name.
    pub(crate) fn dummy(&self) -> &str {
        &self.net.names.dummy
    }
}

/// A locally administered MAC address for slot `slot`; `side` 0 is the host end, 1 the sandbox's.
fn mac(slot: u32, side: u8) -> [u8; 6] {
    let [_, high, middle, low] = slot.to_be_bytes();
    [0x02, 0x5b, high, middle, low, side]
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn setup<E: Into<BoxError>>(step: impl Into<String>) -> impl FnOnce(E) -> Error {
    let step = step.into();
    move |e| Error::NetworkSetup { step, source: e.into() }
}

/// The `nft` command, installed with apt-get when missing (as the other host tools are).
fn find_nft() -> Result<PathBuf, Error> {
    crate::host_tools::ensure("nft", "nftables", &mut ()).map_err(|tail| Error::NetworkSetup {
        step: "install nftables for the nft command (or serve with --network none)".into(),
        source: tail.into(),
    })?;
    let nft = crate::host_tools::path_of("nft").ok_or_else(|| Error::NetworkSetup {
        step: "find the nft command".into(),
        source: "nftables is installed but nft is not on the PATH nor in /usr/sbin".into(),
    })?;
    match std::process::Command::new(&nft).arg("--version").output() {
        Ok(output) if output.status.success() => Ok(nft),
        Ok(output) => Err(Error::NetworkSetup {
            step: "run nft --version".into(),
            source: String::from_utf8_lossy(&output.stderr).trim().to_string().into(),
        }),
        Err(e) => Err(Error::NetworkSetup { step: "run nft --version".into(), source: e.into() }),
    }
}

fn apply(nft: &Path, transaction: &Transaction) -> Result<(), BoxError> {
    let no_args: [&str; 0] = [];
    nftables::helper::apply_ruleset_raw(&transaction.payload(), Some(nft), no_args).map(drop).map_err(|e| e.into())
}

/// The first policy generation of a runtime process: time-based, so marks of flows an earlier
/// process admitted are not handed out again soon.
fn initial_generation() -> u32 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (now.as_secs() as u32).wrapping_mul(1_000).wrapping_add(now.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_short_and_plain() {
        let names = Names::of(Some("t3")).unwrap();
        assert_eq!((names.table.as_str(), names.dummy.as_str()), ("sandbar_t3", "sbt3dns"));
        assert_eq!(names.host_link(0xfffe), "sbt3vfffe");
        assert_eq!(names.slot_of_link("sbt3vfffe"), Some(0xfffe));
        assert_eq!(names.slot_of_link("sbt4v1"), None);
        for bad in ["", "toolong", "A1", "a-b"] {
            assert!(Names::of(Some(bad)).is_err(), "{bad:?} accepted");
        }
        let default = Names::of(None).unwrap();
        assert!(default.is_own_device("sbv1f") && default.is_own_device("sbdns") && !default.is_own_device("eth0"));
        // Link names must fit the kernel's 15 bytes.
        assert!(names.host_link(u32::from(u16::MAX)).len() <= 15);
    }

    #[test]
    fn macs_are_locally_administered_unicast_and_differ_per_side() {
        let host = mac(0x1234, 0);
        assert_eq!(host[0] & 0b11, 0b10, "locally administered, unicast");
        assert_ne!(host, mac(0x1234, 1));
        assert_ne!(host, mac(0x1235, 0));
    }
}
