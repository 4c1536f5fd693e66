//! `sandbar serve`: puts the store, the runtime, the control plane, the reaper and the HTTP
//! listener together, and takes them down again on SIGTERM or Ctrl-C.
//!
//! Shutdown policy: the listener stops accepting, in-flight requests finish, then every running
//! sandbox is stopped (SIGTERM, then SIGKILL after the grace period) and recorded as `stopped`
//! with its files kept. A server killed without that chance (kill -9) leaves inits running; the
//! next start re-adopts them (their sandboxes stay `started` with every process), stops the ones
//! it cannot adopt, and finishes or rolls back interrupted archives, so stored states always
//! match reality.

use crate::clock::{iso, SystemClock};
use crate::http::{self, AppState, RateLimiter};
use crate::model::ApiKey;
use crate::node::LocalNode;
use crate::service::{ControlPlane, PlaneConfig};
use crate::store::{SqliteStore, Store};
use sandbar_runtime::{BuildProgress, ImageStore, Runtime, RuntimeConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything `serve` needs, resolved once by the CLI.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// State directory (database, sandboxes, volumes, admin key).
    pub data_dir: PathBuf,
    /// The image store, shared by all data directories.
    pub image_cache: PathBuf,
    /// Domain for preview URLs (stored for the preview work).
    pub domain: String,
    /// The admin API key (`SANDBAR_API_KEY`); generated and stored when `None`.
    pub api_key: Option<String>,
    /// Requests per second per API key.
    pub rate_limit_per_second: u32,
    /// How often the reaper looks for idle sandboxes.
    pub reaper_period: Duration,
    /// The btrfs data disk that enforces sandbox disk limits.
    pub disk: DiskChoice,
    /// Connection limits and timeouts of the HTTP listener.
    pub connections: crate::listen::ConnectionLimits,
    /// How far sandbox limits may add up past this host's capacity.
    pub overcommit: crate::service::Overcommit,
    /// Outbound networking for sandboxes; `None` (`--network none`): loopback only.
    pub network: Option<sandbar_runtime::NetConfig>,
}

/// Where sandbox files live, and so whether their disk limits hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskChoice {
    /// The data disk made before, else one of half the free space (the default).
    Auto,
    /// A data disk of this many bytes (an existing image keeps its size).
    Size(u64),
    /// No data disk: disk limits are recorded but not enforced.
    Off,
}

/// File in the data directory that holds a generated admin key (mode 0600).
const ADMIN_KEY_FILE: &str = "admin-api-key";
/// File in the data directory that holds the key every sandbox's signing key is derived from
/// (mode 0600; replicas of one control plane share it).
const SIGNING_MASTER_FILE: &str = "signing-master-key";
/// Organization of the admin key.
const ADMIN_ORGANIZATION: &str = "default";

