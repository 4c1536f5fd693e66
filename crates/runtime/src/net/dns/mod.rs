//! Embedded DNS forwarder: answers sandboxes' queries on the gateway address by forwarding them
//! to an upstream resolver, with a per-client table (identity, rate limit, egress policy).
//!
//! Each sandbox's `/etc/resolv.conf` names one gateway address `G` on the host; [`serve`] listens
//! on `G:53` over UDP and TCP and hands every request to a [`Forwarder`]. The forwarder only
//! answers sources registered in [`Clients`], applies a per-client token bucket, and resolves
//! through a hickory [`TokioResolver`] that never consults the host's hosts file.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::{Time, TokioRuntimeProvider};
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_resolver::proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_resolver::system_conf::read_system_conf;
use hickory_resolver::TokioResolver;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tracing::{debug, info, warn};

use crate::spec::EgressPolicy;
use hickory_resolver::proto::rr::RData;

/// Admits addresses (with timeouts in seconds) to the domain set of the sandbox in a slot;
/// blocking (it runs `nft`), so the forwarder calls it off its async workers.
pub type Admit = Arc<dyn Fn(u32, Vec<(Ipv4Addr, u32)>) -> Result<(), String> + Send + Sync>;

/// Shortest and longest time an admitted address stays admitted, whatever its TTL says: short
/// TTLs would make connections race the expiry, and answers are re-admitted on every query.
const ADMIT_SECONDS: (u32, u32) = (300, 86_400);

/// TTL of a linked sandbox's name: short, as the link goes when either side stops.
const ALIAS_TTL: u32 = 5;

/// Sustained queries per second each client may send before being answered REFUSED.
pub const CLIENT_QUERY_RATE: u32 = 200;
/// How many queries a client may send in one burst (bucket capacity).
pub const CLIENT_QUERY_BURST: u32 = 200;
/// Idle timeout for TCP connections to the forwarder.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(5);

/// Per try; with one retry a dead upstream gives SERVFAIL after about 2 s, before a sandbox's
/// resolver (2 s per try, per its resolv.conf) gives up on the forwarder.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(1);
/// Retries after the first try.
const UPSTREAM_ATTEMPTS: usize = 1;
const CACHE_SIZE: u64 = 8_192;
const TCP_RESPONSE_BUFFER: usize = 32;
const MAX_UDP_PAYLOAD: u16 = 4_096;

/// Where the forwarder sends queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstreams(Source);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    System,
    Explicit(Vec<SocketAddr>),
}

impl Upstreams {
    /// The name servers of the host's system configuration (`/etc/resolv.conf`), read when the
    /// forwarder is built. Only the name servers are taken; options and search domains are not.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// An explicit list of upstream servers, each queried over UDP and TCP at its port.
    pub fn explicit(servers: Vec<SocketAddr>) -> Self {
        Self(Source::Explicit(servers))
    }

    fn name_servers(&self) -> io::Result<Vec<NameServerConfig>> {
        match &self.0 {
            Source::System => {
                let (config, _) = read_system_conf()
                    .map_err(|e| io::Error::other(format!("reading system resolver configuration: {e}")))?;
                Ok(config.name_servers().to_vec())
            }
            Source::Explicit(servers) => Ok(servers
                .iter()
                .map(|server| {
                    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                    for connection in &mut ns.connections {
                        connection.port = server.port();
                    }
                    ns
                })
                .collect()),
        }
    }
}

/// Builds the upstream resolver, refusing configurations that would forward to ourselves.
fn build_resolver(upstreams: &Upstreams, listen: SocketAddrV4) -> io::Result<TokioResolver> {
    let name_servers = upstreams.name_servers()?;
    if name_servers.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no upstream DNS servers configured"));
    }
    for ns in &name_servers {
        for connection in &ns.connections {
            let upstream = SocketAddr::new(ns.ip, connection.port);
            if is_self(upstream, listen) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("upstream DNS server {upstream} is the forwarder's own address"),
                ));
            }
        }
    }

    let mut options = ResolverOpts::default();
    options.use_hosts_file = ResolveHosts::Never;
    options.preserve_intermediates = true;
    options.timeout = UPSTREAM_TIMEOUT;
    options.attempts = UPSTREAM_ATTEMPTS;
    options.cache_size = CACHE_SIZE;

    // No domain or search list: every name we forward comes off the wire and is fully qualified.
    let config = ResolverConfig::from_parts(None, Vec::new(), name_servers);
    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(|e| io::Error::other(format!("building DNS resolver: {e}")))
}

