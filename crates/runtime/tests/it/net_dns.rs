//! The test DNS server of the networking tests: a fixed zone (`allowed.test`, `api.allowed.test`
//! and `other.test`) served from the upstream test namespace, with a log of every query it got,
//! so tests can tell what the host's forwarder sent upstream.

use hickory_resolver::net::runtime::Time;
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use hickory_server::Server;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running test DNS server; stops on drop.
pub struct TestDns {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Logged {
    catalog: Catalog,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl RequestHandler for Logged {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, response: R) -> ResponseInfo {
        if let Some(query) = request.queries.queries().first() {
            let name = query.name().to_string();
            let entry = format!("{} {}", name.trim_end_matches('.'), query.query_type());
            sandbar_runtime::lock(&self.log).push(entry);
        }
        self.catalog.handle_request::<R, T>(request, response).await
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("valid name")
}

fn zone(origin: &str, records: &[(&str, Ipv4Addr)]) -> InMemoryZoneHandler {
    let origin = name(origin);
    let mut zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(name("ns.test."), name("hostmaster.test."), 1, 3600, 600, 86_400, 60);
    assert!(zone.upsert_mut(Record::from_rdata(origin, 3600, RData::SOA(soa)), 1));
    for (owner, address) in records {
        assert!(zone.upsert_mut(Record::from_rdata(name(owner), 300, RData::A(A(*address))), 1));
    }
    zone
}

impl TestDns {
    /// Serves on `address:53` (UDP and TCP) inside the namespace at `ns_path`: `allowed.test`
    /// and `api.allowed.test` are `address`, `other.test` is `address + 1`.
    pub fn start(ns_path: &str, address: Ipv4Addr, log: Arc<Mutex<Vec<String>>>) -> TestDns {
        let other = Ipv4Addr::from(u32::from(address) + 1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = crate::net_fixture::spawn_in(ns_path, move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("test dns runtime");
            rt.block_on(async move {
                let mut catalog = Catalog::new();
                let allowed = zone("allowed.test.", &[("allowed.test.", address), ("api.allowed.test.", address)]);
                catalog.upsert(LowerName::from(&name("allowed.test.")), vec![Arc::new(allowed)]);
                let other_zone = zone("other.test.", &[("other.test.", other)]);
                catalog.upsert(LowerName::from(&name("other.test.")), vec![Arc::new(other_zone)]);
                let listen = SocketAddr::from((address, 53));
                let udp = tokio::net::UdpSocket::bind(listen).await.expect("bind the test DNS server (udp)");
                let tcp = tokio::net::TcpListener::bind(listen).await.expect("bind the test DNS server (tcp)");
                let mut server = Server::new(Logged { catalog, log });
                server.register_socket(udp);
                server.register_listener(tcp, Duration::from_secs(5), 8);
                ready_tx.send(()).expect("fixture waits");
                let _ = stop_rx.await;
                let _ = server.shutdown_gracefully().await;
            });
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("the test DNS server listens");
        TestDns { stop: Some(stop_tx), thread: Some(thread) }
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
