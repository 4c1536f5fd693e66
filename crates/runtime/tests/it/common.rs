//! The test fixture: a runtime over a temporary data directory, cleaned up on drop.

use sandbar_runtime::{
    env, ExecSpec, ImageStore, Output, Runtime, RuntimeConfig, SandboxId, SandboxSpec, DEFAULT_IMAGE,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Fails loudly (never skips) when the tests cannot run here.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the runtime tests need root (namespaces, mounts, cgroups); run them as root, as CI does"
    );
}

pub fn images() -> ImageStore {
    require_root();
    let images = ImageStore::open(env::image_cache_dir()).expect("open the image store");
    images.ensure_default(&mut ()).expect("build or find the default image");
    images
}

pub struct Fixture {
    pub runtime: Runtime,
    /// This fixture's cgroup parent name (unique per fixture).
    pub cgroup_parent: String,
    pub data: tempfile::TempDir,
    prefix: String,
    created: Mutex<Vec<SandboxId>>,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        Fixture::with_disk(name, None)
    }

    /// A fixture whose sandboxes live on a btrfs data disk of `disk_bytes` (sparse, in the
    /// fixture's data directory), so disk limits are enforced.
    pub fn with_disk(name: &str, disk_bytes: Option<u64>) -> Fixture {
        Fixture::with_config(name, disk_bytes, None)
    }

    /// A fixture whose sandboxes together stay within `bounds` (the parent cgroup's limits).
    pub fn with_bounds(name: &str, bounds: sandbar_runtime::HostBounds) -> Fixture {
        Fixture::with_config(name, None, Some(bounds))
    }

    /// A fixture whose runtime gives `NetworkMode::Outbound` sandboxes networking per `net`.
    pub fn with_network(name: &str, net: sandbar_runtime::NetConfig) -> Fixture {
        Fixture::with_config_and_network(name, None, None, Some(net))
    }

    fn with_config(name: &str, disk_bytes: Option<u64>, bounds: Option<sandbar_runtime::HostBounds>) -> Fixture {
        Fixture::with_config_and_network(name, disk_bytes, bounds, None)
    }

    fn with_config_and_network(
        name: &str,
        disk_bytes: Option<u64>,
        bounds: Option<sandbar_runtime::HostBounds>,
        net: Option<sandbar_runtime::NetConfig>,
    ) -> Fixture {
        let images = images();
        let data = tempfile::Builder::new().prefix("sandbar-test-").tempdir().expect("temp data dir");
        // As a data directory made with the usual umask would be: the runtime must make it private.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod data dir");
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let mut config = RuntimeConfig::new(data.path(), images);
        config.disk =
            disk_bytes.map(|size_bytes| sandbar_runtime::DataDisk { image: data.path().join("disk.img"), size_bytes });
        config.host_bounds = bounds;
        config.network = net;
        config.cgroup_parent = format!("sandbar-test-{}-{n}", std::process::id());
        let cgroup_parent = config.cgroup_parent.clone();
        let runtime = Runtime::new(config).expect("open runtime");
        Fixture { runtime, cgroup_parent, data, prefix: format!("{name}-{n}"), created: Mutex::new(Vec::new()) }
    }

    /// A fresh id, remembered for cleanup.
    pub fn id(&self, suffix: &str) -> SandboxId {
        let id = SandboxId::new(format!("{}-{suffix}", self.prefix)).expect("valid id");
        sandbar_runtime::lock(&self.created).push(id.clone());
        id
    }

    /// Creates and starts a sandbox from `spec`.
    pub fn started(&self, suffix: &str, spec: &SandboxSpec) -> SandboxId {
        let id = self.id(suffix);
        self.runtime.create(&id, spec).expect("create");
        self.runtime.start(&id).expect("start");
        id
    }

    /// A started sandbox from the default image.
    pub fn default_sandbox(&self, suffix: &str) -> SandboxId {
        self.started(suffix, &SandboxSpec::new(DEFAULT_IMAGE))
    }

    /// Runs `sh -c script` as `user` (or the default) and collects its output.
    pub fn sh_as(&self, id: &SandboxId, user: Option<&str>, script: &str) -> Output {
        let mut exec = ExecSpec::new(["sh", "-c", script]);
        exec.user = user.map(str::to_string);
        self.runtime.exec(id, &exec).expect("exec").output().expect("output")
    }

    pub fn sh(&self, id: &SandboxId, script: &str) -> Output {
        self.sh_as(id, None, script)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let result = self.runtime.delete_all();
        let cgroups = self.runtime.cgroup_children();
        let network = self.runtime.network_leftovers();
        let leftovers: Vec<_> = sandbar_runtime::lock(&self.created)
            .iter()
            .map(|id| (id.clone(), self.runtime.leftovers(id)))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if !std::thread::panicking() {
            result.expect("delete every sandbox");
            assert!(leftovers.is_empty(), "sandboxes left things behind: {leftovers:?}");
            assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
            assert!(network.is_empty(), "networking left behind: {network:?}");
        }
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
