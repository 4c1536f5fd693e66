//! The forwarder against a test upstream on loopback: answers, refusals, failures and limits.
use super::*;

use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::rdata::{A, CNAME, SOA};
use hickory_server::proto::rr::LowerName;
use hickory_server::proto::rr::RData;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::time::timeout;

const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const FORWARDER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 0);
const ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const WAIT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug)]
enum Transport {
    Udp,
    Tcp,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("valid name")
}

/// An authoritative server for `allowed.test.` on 127.0.0.1, UDP and TCP on one port.
async fn upstream() -> (Server<Catalog>, SocketAddr) {
    let origin = name("allowed.test.");
    let mut zone: InMemoryZoneHandler = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(name("ns.allowed.test."), name("hostmaster.allowed.test."), 1, 3600, 600, 86_400, 60);
    let records = [
        Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)),
        Record::from_rdata(origin.clone(), 300, RData::A(A(ADDRESS))),
        Record::from_rdata(name("api.allowed.test."), 300, RData::A(A(ADDRESS))),
        Record::from_rdata(name("www.allowed.test."), 300, RData::CNAME(CNAME(name("api.allowed.test.")))),
    ];
    for record in records {
        assert!(zone.upsert_mut(record, 1), "zone accepts record");
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::from(&origin), vec![Arc::new(zone)]);

    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, TCP_TIMEOUT, 8);
    (server, addr)
}

/// A loopback address with (most likely) nothing listening on it, UDP or TCP.
async fn dead_upstream() -> SocketAddr {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = udp.local_addr().unwrap();
    drop(udp);
    addr
}

/// What the forwarder admitted, per slot.
type Admitted = Arc<Mutex<Vec<(u32, Vec<(Ipv4Addr, u32)>)>>>;

fn recording_admit() -> (Admit, Admitted) {
    let admitted: Admitted = Arc::default();
    let log = Arc::clone(&admitted);
    let admit: Admit = Arc::new(move |slot, addresses| {
        crate::sync::lock(&log).push((slot, addresses));
        Ok(())
    });
    (admit, admitted)
}

async fn forwarder(upstream: SocketAddr) -> (DnsServer, Clients) {
    let (server, clients, _) = forwarder_admitting(upstream).await;
    (server, clients)
}

async fn forwarder_admitting(upstream: SocketAddr) -> (DnsServer, Clients, Admitted) {
    let clients = Clients::new();
    clients.insert(CLIENT, Client::open("sb-test", 7));
    let (admit, admitted) = recording_admit();
    let server =
        serve(FORWARDER, Upstreams::explicit(vec![upstream]), clients.clone(), admit).await.expect("forwarder starts");
    (server, clients, admitted)
}

fn query_message(qname: &str, qtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name(qname), qtype));
    message
}

/// Sends `message` from `source` and returns the decoded response, checking id and question.
async fn exchange(server: SocketAddrV4, source: Ipv4Addr, transport: Transport, message: &Message) -> Message {
    let bytes = message.to_vec().unwrap();
    let reply = match transport {
        Transport::Udp => {
            let socket = UdpSocket::bind((source, 0)).await.unwrap();
            socket.send_to(&bytes, server).await.unwrap();
            let mut buf = vec![0; 65_535];
            let (len, from) = timeout(WAIT, socket.recv_from(&mut buf)).await.expect("UDP reply in time").unwrap();
            assert_eq!(from, SocketAddr::V4(server));
            buf.truncate(len);
            buf
        }
        Transport::Tcp => {
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(source.into(), 0)).unwrap();
            let mut stream = socket.connect(server.into()).await.unwrap();
            let len = u16::try_from(bytes.len()).unwrap();
            stream.write_all(&len.to_be_bytes()).await.unwrap();
            stream.write_all(&bytes).await.unwrap();
            let mut len = [0; 2];
            timeout(WAIT, stream.read_exact(&mut len)).await.expect("TCP reply in time").unwrap();
            let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        }
    };
    let response = Message::from_vec(&reply).expect("decodable response");
    assert_eq!(response.metadata.id, message.metadata.id, "id echoed");
    assert_eq!(response.queries, message.queries, "question echoed");
    response
}

