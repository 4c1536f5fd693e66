//! Per-sandbox veth networking over rtnetlink: veth pair creation, in-namespace
//! configuration, dummy links and route/address dumps.
//!
//! Every fallible call returns `std::io::Error` whose message names the
//! operation and its operands ("add route 10.213.0.7/32 dev sbv7: File exists
//! (os error 17)"); the error kind is derived from the kernel's errno.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::NeighbourState;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteScope};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkDummy, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

/// Result type of this module.
pub type Result<T> = std::result::Result<T, io::Error>;

/// Linux `IFNAMSIZ - 1`: the longest interface name the kernel accepts.
const MAX_IFNAME: usize = 15;

/// Name the sandbox side of the veth pair gets inside its namespace.
const SANDBOX_IFNAME: &str = "eth0";

/// What [`make_sandbox_link`] builds for one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    /// Name of the host-side veth (at most 15 bytes), e.g. `sbv7`.
    pub host_name: String,
    /// MAC address of the host-side veth.
    pub host_mac: [u8; 6],
    /// MAC address of the sandbox-side veth (`eth0` in the sandbox).
    pub peer_mac: [u8; 6],
    /// The sandbox's IPv4 address (configured as a /32 on `eth0`).
    pub address: Ipv4Addr,
    /// The sandbox's default gateway (reached on-link through `eth0`).
    pub gateway: Ipv4Addr,
}

/// One IPv4 route as reported by the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    /// Destination prefix (`0.0.0.0/0` for a default route).
    pub destination: Ipv4Net,
    /// Name of the output device, when the route has one.
    pub device: Option<String>,
    /// Whether the route has `scope link`.
    pub scope_link: bool,
    /// Routing table id (254 = main, 255 = local).
    pub table: u32,
}

/// Kernel errno behind an rtnetlink error, if it came from a netlink NACK.
fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

/// Wraps an rtnetlink error as `io::Error` with "`what`: cause"; keeps the
/// errno's `ErrorKind`.
fn nl_err(what: impl std::fmt::Display, e: rtnetlink::Error) -> io::Error {
    match errno_of(&e) {
        Some(code) => {
            let cause = io::Error::from_raw_os_error(code);
            io::Error::new(cause.kind(), format!("{what}: {cause}"))
        }
        None => io::Error::other(format!("{what}: {e}")),
    }
}

/// Wraps an `io::Error` (keeping its kind) with "`what`: cause".
fn io_ctx(what: impl std::fmt::Display, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_IFNAME || name.contains(['/', ' ', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?} (1..=15 bytes, no '/', ' ' or NUL)"),
        ));
    }
    Ok(())
}

/// Temporary, deterministic name for the sandbox-side veth before it is
/// renamed to `eth0`: `vp` + 13 hex digits of an FNV-1a hash of `host_name`
/// (15 bytes, distinct per host name with overwhelming probability).
fn temp_peer_name(host_name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in host_name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("vp{:013x}", h & 0x000f_ffff_ffff_ffff)
}

fn fmt_mac(m: &[u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

fn link_name(msg: &LinkMessage) -> Option<&str> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

fn link_kind(msg: &LinkMessage) -> Option<&InfoKind> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        }),
        _ => None,
    })
}

/// Looks a link up by name; `Ok(None)` when no such link exists.
async fn find_link(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut stream = h.link().get().match_name(name).execute();
    match stream.try_next().await {
        Ok(msg) => Ok(msg),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format_args!("look up link {name}"), e)),
    }
}

/// Index of the link called `name`; `NotFound` error when it does not exist.
async fn link_index(h: &Handle, name: &str) -> Result<u32> {
    match find_link(h, name).await? {
        Some(m) => Ok(m.header.index),
        None => Err(io::Error::new(io::ErrorKind::NotFound, format!("look up link {name}: no such device"))),
    }
}

/// Map of ifindex → name from a full link dump.
async fn link_names(h: &Handle) -> Result<HashMap<u32, String>> {
    let mut out = HashMap::new();
    let mut stream = h.link().get().execute();
    while let Some(msg) = stream.try_next().await.map_err(|e| nl_err("dump links", e))? {
        if let Some(n) = link_name(&msg) {
            out.insert(msg.header.index, n.to_owned());
        }
    }
    Ok(out)
}

async fn set_up(h: &Handle, index: u32, name: &str) -> Result<()> {
    h.link()
        .change(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl_err(format_args!("set link {name} up"), e))
}

async fn add_address_v4(h: &Handle, index: u32, dev: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
    h.address()
        .add(index, IpAddr::V4(addr), prefix)
        .execute()
        .await
        .map_err(|e| nl_err(format_args!("add address {addr}/{prefix} dev {dev}"), e))
}

