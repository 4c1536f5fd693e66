//! The listener's limits, on loopback with a two-route router: silent and slow clients are
//! disconnected, a client over its share is answered 503, places are given back, keep-alive and
//! shutdown work.

use super::*;
use axum::routing::get;
use std::time::Instant;
use tokio::io::AsyncReadExt;

/// Bounds every wait in these tests, so a broken limit fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

struct Server {
    address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn server(limits: ConnectionLimits) -> Server {
    let router = Router::new().route("/health", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    Server { address, stop: Some(stop), task }
}

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 100,
        max_per_client: 100,
        header_read_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(5),
    }
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server must close the connection")
        .expect("read");
    String::from_utf8_lossy(&received).into_owned()
}

async fn get_on(stream: &mut TcpStream, path: &str) -> String {
    stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").as_bytes()).await.unwrap();
    let mut buffer = vec![0; 4096];
    let mut received = String::new();
    while !received.contains("\r\n\r\n") || !(received.ends_with("ok") || received.ends_with("done")) {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer)).await.expect("response").unwrap();
        assert!(read > 0, "connection closed before the response was complete: {received:?}");
        received.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    received
}

#[tokio::test]
async fn a_silent_client_is_disconnected_after_the_header_timeout() {
    let server = server(ConnectionLimits { header_read_timeout: Duration::from_millis(200), ..limits() }).await;
    let mut silent = TcpStream::connect(server.address).await.unwrap();
    assert_eq!(until_closed(&mut silent).await, "", "a silent client gets no answer, only a close");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = server(ConnectionLimits { header_read_timeout: Duration::from_millis(200), ..limits() }).await;
    let mut slow = TcpStream::connect(server.address).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: test\r\n").await.unwrap();
    let answer = until_closed(&mut slow).await;
    assert!(!answer.contains("200 OK"), "an unfinished request must not be served: {answer:?}");
}

#[tokio::test]
async fn a_kept_alive_connection_serves_requests_and_is_closed_when_idle() {
    let server = server(ConnectionLimits { header_read_timeout: Duration::from_millis(300), ..limits() }).await;
    let mut client = TcpStream::connect(server.address).await.unwrap();
    assert!(get_on(&mut client, "/health").await.starts_with("HTTP/1.1 200 OK"));
    assert!(get_on(&mut client, "/health").await.starts_with("HTTP/1.1 200 OK"), "keep-alive serves a second request");
    // Then silence: the idle connection is closed too.
    assert_eq!(until_closed(&mut client).await, "");
}

#[tokio::test]
async fn a_client_over_its_share_gets_503_and_its_place_back_when_one_closes() {
    let server = server(ConnectionLimits { max_per_client: 2, ..limits() }).await;
    let first = TcpStream::connect(server.address).await.unwrap();
    let mut second = TcpStream::connect(server.address).await.unwrap();
    // The second is admitted (it is served), so both places are taken.
    assert!(get_on(&mut second, "/health").await.starts_with("HTTP/1.1 200 OK"));
    let mut third = TcpStream::connect(server.address).await.unwrap();
    let refused = until_closed(&mut third).await;
    assert!(refused.starts_with("HTTP/1.1 503 Service Unavailable"), "{refused:?}");
    assert!(refused.contains("too many open connections"), "{refused:?}");

    drop(first);
    // The server notices the close asynchronously; a new connection is admitted soon after.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut again = TcpStream::connect(server.address).await.unwrap();
        again.write_all(b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
        let mut buffer = vec![0; 256];
        let read = tokio::time::timeout(PATIENCE, again.read(&mut buffer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&buffer[..read]).into_owned();
        if answer.starts_with("HTTP/1.1 200 OK") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
        assert!(Instant::now() < deadline, "the closed connection's place never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_total_limit_covers_all_clients() {
    let server = server(ConnectionLimits { max_connections: 1, ..limits() }).await;
    let mut held = TcpStream::connect(server.address).await.unwrap();
    assert!(get_on(&mut held, "/health").await.starts_with("HTTP/1.1 200 OK"));
    let mut other = TcpStream::connect(server.address).await.unwrap();
    assert!(until_closed(&mut other).await.starts_with("HTTP/1.1 503"));
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut server = server(limits()).await;
    let mut client = TcpStream::connect(server.address).await.unwrap();
    client.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop.take().unwrap().send(()).unwrap();
    let answer = until_closed(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("done"), "{answer:?}");
    tokio::time::timeout(PATIENCE, server.task).await.expect("serve returns after shutdown").unwrap().unwrap();
    assert!(TcpStream::connect(server.address).await.is_err(), "the listener is closed");
}
