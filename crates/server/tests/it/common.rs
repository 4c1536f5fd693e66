//! The fixture: a control plane over a temporary data directory with a manual clock, its
//! router, and helpers to call it like an SDK would.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use sandbar_runtime::{ImageStore, Runtime, RuntimeConfig};
use sandbar_server::clock::ManualClock;
use sandbar_server::http::{self, AppState, RateLimiter};
use sandbar_server::model::ApiKey;
use sandbar_server::service::{ControlPlane, PlaneConfig};
use sandbar_server::store::Store;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub const KEY: &str = "test-key-org-a";
pub const OTHER_KEY: &str = "other-key-org-b";

pub struct App {
    pub data: Arc<tempfile::TempDir>,
    cleanup: bool,
    pub plane: Arc<ControlPlane>,
    pub runtime: Arc<Runtime>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<Store>,
    router: axum::Router,
}

pub fn runtime_for(data: &std::path::Path) -> Runtime {
    let parent = format!("sandbar-srvtest-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    runtime_with_parent(data, &parent)
}

/// A runtime whose sandbox cgroups live under `parent` (a restarted server reuses its parent).
pub fn runtime_with_parent(data: &std::path::Path, parent: &str) -> Runtime {
    assert!(nix::unistd::geteuid().is_root(), "the control-plane tests start real sandboxes and need root, as in CI");
    let images = ImageStore::open(sandbar_runtime::env::image_cache_dir()).expect("image store");
    images.ensure_default(&mut ()).expect("default image");
    let mut config = RuntimeConfig::new(data, images);
    config.cgroup_parent = parent.to_string();
    Runtime::new(config).expect("runtime")
}

impl App {
    pub fn new() -> App {
        App::with_rate_limit(10_000)
    }

    pub fn with_rate_limit(per_second: u32) -> App {
        let data = Arc::new(tempfile::Builder::new().prefix("sandbar-srv-").tempdir().unwrap());
        let runtime = Arc::new(runtime_for(data.path()));
        App::assemble(data, runtime, per_second)
    }

    /// A control plane over an existing data directory and runtime (for restart tests).
    pub fn assemble(data: Arc<tempfile::TempDir>, runtime: Arc<Runtime>, per_second: u32) -> App {
        let store = Arc::new(Store::open(&data.path().join("sandbar.db")).unwrap());
        sandbar_server::ensure_admin_key(&store, data.path(), Some(KEY)).unwrap();
        add_key(&store, "org-b", OTHER_KEY);
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        let volumes_dir = data.path().join("volumes");
        std::fs::create_dir_all(&volumes_dir).unwrap();
        let config =
            PlaneConfig { toolbox_url: "http://127.0.0.1:1/toolbox".into(), volumes_dir, target: "local".into() };
        let plane = Arc::new(ControlPlane::new(store.clone(), runtime.clone(), config, clock.clone()).unwrap());
        let state = AppState {
            plane: plane.clone(),
            limiter: Arc::new(RateLimiter::new(per_second, per_second * 2)),
            api_url: "http://127.0.0.1:1/api".into(),
            sessions: Arc::default(),
            ptys: Arc::default(),
            interpreters: Arc::default(),
            warm: Arc::default(),
        };
        App { data, cleanup: true, plane, runtime, clock, store, router: http::router(state) }
    }

    /// Simulates kill -9 of the server: everything is dropped without stopping any sandbox.
    /// Returns the data directory so a "restarted" server can open it.
    pub fn crash(mut self) -> Arc<tempfile::TempDir> {
        self.cleanup = false;
        Arc::clone(&self.data)
    }

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

impl Drop for App {
    fn drop(&mut self) {
        if !self.cleanup {
            return;
        }
        let result = self.runtime.delete_all();
        if !std::thread::panicking() {
            result.expect("delete every sandbox");
            assert!(self.runtime.cgroup_children().is_empty(), "cgroups left: {:?}", self.runtime.cgroup_children());
        }
    }
}

pub fn add_key(store: &Store, org: &str, key: &str) {
    let now = sandbar_server::clock::iso(time::OffsetDateTime::now_utc());
    let org = store.ensure_organization(org, &now).unwrap();
    if store.organization_of_key(&http::hash_key(key)).unwrap().is_none() {
        let record = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.id,
            name: "test".into(),
            prefix: key.chars().take(8).collect(),
            created_at: now,
            revoked_at: None,
        };
        store.insert_api_key(&record, &http::hash_key(key)).unwrap();
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
