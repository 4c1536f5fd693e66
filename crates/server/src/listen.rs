//! The HTTP listener: accepts connections within limits and serves the router on each. A client
//! that sends no complete request head within the header timeout is disconnected, whether it is
//! slow (slowloris) or idle on a kept-alive connection, and no client holds more than its share
//! of connections, so idle or slow sockets cannot use up the server's file descriptors.
//!
//! axum's own `serve` has neither knob, so this is the same accept loop with them: hyper's HTTP/1
//! connection with a timer, upgrades (WebSockets) kept, and graceful shutdown on a signal.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How many connections the server holds and for how long it waits on a silent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most, all clients together.
    pub max_connections: usize,
    /// Open connections at most from one client address.
    pub max_per_client: usize,
    /// A connection that has not sent a whole request head this long after it opened, or after
    /// its previous response, is closed.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for open connections (long-lived streams included) to finish.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 8192,
            max_per_client: 1024,
            header_read_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// (at most `shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let open = Arc::new(OpenConnections::default());
    // Dropping the sender tells every connection to finish; each holds a receiver until it ends.
    let (stop, stopped) = watch::channel(());
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: wait a moment
                    // instead of spinning, and keep serving.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = open.admit(peer.ip(), &limits) else {
            tracing::warn!(client = %peer.ip(), "connection refused: too many open connections");
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut stopped = stopped.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _done = done;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(client = %peer, %error, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stopped.changed() => connection.as_mut().graceful_shutdown(),
                }
            }
        });
    }
    drop(listener);
    drop(stop);
    drop(done);
    if tokio::time::timeout(limits.shutdown_grace, all_done.recv()).await.is_err() {
        tracing::warn!(open = open.total(), "connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}

/// Tells a client over its limit why (Daytona's error body), then closes; a plain close would
/// look like a crash.
async fn refuse(mut stream: TcpStream) {
    let body = sandbar_api::ErrorBody {
        status_code: 503,
        error: "Service Unavailable".into(),
        message: "too many open connections from this client or in total; close idle connections and retry".into(),
        code: "TOO_MANY_CONNECTIONS".into(),
        source: "DAYTONA_API".into(),
        timestamp: crate::clock::iso(time::OffsetDateTime::now_utc()),
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Open connections, in total and per client address.
#[derive(Default)]
struct OpenConnections {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

impl OpenConnections {
    fn admit(self: &Arc<Self>, client: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
        let mut counts = self.counts();
        let mine = counts.per_client.get(&client).copied().unwrap_or(0);
        if counts.total >= limits.max_connections || mine >= limits.max_per_client {
            return None;
        }
        counts.total += 1;
        counts.per_client.insert(client, mine + 1);
        Some(Slot { open: Arc::clone(self), client })
    }

    fn total(&self) -> usize {
        self.counts().total
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        sandbar_runtime::lock(&self.counts)
    }
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    open: Arc<OpenConnections>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.counts();
        counts.total -= 1;
        if let Some(count) = counts.per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests;