/// Whether `upstream` would loop back into a forwarder listening on `listen`.
fn is_self(upstream: SocketAddr, listen: SocketAddrV4) -> bool {
    if upstream.port() != listen.port() {
        return false;
    }
    match upstream.ip() {
        IpAddr::V4(ip) if ip == *listen.ip() => true,
        // A wildcard listener also receives what is sent to loopback or the wildcard address.
        ip => listen.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified()),
    }
}

/// A sandbox registered to use the forwarder from one source address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// Identifier of the sandbox that owns the address.
    pub sandbox_id: String,
    /// What the sandbox may reach; decides what is answered.
    pub policy: EgressPolicy,
    /// The sandbox's address slot (names its firewall set for [`Admit`]).
    pub slot: u32,
}

#[cfg(test)]
impl Client {
    /// A client with an open policy.
    pub fn open(sandbox_id: impl Into<String>, slot: u32) -> Client {
        Client { sandbox_id: sandbox_id.into(), policy: EgressPolicy::default(), slot }
    }
}

/// Token bucket limiting one client's query rate.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn full(now: Instant) -> Self {
        Self { tokens: f64::from(CLIENT_QUERY_BURST), last: now }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * f64::from(CLIENT_QUERY_RATE)).min(f64::from(CLIENT_QUERY_BURST));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Entry {
    client: Arc<Client>,
    bucket: Mutex<TokenBucket>,
}

/// Outcome of checking a request's source against the client table.
enum Admission {
    Unknown,
    RateLimited(Arc<Client>),
    Admitted(Arc<Client>),
}

/// Per client address: the names it resolves to a linked sandbox, and that sandbox's address.
type Aliases = HashMap<Ipv4Addr, Vec<(String, Ipv4Addr)>>;

/// The table of sandboxes allowed to query, keyed by their source address. Cheap to clone; all
/// clones share one table, so the runtime can add and remove sandboxes while serving.
#[derive(Clone, Default)]
pub struct Clients {
    inner: Arc<RwLock<HashMap<Ipv4Addr, Arc<Entry>>>>,
    /// Names each client resolves to a linked sandbox's address (lower case, no trailing dot).
    aliases: Arc<RwLock<Aliases>>,
}

impl Clients {
    /// Makes `name` resolve to `target` for the client at `addr`.
    pub fn set_alias(&self, addr: Ipv4Addr, name: &str, target: Ipv4Addr) {
        let mut aliases = self.aliases.write().unwrap_or_else(PoisonError::into_inner);
        let names = aliases.entry(addr).or_default();
        names.retain(|(known, _)| *known != name.to_ascii_lowercase());
        names.push((name.to_ascii_lowercase(), target));
    }

    /// Forgets every alias of the client at `addr` and every alias that points to `addr`.
    pub fn remove_aliases(&self, addr: Ipv4Addr) {
        let mut aliases = self.aliases.write().unwrap_or_else(PoisonError::into_inner);
        aliases.remove(&addr);
        for names in aliases.values_mut() {
            names.retain(|(_, target)| *target != addr);
        }
        aliases.retain(|_, names| !names.is_empty());
    }

    /// The address `name` is an alias of for the client at `addr`.
    fn alias(&self, addr: Ipv4Addr, name: &str) -> Option<Ipv4Addr> {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let aliases = self.aliases.read().unwrap_or_else(PoisonError::into_inner);
        aliases.get(&addr)?.iter().find(|(known, _)| *known == name).map(|(_, target)| *target)
    }

    /// The sandbox registered at `addr`.
    pub fn sandbox_of(&self, addr: Ipv4Addr) -> Option<String> {
        self.read().get(&addr).map(|entry| entry.client.sandbox_id.clone())
    }

    /// The addresses of every registered client.
    pub fn addresses(&self) -> Vec<Ipv4Addr> {
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner()).keys().copied().collect()
    }

    #[cfg(test)]
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the client using `addr`, with a full rate-limit bucket. Returns
    /// the client previously registered there.
    pub fn insert(&self, addr: Ipv4Addr, client: Client) -> Option<Arc<Client>> {
        let entry = Arc::new(Entry { client: Arc::new(client), bucket: Mutex::new(TokenBucket::full(Instant::now())) });
        self.write().insert(addr, entry).map(|old| old.client.clone())
    }

    /// Unregisters the client using `addr`; its further queries are refused.
    pub fn remove(&self, addr: Ipv4Addr) -> Option<Arc<Client>> {
        self.write().remove(&addr).map(|old| old.client.clone())
    }

    #[cfg(test)]
    /// Whether a client is registered at `addr`.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.read().contains_key(&addr)
    }

    #[cfg(test)]
    /// Number of registered clients.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    #[cfg(test)]
    /// Whether no client is registered.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn admit(&self, src: IpAddr) -> Admission {
        let IpAddr::V4(addr) = src else {
            return Admission::Unknown;
        };
        let Some(entry) = self.read().get(&addr).cloned() else {
            return Admission::Unknown;
        };
        let allowed = crate::sync::lock(&entry.bucket).take(Instant::now());
        if allowed {
            Admission::Admitted(entry.client.clone())
        } else {
            Admission::RateLimited(entry.client.clone())
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Ipv4Addr, Arc<Entry>>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Ipv4Addr, Arc<Entry>>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.read();
        f.debug_map().entries(table.iter().map(|(addr, entry)| (addr, &entry.client.sandbox_id))).finish()
    }
}