async fn ask(server: SocketAddrV4, transport: Transport, qname: &str, qtype: RecordType) -> Message {
    exchange(server, CLIENT, transport, &query_message(qname, qtype)).await
}

fn a_records(response: &Message) -> Vec<(Name, Ipv4Addr)> {
    response
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(A(ip)) => Some((record.name.clone(), *ip)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn forwards_over_udp_and_tcp() {
    let (mut upstream, upstream_addr) = upstream().await;
    let (forwarder, _clients) = forwarder(upstream_addr).await;
    let addr = forwarder.local_addr();

    for transport in [Transport::Udp, Transport::Tcp] {
        let response = ask(addr, transport, "allowed.test.", RecordType::A).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{transport:?}");
        assert!(!response.metadata.authoritative);
        assert!(response.metadata.recursion_available);
        assert_eq!(a_records(&response), vec![(name("allowed.test."), ADDRESS)]);
        assert!(response.answers.iter().all(|r| r.ttl > 0 && r.ttl <= 300));

        let response = ask(addr, transport, "api.allowed.test.", RecordType::A).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_records(&response), vec![(name("api.allowed.test."), ADDRESS)]);

        let response = ask(addr, transport, "www.allowed.test.", RecordType::A).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
        let cnames: Vec<_> = response
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::CNAME(CNAME(target)) => Some((record.name.clone(), target.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(cnames, vec![(name("www.allowed.test."), name("api.allowed.test."))], "{transport:?}: {response}");
        assert_eq!(a_records(&response), vec![(name("api.allowed.test."), ADDRESS)]);

        let response = ask(addr, transport, "nope.allowed.test.", RecordType::A).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain, "{response}");
        assert!(response.answers.is_empty());
        // The upstream SOA is passed on so the sandbox can cache the negative answer.
        assert!(response.authorities.iter().any(|r| matches!(r.data, RData::SOA(_))), "{response}");

        let response = ask(addr, transport, "allowed.test.", RecordType::AAAA).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError);
        assert!(response.answers.is_empty());

        // The name exists but has no records of that type.
        let response = ask(addr, transport, "api.allowed.test.", RecordType::TXT).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NoError, "{response}");
        assert!(response.answers.is_empty());
    }

    forwarder.shutdown().await;
    upstream.shutdown_gracefully().await.unwrap();
}

#[tokio::test]
async fn a_blocked_client_gets_nxdomain_for_every_name() {
    let (mut upstream, upstream_addr) = upstream().await;
    let (forwarder, clients, admitted) = forwarder_admitting(upstream_addr).await;
    let policy = EgressPolicy { block_all: true, ..EgressPolicy::default() };
    clients.insert(CLIENT, Client { policy, ..Client::open("sb-test", 7) });
    for qtype in [RecordType::A, RecordType::AAAA] {
        let response = ask(forwarder.local_addr(), Transport::Udp, "allowed.test.", qtype).await;
        assert_eq!(response.metadata.response_code, ResponseCode::NXDomain, "{qtype}");
        assert!(response.answers.is_empty());
    }
    assert!(crate::sync::lock(&admitted).is_empty());
    forwarder.shutdown().await;
    upstream.shutdown_gracefully().await.unwrap();
}

