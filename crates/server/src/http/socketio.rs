//! The Socket.IO gateway at `/api/socket.io/` (SDK 0.226 waits on its events instead of
//! polling; `shared/daytona-wire.md` §3.13). Clients authenticate in the CONNECT packet with
//! `{"token": "<api key>"}`; a socket joins its organization's room and receives that
//! organization's `sandbox.created` and `sandbox.state.updated` events, nothing else.

use super::auth::hash_key;
use crate::events::Events;
use crate::store::Store;
use sandbar_api::events::SocketAuth;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;
use std::sync::Arc;

/// The gateway's tower layer and the task that forwards events to sockets.
pub fn gateway(store: Arc<Store>, events: &Events) -> (SocketIoLayer, tokio::task::JoinHandle<()>) {
    let (layer, io) = SocketIo::builder().req_path("/api/socket.io").build_layer();
    io.ns("/", move |socket: SocketRef, Data(auth): Data<serde_json::Value>| {
        let store = Arc::clone(&store);
        async move {
            // Any JSON is accepted here (as before typing it): a missing or malformed token
            // simply finds no organization.
            let auth: SocketAuth = serde_json::from_value(auth).unwrap_or_default();
            let token = auth.token.unwrap_or_default();
            let organization = if token.is_empty() { Ok(None) } else { store.organization_of_key(&hash_key(&token)) };
            match organization {
                Ok(Some(org)) => socket.join(org.id),
                _ => {
                    tracing::debug!("socket.io connection without a valid key refused");
                    let _ = socket.disconnect();
                }
            }
        }
    });
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