/// The request handler: checks the source, then forwards the single question upstream.
pub struct Forwarder {
    resolver: TokioResolver,
    clients: Clients,
    admit: Admit,
}

/// What to put in a response besides the header.
struct Reply<'r> {
    code: ResponseCode,
    answers: &'r [Record],
    authorities: &'r [Record],
}

impl<'r> Reply<'r> {
    fn empty(code: ResponseCode) -> Self {
        Self { code, answers: &[], authorities: &[] }
    }
}

impl Forwarder {
    /// Builds a forwarder for a server listening on `listen`. Fails if the upstream
    /// configuration cannot be read, is empty, or names `listen` itself.
    pub fn new(upstreams: &Upstreams, listen: SocketAddrV4, clients: Clients, admit: Admit) -> io::Result<Self> {
        Ok(Self { resolver: build_resolver(upstreams, listen)?, clients, admit })
    }

    async fn handle<R: ResponseHandler>(&self, request: &Request, handle: R) -> ResponseInfo {
        let src = request.src();
        let client = match self.clients.admit(src.ip()) {
            Admission::Admitted(client) => client,
            Admission::Unknown => {
                debug!(%src, "DNS query from unknown source refused");
                return send(request, handle, Reply::empty(ResponseCode::Refused)).await;
            }
            Admission::RateLimited(client) => {
                debug!(%src, sandbox = %client.sandbox_id, "DNS query over rate limit refused");
                return send(request, handle, Reply::empty(ResponseCode::Refused)).await;
            }
        };

        if request.metadata.op_code != OpCode::Query {
            return send(request, handle, Reply::empty(ResponseCode::NotImp)).await;
        }
        let [query] = request.queries.queries() else {
            return send(request, handle, Reply::empty(ResponseCode::FormErr)).await;
        };
        if query.query_class() != DNSClass::IN {
            return send(request, handle, Reply::empty(ResponseCode::NotImp)).await;
        }
        let qtype = query.query_type();
        let name = Name::from(query.name());
        // A linked sandbox's name: answered here, whatever the policy (the link is allowed).
        if let IpAddr::V4(source) = src.ip() {
            if let Some(target) = self.clients.alias(source, &name.to_ascii()) {
                let records = match qtype {
                    RecordType::A => vec![Record::from_rdata(
                        name.clone(),
                        ALIAS_TTL,
                        RData::A(hickory_resolver::proto::rr::rdata::A(target)),
                    )],
                    _ => Vec::new(),
                };
                let reply = Reply { code: ResponseCode::NoError, answers: &records, authorities: &[] };
                return send(request, handle, reply).await;
            }
        }
        if client.policy.block_all {
            debug!(sandbox_id = %client.sandbox_id, %name, "DNS query of a blocked sandbox answered NXDOMAIN");
            return send(request, handle, Reply::empty(ResponseCode::NXDomain)).await;
        }
        let by_name = !client.policy.allow_domains.is_empty();
        if by_name && !client.policy.allows_domain(&name.to_ascii()) {
            info!(target: "sandbar::egress", sandbox_id = %client.sandbox_id, %name,
                "DNS query for a name outside the domain allow list answered NXDOMAIN");
            return send(request, handle, Reply::empty(ResponseCode::NXDomain)).await;
        }
        match qtype {
            // Sandboxes have no IPv6: the name may exist, but has no address for them.
            RecordType::AAAA => {
                return send(request, handle, Reply::empty(ResponseCode::NoError)).await;
            }
            // Zone transfers and other meta queries are not forwarded.
            RecordType::AXFR | RecordType::IXFR | RecordType::OPT => {
                return send(request, handle, Reply::empty(ResponseCode::NotImp)).await;
            }
            _ => {}
        }

        debug!(sandbox = %client.sandbox_id, %name, %qtype, "forwarding DNS query");
        match self.resolver.lookup(name.clone(), qtype).await {
            Ok(lookup) => {
                if by_name {
                    if let Err(error) = self.admit_answers(&client, lookup.answers()).await {
                        warn!(sandbox_id = %client.sandbox_id, %name, %error, "could not admit answered addresses");
                        return send(request, handle, Reply::empty(ResponseCode::ServFail)).await;
                    }
                }
                let reply = Reply { code: ResponseCode::NoError, answers: lookup.answers(), authorities: &[] };
                send(request, handle, reply).await
            }
            Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
                let soa = negative_soa(&no_records);
                let code = if no_records.response_code == ResponseCode::NXDomain {
                    ResponseCode::NXDomain
                } else {
                    ResponseCode::NoError
                };
                let reply = Reply { code, answers: &[], authorities: soa.as_slice() };
                send(request, handle, reply).await
            }
            Err(error) => {
                debug!(sandbox = %client.sandbox_id, %name, %qtype, %error, "upstream lookup failed");
                send(request, handle, Reply::empty(ResponseCode::ServFail)).await
            }
        }
    }
}