/// Why the server could not start (or its listener failed).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A file or directory of the data directory, or the listener.
    #[error("{step}")]
    Io {
        /// What was being done, with the path or address.
        step: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The store could not be opened.
    #[error("open {}", .path.display())]
    OpenStore {
        /// The database file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::store::StoreError,
    },
    /// The image store or the runtime could not be set up.
    #[error(transparent)]
    Runtime(#[from] sandbar_runtime::Error),
    /// The runtime's setup thread panicked.
    #[error("runtime setup panicked")]
    Panicked(#[source] tokio::task::JoinError),
    /// The control plane could not start (register the default snapshot, reconcile).
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
}

fn io(step: String) -> impl FnOnce(std::io::Error) -> ServeError {
    move |source| ServeError::Io { step, source }
}

/// What the server tells its user once it listens (the CLI prints it; the library never writes
/// to the terminal itself).
#[derive(Debug, Clone)]
pub struct Serving {
    /// The API's base URL, for `DAYTONA_API_URL`.
    pub api_url: String,
    /// The admin key generated on this start and the file it is kept in; `None` when the key was
    /// given or generated before (it is shown only once).
    pub generated_key: Option<(String, PathBuf)>,
}

/// Runs the server until `shutdown` resolves; `announce` is called once it listens.
pub async fn serve(
    settings: ServerSettings,
    progress: Box<dyn BuildProgress + Send>,
    announce: impl FnOnce(Serving) + Send,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(io(format!("create data directory {}", settings.data_dir.display())))?;
    let path = settings.data_dir.join("sandbar.db");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&path).map_err(|source| ServeError::OpenStore { path, source })?);
    let (admin_key, generated) =
        ensure_admin_key(store.as_ref(), &settings.data_dir, settings.api_key.as_deref()).await?;

    let image_cache = settings.image_cache.clone();
    let data_dir = settings.data_dir.clone();
    let disk_choice = settings.disk;
    let network = settings.network.clone();
    let runtime = tokio::task::spawn_blocking(move || -> Result<Runtime, sandbar_runtime::Error> {
        let mut progress = progress;
        let images = ImageStore::open(&image_cache)?;
        images.ensure_default(progress.as_mut())?;
        let mut config = RuntimeConfig::new(&data_dir, images);
        config.disk = match disk_choice {
            DiskChoice::Auto => {
                let disk = sandbar_runtime::DataDisk::auto(&data_dir)?;
                if disk.is_none() {
                    tracing::warn!(
                        sandboxes = %data_dir.join("sandboxes").display(),
                        "SANDBOX DISK LIMITS ARE NOT ENFORCED: the sandboxes directory holds sandboxes of a server \
                         that ran without a data disk, so they stay there and one sandbox can fill the host's disk; \
                         delete them (or move the data directory) to get a data disk, or say --disk-size off"
                    );
                }
                disk
            }
            DiskChoice::Size(size_bytes) => {
                Some(sandbar_runtime::DataDisk { image: data_dir.join("disk.img"), size_bytes })
            }
            DiskChoice::Off => {
                tracing::warn!(
                    "SANDBOX DISK LIMITS ARE NOT ENFORCED (--disk-size off): sandbox files go on the host's file \
                     system and one sandbox can fill it"
                );
                None
            }
        };
        if network.is_none() {
            tracing::warn!("SANDBOX NETWORKING IS OFF (--network none): every sandbox has loopback only");
        }
        config.network = network;
        let runtime = Runtime::new(config)?;
        if let Some(size_bytes) = runtime.capacity().disk_bytes {
            tracing::info!(size_bytes, "sandbox disk limits enforced on a btrfs data disk");
        }
        let recovered = runtime.recover_orphans()?;
        if recovered.adopted > 0 {
            tracing::info!(adopted = recovered.adopted, "re-adopted sandboxes a previous server process left running");
        }
        if recovered.stopped > 0 {
            tracing::warn!(stopped = recovered.stopped, "stopped sandboxes a previous server process left running");
        }
        Ok(runtime)
    })
    .await
    .map_err(ServeError::Panicked)??;

    let master_path = settings.data_dir.join(SIGNING_MASTER_FILE);
    let signing_master = crate::signing::MasterKey::load_or_create(&master_path)
        .map_err(io(format!("read or make the signing master key {}", master_path.display())))?;
    let volumes_dir = settings.data_dir.join("volumes");
    std::fs::create_dir_all(&volumes_dir).map_err(io(format!("create {}", volumes_dir.display())))?;
    // Volumes are sandbox-written trees (set-id programs included): root's only, as sandboxes are.
    std::fs::set_permissions(&volumes_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(io(format!("make {} private (0700)", volumes_dir.display())))?;
    let public_base = format!("http://{}", settings.listen);
    let config = PlaneConfig {
        toolbox_url: format!("{public_base}/toolbox"),
        volumes_dir,
        target: "local".to_string(),
        overcommit: settings.overcommit,
        signing_master,
    };
    let runtime = Arc::new(runtime);
    let node = Arc::new(LocalNode::new(Arc::clone(&runtime)));
    let plane = Arc::new(ControlPlane::new(Arc::clone(&store), node, config, Arc::new(SystemClock)).await?);
    plane.reconcile().await?;

    let state = AppState {
        plane: Arc::clone(&plane),
        limiter: Arc::new(RateLimiter::new(settings.rate_limit_per_second, settings.rate_limit_per_second * 2)),
        api_url: format!("{public_base}/api"),
        sessions: Arc::new(sandbar_toolbox::Sessions::with_log_dir(settings.data_dir.join("session-logs"))),
        ptys: Arc::default(),
        interpreters: Arc::default(),
        warm: Arc::default(),
    };
    let listener =
        tokio::net::TcpListener::bind(settings.listen).await.map_err(io(format!("listen on {}", settings.listen)))?;
    let reaper = tokio::spawn(crate::reaper::run(Arc::clone(&plane), settings.reaper_period));
    let exits = tokio::spawn(crate::exits::run(Arc::clone(&plane)));
    let trimmer = tokio::spawn(release_free_memory(HEAP_TRIM_PERIOD));

    tracing::info!(listen = %settings.listen, "sandbar is serving Daytona's API at {public_base}/api");
    announce(Serving {
        api_url: format!("{public_base}/api"),
        generated_key: generated.then(|| (admin_key.clone(), settings.data_dir.join(ADMIN_KEY_FILE))),
    });

    let served = crate::listen::serve(listener, http::router(state), settings.connections, shutdown).await;
    reaper.abort();
    exits.abort();
    trimmer.abort();
    tracing::info!("shutting down: stopping running sandboxes");
    plane.stop_all().await;
    runtime.remove_cgroup_parent();
    served.map_err(io("http server".to_string()))
}

/// How often the server gives its free heap back to the kernel.
const HEAP_TRIM_PERIOD: Duration = Duration::from_secs(30);

/// Gives freed heap back to the kernel every `period`, so a burst (a big upload, many sessions)
/// does not leave the server big for good; a big resident server made every sandbox start slow
/// before init was started without copying it, and still costs the host memory.
async fn release_free_memory(period: Duration) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let _ = tokio::task::spawn_blocking(sandbar_runtime::release_free_memory).await;
    }
}

/// Makes sure the admin organization and its key exist. Returns the key and whether it was
/// generated just now (and should be shown once).
pub async fn ensure_admin_key(
    store: &dyn Store,
    data_dir: &std::path::Path,
    configured: Option<&str>,
) -> Result<(String, bool), ServeError> {
    let now = iso(time::OffsetDateTime::now_utc());
    let org = store.ensure_organization(ADMIN_ORGANIZATION, &now).await?;
    let key_file = data_dir.join(ADMIN_KEY_FILE);
    let (key, generated) = match configured {
        Some(key) => (key.to_string(), false),
        None => match std::fs::read_to_string(&key_file) {
            Ok(key) => (key.trim().to_string(), false),
            Err(_) => {
                let key = http::new_key();
                write_private(&key_file, &key)?;
                (key, true)
            }
        },
    };
    if store.organization_of_key(&http::hash_key(&key)).await?.is_none() {
        let record = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org.id,
            name: "admin".to_string(),
            prefix: key.chars().take(8).collect(),
            created_at: now,
            revoked_at: None,
        };
        store.insert_api_key(&record, &http::hash_key(&key)).await?;
    }
    Ok((key, generated))
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), ServeError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("create {}", path.display())))?;
    file.write_all(text.as_bytes()).map_err(io(format!("write {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("chmod {}", path.display())))
}