async fn add_permanent_neighbour(h: &Handle, index: u32, dev: &str, ip: Ipv4Addr, mac: &[u8; 6]) -> Result<()> {
    h.neighbours()
        .add(index, IpAddr::V4(ip))
        .state(NeighbourState::Permanent)
        .link_layer_address(mac)
        .replace()
        .execute()
        .await
        .map_err(|e| nl_err(format_args!("add permanent neighbour {ip} lladdr {} dev {dev}", fmt_mac(mac)), e))
}

/// Creates the veth pair for one sandbox and configures both ends; returns
/// the host-side ifindex.
///
/// * `host`: handle whose socket lives in the host (outer) namespace.
/// * `ns`: handle whose socket was opened inside the sandbox namespace (see
///   [`connection_in`]); it must be the same namespace as `netns`.
/// * `netns`: fd of the sandbox network namespace (`/proc/<pid>/ns/net`).
///
/// Host side: `host_name` with `host_mac`, up, route `address/32 dev host_name
/// scope link` in the main table, PERMANENT neighbour `address → peer_mac`.
/// Sandbox side: created directly inside `netns` under a temporary name with
/// `peer_mac`, then renamed to `eth0` and set up, with `address/32`, a default
/// route `via gateway dev eth0 onlink` and a PERMANENT neighbour
/// `gateway → host_mac`.
///
/// On any failure after the veth exists the host side is deleted (which
/// removes the peer too) before the error is returned.
pub async fn make_sandbox_link(host: &Handle, ns: &Handle, netns: BorrowedFd<'_>, p: &LinkPlan) -> Result<u32> {
    check_ifname(&p.host_name)?;
    let peer = temp_peer_name(&p.host_name);
    let host_name = p.host_name.as_str();

    // The peer gets its MAC and its namespace in the same RTM_NEWLINK, so it
    // never appears in the host namespace (no name clash, nothing to move).
    let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.clone())
        .address(p.peer_mac.to_vec())
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let veth = LinkVeth::new(host_name, &peer)
        .address(p.host_mac.to_vec())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
        .build();
    host.link()
        .add(veth)
        .execute()
        .await
        .map_err(|e| nl_err(format_args!("create veth {host_name} peer {peer} (into sandbox netns)"), e))?;

    match configure_sandbox_link(host, ns, p, &peer).await {
        Ok(index) => Ok(index),
        Err(err) => {
            // Best effort: deleting the host side removes the peer as well.
            let cleanup = match find_link(host, host_name).await {
                Ok(Some(m)) => delete_link(host, m.header.index).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            match cleanup {
                Ok(()) => Err(err),
                Err(c) => Err(io::Error::new(err.kind(), format!("{err} (and cleanup failed: {c})"))),
            }
        }
    }
}

async fn configure_sandbox_link(host: &Handle, ns: &Handle, p: &LinkPlan, peer: &str) -> Result<u32> {
    let host_name = p.host_name.as_str();
    let hidx = link_index(host, host_name).await?;

    // Host side. The device must be up before a scope-link route can use it.
    set_up(host, hidx, host_name).await?;
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(p.address, 32)
        .output_interface(hidx)
        .scope(RouteScope::Link)
        .build();
    host.route()
        .add(route)
        .execute()
        .await
        .map_err(|e| nl_err(format_args!("add route {}/32 dev {host_name}", p.address), e))?;
    add_permanent_neighbour(host, hidx, host_name, p.address, &p.peer_mac).await?;

    // Sandbox side, through the handle opened inside the namespace.
    let pidx = link_index(ns, peer).await.map_err(|e| io_ctx("find veth peer in sandbox netns", e))?;
    // One RTM_NEWLINK: the kernel applies IFLA_IFNAME before the flags, so the
    // rename happens while the device is still down.
    ns.link()
        .change(LinkUnspec::new_with_index(pidx).name(SANDBOX_IFNAME).up().build())
        .execute()
        .await
        .map_err(|e| nl_err(format_args!("rename {peer} to {SANDBOX_IFNAME} and set up (sandbox netns)"), e))?;
    add_address_v4(ns, pidx, SANDBOX_IFNAME, p.address, 32).await?;
    let default = RouteMessageBuilder::<Ipv4Addr>::new().gateway(p.gateway).output_interface(pidx).onlink().build();
    ns.route().add(default).execute().await.map_err(|e| {
        nl_err(format_args!("add default route via {} dev {SANDBOX_IFNAME} onlink (sandbox netns)", p.gateway), e)
    })?;
    add_permanent_neighbour(ns, pidx, SANDBOX_IFNAME, p.gateway, &p.host_mac).await?;
    Ok(hidx)
}

/// Deletes the link with ifindex `index`; a link that is already gone
/// (ENODEV) is not an error. Deleting one end of a veth removes both.
pub async fn delete_link(h: &Handle, index: u32) -> Result<()> {
    match h.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(nl_err(format_args!("delete link index {index}"), e)),
    }
}