#[tokio::test]
async fn a_domain_list_answers_only_its_names_and_admits_their_addresses() {
    let (mut upstream, upstream_addr) = upstream().await;
    let (forwarder, clients, admitted) = forwarder_admitting(upstream_addr).await;
    let policy = EgressPolicy { allow_domains: vec!["*.allowed.test".into()], ..EgressPolicy::default() };
    clients.insert(CLIENT, Client { policy, ..Client::open("sb-test", 7) });
    let addr = forwarder.local_addr();

    // The wildcard covers names below, not the name itself.
    let outside = ask(addr, Transport::Udp, "allowed.test.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::NXDomain);
    assert!(crate::sync::lock(&admitted).is_empty(), "nothing admitted for a refused name");

    let inside = ask(addr, Transport::Tcp, "API.allowed.test.", RecordType::A).await;
    assert_eq!(inside.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&inside).len(), 1);
    // A CNAME chain: the queried name is allowed, the target's address is admitted.
    let chained = ask(addr, Transport::Udp, "www.allowed.test.", RecordType::A).await;
    assert_eq!(chained.metadata.response_code, ResponseCode::NoError);
    let admitted = crate::sync::lock(&admitted).clone();
    assert_eq!(admitted.len(), 2, "{admitted:?}");
    for (slot, addresses) in admitted {
        assert_eq!(slot, 7);
        // The answer's TTL (at most 300 s) is raised to the 300 s floor.
        assert_eq!(addresses, vec![(ADDRESS, 300)]);
    }
    forwarder.shutdown().await;
    upstream.shutdown_gracefully().await.unwrap();
}

#[tokio::test]
async fn an_address_that_cannot_be_admitted_is_not_answered() {
    let (mut upstream, upstream_addr) = upstream().await;
    let clients = Clients::new();
    let policy = EgressPolicy { allow_domains: vec!["api.allowed.test".into()], ..EgressPolicy::default() };
    clients.insert(CLIENT, Client { policy, ..Client::open("sb-test", 7) });
    let failing: Admit = Arc::new(|_, _| Err("nft is gone".to_string()));
    let forwarder =
        serve(FORWARDER, Upstreams::explicit(vec![upstream_addr]), clients, failing).await.expect("forwarder starts");
    let response = ask(forwarder.local_addr(), Transport::Udp, "api.allowed.test.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
    assert!(response.answers.is_empty());
    forwarder.shutdown().await;
    upstream.shutdown_gracefully().await.unwrap();
}

#[tokio::test]
async fn refuses_unknown_sources() {
    let (_upstream, upstream_addr) = upstream().await;
    let (forwarder, clients) = forwarder(upstream_addr).await;
    let addr = forwarder.local_addr();
    assert!(clients.contains(CLIENT));
    assert!(!clients.contains(STRANGER));
    assert_eq!(clients.len(), 1);

    let query = query_message("allowed.test.", RecordType::A);
    for transport in [Transport::Udp, Transport::Tcp] {
        let response = exchange(addr, STRANGER, transport, &query).await;
        assert_eq!(response.metadata.response_code, ResponseCode::Refused);
        assert!(response.answers.is_empty());
    }

    // A registered source is answered until it is removed.
    let response = exchange(addr, CLIENT, Transport::Udp, &query).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let removed = clients.remove(CLIENT).expect("client was registered");
    assert_eq!(removed.sandbox_id, "sb-test");
    assert!(clients.is_empty());
    let response = exchange(addr, CLIENT, Transport::Udp, &query).await;
    assert_eq!(response.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn servfail_when_upstream_is_down() {
    let (forwarder, _clients) = forwarder(dead_upstream().await).await;
    let addr = forwarder.local_addr();
    // Each lookup takes the full retry budget (3 tries x 2 s), so run both transports at once.
    let (udp, tcp) = tokio::join!(
        ask(addr, Transport::Udp, "allowed.test.", RecordType::A),
        ask(addr, Transport::Tcp, "allowed.test.", RecordType::A),
    );
    for response in [udp, tcp] {
        assert_eq!(response.metadata.response_code, ResponseCode::ServFail);
        assert!(response.metadata.recursion_available);
    }
}

#[tokio::test]
async fn rejects_malformed_and_unsupported_queries() {
    // None of these reach the upstream, so it may as well be down.
    let (forwarder, _clients) = forwarder(dead_upstream().await).await;
    let addr = forwarder.local_addr();

    let mut two_questions = query_message("allowed.test.", RecordType::A);
    two_questions.add_query(Query::query(name("api.allowed.test."), RecordType::A));
    let response = exchange(addr, CLIENT, Transport::Udp, &two_questions).await;
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);

    let mut chaos = query_message("version.bind.", RecordType::TXT);
    chaos.queries[0].set_query_class(DNSClass::CH);
    let response = exchange(addr, CLIENT, Transport::Udp, &chaos).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NotImp);

    let mut status = query_message("allowed.test.", RecordType::A);
    status.metadata.op_code = OpCode::Status;
    let response = exchange(addr, CLIENT, Transport::Udp, &status).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NotImp);

    let response = ask(addr, Transport::Tcp, "allowed.test.", RecordType::AXFR).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NotImp);

    // AAAA is answered locally even with the upstream down.
    let response = ask(addr, Transport::Udp, "allowed.test.", RecordType::AAAA).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.answers.is_empty());
}

