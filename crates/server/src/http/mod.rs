//! The HTTP edge: routes, authentication, and the mapping of results to responses. Handlers
//! decode the request, call one `ControlPlane` method and encode the answer.

mod auth;
mod error;
mod extract;
mod misc;
mod openapi;
mod sandbox;
mod signed;
mod snapshot;
mod socketio;
mod toolbox;
mod trace;
mod volume;

pub use auth::{hash_key, new_key, RateLimiter};
pub use error::ApiError;

use crate::service::ControlPlane;
use axum::routing::{get, post, put};
use axum::Router;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The control plane.
    pub plane: Arc<ControlPlane>,
    /// Per-key request budget.
    pub limiter: Arc<RateLimiter>,
    /// Public base of the API (`http://host:port/api`), for URLs the server hands out.
    pub api_url: String,
    /// Toolbox sessions of every sandbox.
    pub sessions: Arc<sandbar_toolbox::Sessions>,
    /// PTY sessions of every sandbox.
    pub ptys: Arc<sandbar_toolbox::Ptys>,
    /// Interpreter contexts of every sandbox.
    pub interpreters: Arc<sandbar_toolbox::Interpreters>,
    /// Spare shells for `process/execute`.
    pub warm: Arc<sandbar_toolbox::WarmShells>,
}

/// The whole API as a router (tests drive it without a socket).
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/sandbox", get(sandbox::list).post(sandbox::create))
        .route("/sandbox/paginated", get(sandbox::list_paginated))
        .route("/sandbox/{id}", get(sandbox::get).delete(sandbox::delete))
        .route("/sandbox/{id}/start", post(sandbox::start))
        .route("/sandbox/{id}/stop", post(sandbox::stop))
        .route("/sandbox/{id}/recover", post(sandbox::recover))
        .route("/sandbox/{id}/archive", post(sandbox::archive))
        .route("/sandbox/{id}/pause", post(sandbox::pause))
        .route("/sandbox/{id}/resize", post(sandbox::resize))
        .route("/sandbox/{id}/fork", post(sandbox::fork))
        .route("/sandbox/{id}/snapshot", post(sandbox::snapshot))
        .route("/sandbox/{id}/labels", put(sandbox::set_labels))
        .route("/sandbox/{id}/autostop/{minutes}", post(sandbox::autostop))
        .route("/sandbox/{id}/autoarchive/{minutes}", post(sandbox::autoarchive))
        .route("/sandbox/{id}/autodelete/{minutes}", post(sandbox::autodelete))
        .route("/sandbox/{id}/autopause/{minutes}", post(sandbox::autopause))
        .route("/sandbox/{id}/public/{public}", post(sandbox::set_public))
        .route("/sandbox/{id}/network-settings", post(sandbox::network_settings))
        .route("/sandbox/{id}/last-activity", post(sandbox::last_activity))
        .route("/sandbox/{id}/toolbox-proxy-url", get(sandbox::toolbox_proxy_url))
        .route("/sandbox/{id}/build-logs-url", get(sandbox::build_logs_url))
        .route("/sandbox/{id}/build-logs", get(sandbox::build_logs))
        .route("/sandbox/{id}/signing-key", get(sandbox::signing_key))
        .route("/sandbox/{id}/signing-key/rotate", post(sandbox::rotate_signing_key))
        .route("/snapshots", get(snapshot::list).post(snapshot::create))
        .route("/snapshots/{id}", get(snapshot::get).delete(snapshot::delete))
        .route("/snapshots/{id}/activate", post(snapshot::activate))
        .route("/volumes", get(volume::list).post(volume::create))
        .route("/volumes/by-name/{name}", get(volume::get_by_name))
        .route("/volumes/{id}", get(volume::get).delete(volume::delete))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key));
    let public = Router::new().route("/health", get(misc::health)).route("/config", get(misc::config));
    // The forwarder task ends by itself when the control plane (the only event publisher) goes.
    let (socket_io, _forwarder) = socketio::gateway(state.plane.shared_store(), state.plane.events());
    // Layers run outermost-last-added: the key check, then the sandbox lookup, then the route.
    let toolbox = sandbar_toolbox::router::<AppState>()
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), toolbox::resolve_target))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), signed::accept_signed_url));
    let routes = Router::new()
        .nest("/api", authenticated.merge(public))
        .nest("/toolbox/{sandbox_id}", toolbox)
        .route("/api-json", get(openapi::document))
        .fallback(misc::unknown_route);
    trace::around(routes)
        .layer(socket_io)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(misc::panic_response))
        .with_state(state)
}