/// Deletes the link called `name`; a missing one is Ok.
pub async fn delete_named(h: &Handle, name: &str) -> Result<()> {
    match find_link(h, name).await? {
        Some(link) => delete_link(h, link.header.index).await,
        None => Ok(()),
    }
}

/// The index of the link called `name`, if there is one.
pub async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>> {
    Ok(find_link(h, name).await?.map(|link| link.header.index))
}

/// Every link whose name starts with `prefix`, as `(ifindex, name)`.
pub async fn links_with_prefix(h: &Handle, prefix: &str) -> Result<Vec<(u32, String)>> {
    let mut out: Vec<(u32, String)> = link_names(h).await?.into_iter().filter(|(_, n)| n.starts_with(prefix)).collect();
    out.sort();
    Ok(out)
}

/// Makes sure a `dummy` link called `name` exists, is up and holds
/// `address/32`; returns its ifindex. Creates what is missing and is
/// idempotent.
///
/// Kernels built without the dummy driver (CONFIG_DUMMY; e.g. this project's
/// Firecracker CI kernel) answer EOPNOTSUPP; then a port-less `bridge` of the
/// same name is created instead, which serves the same purpose (a local-only
/// device holding an address). An existing link of kind `dummy` or `bridge`
/// is accepted; any other kind under that name is an error.
pub async fn ensure_dummy(h: &Handle, name: &str, address: Ipv4Addr) -> Result<u32> {
    check_ifname(name)?;
    let existing = find_link(h, name).await?;
    let index = match existing {
        Some(m) => {
            if !matches!(link_kind(&m), Some(InfoKind::Dummy | InfoKind::Bridge)) {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("ensure dummy {name}: a link of kind {:?} has that name", link_kind(&m)),
                ));
            }
            m.header.index
        }
        None => {
            let mut created = h.link().add(LinkDummy::new(name).up().build()).execute().await;
            if matches!(&created, Err(e) if errno_of(e) == Some(libc::EOPNOTSUPP)) {
                // No dummy driver in this kernel: a bridge without ports.
                created = h.link().add(LinkBridge::new(name).up().build()).execute().await;
            }
            match created {
                Ok(()) => {}
                // Lost a race with a concurrent creator: fine, use theirs.
                Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(nl_err(format_args!("create dummy link {name}"), e)),
            }
            link_index(h, name).await?
        }
    };
    set_up(h, index, name).await?;

    let mut have = false;
    let mut stream = h.address().get().set_link_index_filter(index).execute();
    while let Some(msg) = stream.try_next().await.map_err(|e| nl_err(format_args!("dump addresses of {name}"), e))? {
        if let Some((ip, len)) = address_of(&msg) {
            if ip == IpAddr::V4(address) && len == 32 {
                have = true;
            }
        }
    }
    if !have {
        match h.address().add(index, IpAddr::V4(address), 32).execute().await {
            Ok(()) => {}
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(format_args!("add address {address}/32 dev {name}"), e)),
        }
    }
    Ok(index)
}

/// The local address of an address message (IFA_LOCAL, else IFA_ADDRESS) and
/// its prefix length.
fn address_of(msg: &AddressMessage) -> Option<(IpAddr, u8)> {
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = local.or_else(|| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    Some((addr, msg.header.prefix_len))
}

/// All IPv4 routes of all routing tables (main, local, and any other), with
/// output device names resolved from a link dump.
pub async fn ipv4_routes(h: &Handle) -> Result<Vec<HostRoute>> {
    let names = link_names(h).await?;
    let mut req: RouteMessage = RouteMessageBuilder::<Ipv4Addr>::new().build();
    // RT_TABLE_UNSPEC: every table, even if strict checking is enabled.
    req.header.table = RouteHeader::RT_TABLE_UNSPEC;
    let mut out = Vec::new();
    let mut stream = h.route().get(req).execute();
    while let Some(msg) = stream.try_next().await.map_err(|e| nl_err("dump ipv4 routes", e))? {
        if msg.header.address_family != AddressFamily::Inet {
            continue;
        }
        let mut dst = Ipv4Addr::UNSPECIFIED;
        let mut table = u32::from(msg.header.table);
        let mut oif = None;
        for a in &msg.attributes {
            match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = *ip,
                RouteAttribute::Table(t) => table = *t,
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let destination = Ipv4Net::new(dst, msg.header.destination_prefix_length)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("dump ipv4 routes: {e}")))?;
        out.push(HostRoute {
            destination,
            device: oif.and_then(|i| names.get(&i).cloned()),
            scope_link: msg.header.scope == RouteScope::Link,
            table,
        });
    }
    Ok(out)
}