impl Forwarder {
    /// Admits the IPv4 addresses of `answers` for `client` (CNAMEs in the chain need not be
    /// allowed themselves: the queried name was).
    async fn admit_answers(&self, client: &Client, answers: &[Record]) -> Result<(), String> {
        let addresses: Vec<(Ipv4Addr, u32)> = answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::A(a) => Some((a.0, record.ttl.clamp(ADMIT_SECONDS.0, ADMIT_SECONDS.1))),
                _ => None,
            })
            .collect();
        if addresses.is_empty() {
            return Ok(());
        }
        let (admit, slot) = (Arc::clone(&self.admit), client.slot);
        tokio::task::spawn_blocking(move || admit(slot, addresses))
            .await
            .map_err(|e| format!("the admitting task failed: {e}"))?
    }
}

/// The SOA of a negative upstream answer, for the authority section (lets clients cache it).
fn negative_soa(no_records: &NoRecords) -> Vec<Record> {
    no_records.soa.as_ref().map(|soa| vec![(**soa).clone().into_record_of_rdata()]).unwrap_or_default()
}

/// EDNS for the response, present only when the request carried EDNS.
fn response_edns(request: &Request) -> Option<Edns> {
    let request_edns = request.edns.as_ref()?;
    let mut edns = Edns::new();
    edns.set_version(0);
    edns.set_max_payload(request_edns.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    Some(edns)
}

/// Sends a response echoing the request's id and question. Never fails: a send error is
/// logged and reported as SERVFAIL in the returned info.
async fn send<R: ResponseHandler>(request: &Request, mut handle: R, reply: Reply<'_>) -> ResponseInfo {
    let edns = response_edns(request);
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = reply.code;
    metadata.authoritative = false;
    metadata.recursion_available = true;

    let response = MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
        metadata,
        reply.answers.iter(),
        reply.authorities.iter(),
        std::iter::empty(),
        std::iter::empty(),
    );
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            warn!(src = %request.src(), %error, "failed to send DNS response");
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() })
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Forwarder {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, response_handle: R) -> ResponseInfo {
        self.handle(request, response_handle).await
    }
}

/// A running forwarder. Stops on [`DnsServer::shutdown`], or at the latest when dropped.
pub struct DnsServer {
    server: Server<Forwarder>,
    local_addr: SocketAddrV4,
}

impl DnsServer {
    /// The address the UDP socket and TCP listener are bound to (useful with port 0).
    #[cfg(test)]
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local_addr
    }

    /// Stops accepting queries and waits for the serving tasks to finish.
    pub async fn shutdown(mut self) {
        if let Err(error) = self.server.shutdown_gracefully().await {
            warn!(addr = %self.local_addr, %error, "DNS forwarder stopped with an error");
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Dropping `Server` aborts its tasks too; cancelling first lets them stop cleanly.
        self.server.shutdown_token().cancel();
    }
}

impl fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsServer").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// Starts a forwarder on `listen` (UDP and TCP) on the current tokio runtime. With port 0, both
/// sockets share the port picked for UDP. Fails if binding fails or the upstreams are unusable
/// (including an upstream equal to the listen address).
pub async fn serve(
    listen: SocketAddrV4,
    upstreams: Upstreams,
    clients: Clients,
    admit: Admit,
) -> io::Result<DnsServer> {
    let udp = UdpSocket::bind(listen).await?;
    let local_addr = match udp.local_addr()? {
        SocketAddr::V4(addr) => addr,
        SocketAddr::V6(addr) => {
            return Err(io::Error::other(format!("bound to IPv6 address {addr}")));
        }
    };
    let tcp = TcpListener::bind(local_addr).await?;
    let forwarder = Forwarder::new(&upstreams, local_addr, clients, admit)?;

    let mut server = Server::new(forwarder);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_TIMEOUT, TCP_RESPONSE_BUFFER);
    debug!(addr = %local_addr, "DNS forwarder listening");
    Ok(DnsServer { server, local_addr })
}

#[cfg(test)]
mod tests;
