//! What both control-plane test binaries share: the keys, a control plane over any node, and an
//! SDK-like client of its router (driven without a socket).

#![allow(dead_code)] // each test binary uses its own part

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use sandbar_server::clock::ManualClock;
use sandbar_server::http::{self, AppState, RateLimiter};
use sandbar_server::model::ApiKey;
use sandbar_server::node::Node;
use sandbar_server::service::{ControlPlane, PlaneConfig};
use sandbar_server::store::{SqliteStore, Store};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub const KEY: &str = "test-key-org-a";
pub const OTHER_KEY: &str = "other-key-org-b";

/// A control plane over `node` with its store in `data`, the keys of two organizations, a manual
/// clock, and the router.
pub struct Plane {
    pub plane: Arc<ControlPlane>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn Store>,
    pub api: Api,
}

impl Plane {
    pub async fn new(data: &std::path::Path, node: Arc<dyn Node>, per_second: u32) -> Plane {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&data.join("sandbar.db")).unwrap());
        sandbar_server::ensure_admin_key(store.as_ref(), data, Some(KEY)).await.unwrap();
        add_key(store.as_ref(), "org-b", OTHER_KEY).await;
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let volumes_dir = data.join("volumes");
        std::fs::create_dir_all(&volumes_dir).unwrap();
        let config = PlaneConfig {
            toolbox_url: "http://127.0.0.1:1/toolbox".into(),
            volumes_dir,
            target: "local".into(),
            overcommit: Default::default(),
            signing_master: sandbar_server::signing::MasterKey::from_bytes([7; 32]),
        };
        let plane = Arc::new(ControlPlane::new(store.clone(), node, config, clock.clone()).await.unwrap());
        let state = AppState {
            plane: plane.clone(),
            limiter: Arc::new(RateLimiter::new(per_second, per_second * 2)),
            api_url: "http://127.0.0.1:1/api".into(),
            sessions: Arc::default(),
            ptys: Arc::default(),
            interpreters: Arc::default(),
            warm: Arc::default(),
        };
        Plane { plane, clock, store, api: Api { router: http::router(state) } }
    }
}

/// Calls the router as an SDK would.
pub struct Api {
    router: axum::Router,
}

impl Api {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(KEY, method, path, body).await
    }

    pub async fn call_as(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_raw_as(key, method, &format!("/api{path}"), body).await
    }

    /// A call to `path` as is (no `/api` prefix), e.g. the toolbox.
    pub async fn call_raw(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_raw_as(KEY, method, path, body).await
    }

    pub async fn call_raw_as(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
            .unwrap();
        self.send(request).await
    }

    /// [`send_streaming`](Self::send_streaming) as a `'static` future, for `tokio::spawn`.
    pub fn send_streaming_owned(
        &self,
        request: Request<Body>,
    ) -> impl std::future::Future<Output = axum::response::Response> + Send + 'static {
        let router = self.router.clone();
        async move { router.oneshot(request).await.unwrap() }
    }

    /// The response itself, body unread (for streaming tests).
    pub async fn send_streaming(&self, request: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
        let value =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    /// Creates a sandbox with `body` and asserts it started.
    pub async fn create(&self, body: Value) -> Value {
        let (status, sandbox) = self.call(Method::POST, "/sandbox", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{sandbox}");
        assert_eq!(sandbox["state"], "started", "{sandbox}");
        sandbox
    }
}

pub async fn add_key(store: &dyn Store, org: &str, key: &str) {
    let now = sandbar_server::clock::iso(time::OffsetDateTime::now_utc());
    let org = store.ensure_organization(org, &now).await.unwrap();
    if store.organization_of_key(&http::hash_key(key)).await.unwrap().is_none() {
        let record = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.id,
            name: "test".into(),
            prefix: key.chars().take(8).collect(),
            created_at: now,
            revoked_at: None,
        };
        store.insert_api_key(&record, &http::hash_key(key)).await.unwrap();
    }
}

/// The keys a Sandbox DTO must always carry (G3), with integer resources (G2).
pub fn assert_full_dto(sandbox: &Value) {
    for key in [
        "id",
        "organizationId",
        "name",
        "user",
        "env",
        "labels",
        "public",
        "networkBlockAll",
        "target",
        "cpu",
        "gpu",
        "memory",
        "disk",
        "state",
        "toolboxProxyUrl",
        "kvm",
        "createdAt",
        "updatedAt",
        "volumes",
    ] {
        assert!(!sandbox[key].is_null(), "missing {key} in {sandbox}");
    }
    for key in ["cpu", "gpu", "memory", "disk"] {
        assert!(sandbox[key].is_i64(), "{key} must be an integer: {sandbox}");
    }
    assert!(!sandbox["toolboxProxyUrl"].as_str().unwrap().ends_with('/'));
}
