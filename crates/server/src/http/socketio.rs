//! The Socket.IO gateway at `/api/socket.io/` (SDK 0.226 waits on its events instead of
//! polling; `shared/daytona-wire.md` §3.13). Clients authenticate in the CONNECT packet with
//! `{"token": "<api key>"}`; a socket joins its organization's room and receives that
//! organization's `sandbox.created` and `sandbox.state.updated` events, nothing else.

use super::auth::hash_key;
use crate::events::Events;
use crate::store::Store;
use sandbar_api::events::SocketAuth;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;
use std::sync::Arc;

/// The gateway's tower layer and the task that forwards events to sockets.
pub fn gateway(store: Arc<dyn Store>, events: &Events) -> (SocketIoLayer, tokio::task::JoinHandle<()>) {
    let (layer, io) = SocketIo::builder().req_path("/api/socket.io").build_layer();
    let check_store = Arc::clone(&store);
    // The key is checked in a connect middleware: a refused client gets CONNECT_ERROR and never
    // holds a connection, rather than being connected and dropped after the fact.
    let authenticate = move |Data(auth): Data<serde_json::Value>| {
        let store = Arc::clone(&check_store);
        async move { organization_of(store.as_ref(), &auth).await.map(|_| ()) }
    };
    let join = move |socket: SocketRef, Data(auth): Data<serde_json::Value>| {
        let store = Arc::clone(&store);
        async move {
            match organization_of(store.as_ref(), &auth).await {
                Ok(organization) => socket.join(organization),
                // The key was revoked between the middleware and here.
                Err(refused) => {
                    tracing::debug!(%refused, "socket.io connection closed");
                    let _ = socket.disconnect();
                }
            }
        }
    };
    io.ns("/", join.with(authenticate));
    let mut receiver = events.subscribe();
    let forwarder = tokio::spawn(async move {
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    if let Err(e) = io.to(event.organization_id).emit(event.event.name(), &event.event).await {
                        tracing::debug!(error = %e, "socket.io broadcast failed");
                    }
                }
                // Slow consumers lose old events; the SDK's safety poll covers them.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    (layer, forwarder)
}

/// Why a Socket.IO client was refused at CONNECT (the client sees the message in CONNECT_ERROR).
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("no API key in the CONNECT auth (send {{\"token\": \"<key>\"}})")]
    NoKey,
    #[error("invalid API key")]
    UnknownKey,
    #[error("the key could not be checked: the state store failed")]
    Store,
}

/// The organization whose room a client with this CONNECT `auth` joins.
async fn organization_of(store: &dyn Store, auth: &serde_json::Value) -> Result<String, Refused> {
    // Any JSON is accepted (a missing or malformed token is simply no key).
    let auth: SocketAuth = serde_json::from_value(auth.clone()).unwrap_or_default();
    let token = auth.token.unwrap_or_default();
    if token.is_empty() {
        return Err(Refused::NoKey);
    }
    match store.organization_of_key(&hash_key(&token)).await {
        Ok(Some(organization)) => Ok(organization.id),
        Ok(None) => Err(Refused::UnknownKey),
        Err(error) => {
            tracing::error!(error = %error, "socket.io key check failed");
            Err(Refused::Store)
        }
    }
}