#[tokio::test]
async fn rate_limits_each_client() {
    let (_upstream, upstream_addr) = upstream().await;
    let (forwarder, clients) = forwarder(upstream_addr).await;
    let addr = forwarder.local_addr();
    // Warm the cache so the burst below is answered without waiting on the upstream.
    let response = ask(addr, Transport::Udp, "allowed.test.", RecordType::A).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);

    // Send the whole burst before reading, so it arrives far faster than the refill rate.
    // A few UDP replies may be dropped under such a burst; the loop stops after 1 s of quiet.
    const BURST: usize = 400;
    let socket = UdpSocket::bind((CLIENT, 0)).await.unwrap();
    for _ in 0..BURST {
        let bytes = query_message("allowed.test.", RecordType::A).to_vec().unwrap();
        socket.send_to(&bytes, addr).await.unwrap();
    }
    let (mut answered, mut refused) = (0, 0);
    let mut buf = vec![0; 4096];
    while answered + refused < BURST {
        let Ok(received) = timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await else {
            break;
        };
        let (len, _) = received.unwrap();
        match Message::from_vec(&buf[..len]).unwrap().metadata.response_code {
            ResponseCode::NoError => answered += 1,
            ResponseCode::Refused => refused += 1,
            other => panic!("unexpected response code {other}"),
        }
    }
    assert!(refused >= 50, "answered {answered}, refused {refused}: rate limit not applied");
    assert!(answered >= 150, "answered {answered}, refused {refused}");

    // A different client has its own bucket.
    clients.insert(STRANGER, Client::open("sb-other", 8));
    let query = query_message("allowed.test.", RecordType::A);
    let response = exchange(addr, STRANGER, Transport::Udp, &query).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
}

#[tokio::test]
async fn stops_on_shutdown_and_on_drop() {
    let upstream = dead_upstream().await;

    let (server, _clients) = forwarder(upstream).await;
    let addr = server.local_addr();
    let response = ask(addr, Transport::Udp, "allowed.test.", RecordType::AAAA).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    timeout(WAIT, server.shutdown()).await.expect("graceful shutdown in time");
    // Both sockets are released once shut down.
    drop(UdpSocket::bind(addr).await.expect("UDP port released"));
    drop(TcpListener::bind(addr).await.expect("TCP port released"));

    let (server, _clients) = forwarder(upstream).await;
    let addr = server.local_addr();
    drop(server);
    // Aborted tasks release their sockets the next time the runtime runs them.
    let mut released = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if UdpSocket::bind(addr).await.is_ok() && TcpListener::bind(addr).await.is_ok() {
            released = true;
            break;
        }
    }
    assert!(released, "dropping the server releases {addr}");
}

#[tokio::test]
async fn refuses_itself_as_upstream() {
    let listen = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 5353);
    let error =
        Forwarder::new(&Upstreams::explicit(vec![SocketAddr::V4(listen)]), listen, Clients::new(), recording_admit().0)
            .err()
            .expect("own address refused as upstream");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);

    let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5353);
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 5353));
    assert!(
        Forwarder::new(&Upstreams::explicit(vec![loopback]), wildcard, Clients::new(), recording_admit().0).is_err()
    );

    let error = Forwarder::new(&Upstreams::explicit(Vec::new()), listen, Clients::new(), recording_admit().0)
        .err()
        .expect("empty upstream list refused");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);

    // A different port on the same address is a different server.
    let other = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 5354));
    assert!(Forwarder::new(&Upstreams::explicit(vec![other]), listen, Clients::new(), recording_admit().0).is_ok());
}
