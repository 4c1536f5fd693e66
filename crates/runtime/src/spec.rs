//! What a sandbox is and what a process in it is: plain data, validated before anything runs.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// A sandbox id: 1-64 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
///
/// It names directories and cgroups, so it is checked once here and trusted everywhere after.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SandboxId(String);

impl SandboxId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<SandboxId, crate::Error> {
        let id = id.into();
        let valid_chars = id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if id.is_empty() || id.len() > 64 || !valid_chars || id.starts_with(['.', '-']) {
            return Err(crate::Error::InvalidSpec {
                what: format!(
                    "sandbox id {id:?} must be 1-64 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"
                ),
            });
        }
        Ok(SandboxId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SandboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything needed to create a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SandboxSpec {
    /// Image name in the store (see [`crate::ImageStore`]).
    pub image: String,
    /// Environment every process starts with (image env first, these override it).
    pub env: Vec<(String, String)>,
    /// Default OS user for processes; `None` uses the image's user.
    pub user: Option<String>,
    /// Default working directory; `None` uses the image's, then the user's home.
    pub workdir: Option<String>,
    /// Resource limits.
    pub limits: Limits,
    /// Network access.
    pub network: NetworkMode,
    /// What an [`NetworkMode::Outbound`] sandbox may reach beyond the host's guards; open when
    /// default. Changed on a running sandbox with [`crate::Runtime::update_network`].
    #[serde(default)]
    pub egress: EgressPolicy,
    /// The owner of a linked sandbox (Daytona's `linkedSandbox`): while both run, each reaches
    /// the other (and only the other, of all sandboxes), by address and by name.
    #[serde(default)]
    pub link: Option<Link>,
    /// Host directories visible in the sandbox.
    pub mounts: Vec<BindMount>,
    /// Hostname; the sandbox id when `None`.
    pub hostname: Option<String>,
}

impl SandboxSpec {
    /// A spec for `image` with no limits, loopback-only networking and nothing mounted.
    pub fn new(image: impl Into<String>) -> SandboxSpec {
        SandboxSpec {
            image: image.into(),
            env: Vec::new(),
            user: None,
            workdir: None,
            limits: Limits::default(),
            network: NetworkMode::Loopback,
            egress: EgressPolicy::default(),
            link: None,
            mounts: Vec::new(),
            hostname: None,
        }
    }

    /// Checks everything about the spec that can be checked before anything runs: environment
    /// names, mount paths (an existing absolute source; a target below `/` without
    /// `..`), limits a sandbox could not start or run under, and the hostname. The runtime
    /// calls it on create and on a limit change; callers may call it earlier to answer a
    /// request without touching a sandbox.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let invalid = |what: String| Err(crate::Error::InvalidSpec { what });
        for (key, _) in &self.env {
            validate_env_name(key)?;
        }
        for mount in &self.mounts {
            if !mount.source.is_absolute() || !mount.source.exists() {
                return invalid(format!("mount source {} must be an existing absolute path", mount.source.display()));
            }
            validate_mount_target(&mount.target)?;
        }
        if let Some(bytes) = self.limits.memory_bytes {
            if bytes < 8 << 20 {
                return invalid(format!("memory limit {bytes} bytes is below the 8 MiB minimum"));
            }
        }
        if self.limits.cpu_millis == Some(0) {
            return invalid("cpu limit must be above 0".to_string());
        }
        if let Some(pids) = self.limits.pids {
            if pids < 2 {
                return invalid(format!("pids limit {pids} leaves no room for a process beside init"));
            }
        }
        self.egress.validate()?;
        if let Some(hostname) = &self.hostname {
            if hostname.is_empty() || hostname.len() > 64 {
                return invalid(format!("hostname {hostname:?} must be 1-64 bytes"));
            }
        }
        Ok(())
    }
}

/// Checks where a mount goes in the sandbox: an absolute path below `/` without `..`.
pub fn validate_mount_target(target: &Path) -> Result<(), crate::Error> {
    let clean = target.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !target.is_absolute() || !clean || target == Path::new("/") {
        return Err(crate::Error::InvalidSpec {
            what: format!("mount target {} must be an absolute path below / without '..'", target.display()),
        });
    }
    Ok(())
}

/// Checks an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, what a shell can expand.
pub fn validate_env_name(name: &str) -> Result<(), crate::Error> {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(crate::Error::InvalidSpec {
            what: format!("environment variable name {name:?} must match [A-Za-z_][A-Za-z0-9_]*"),
        })
    }
}

/// Checks one environment variable: its name, and a value without NUL (which `execve` cannot carry).
pub(crate) fn validate_env(name: &str, value: &str) -> Result<(), crate::Error> {
    validate_env_name(name)?;
    if value.contains('\0') {
        return Err(crate::Error::InvalidSpec { what: format!("the value of {name} contains a NUL byte") });
    }
    Ok(())
}

/// cgroup limits; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Memory limit in bytes; processes beyond it are OOM-killed inside the sandbox.
    pub memory_bytes: Option<u64>,
    /// CPU quota in thousandths of a CPU (1000 = one full core).
    pub cpu_millis: Option<u64>,
    /// Maximum number of processes and threads.
    pub pids: Option<u64>,
    /// Bytes the sandbox's files may take (its writable layer and archive); writes past it fail
    /// with `EDQUOT`. Enforced only when the runtime has a data disk ([`crate::DataDisk`]).
    #[serde(default)]
    pub disk_bytes: Option<u64>,
}

/// How the sandbox reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NetworkMode {
    /// Its own network namespace with only `lo`.
    Loopback,
    /// Its own network namespace with `lo` and `eth0`, a veth into the host with one address of
    /// the runtime's range, NAT to the outside and the host's guards (see `net/`). A runtime
    /// without networking ([`crate::RuntimeConfig::network`] unset) starts such a sandbox with
    /// loopback only, and says so in its log.
    Outbound,
}

/// Where a networked sandbox may connect, on top of the host's guards (which no policy lifts).
///
/// Daytona's three settings: `block_all` (`networkBlockAll`) leaves loopback only and wins over
/// the lists; otherwise a non-empty `allow_cidrs` (`networkAllowList`) or `allow_domains`
/// (`domainAllowList`) allows only connections to those networks, or to addresses the
/// sandbox's resolver answered for those names (their union when both are set); with none set
/// the sandbox is open.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EgressPolicy {
    /// Loopback only.
    pub block_all: bool,
    /// Networks the sandbox may connect to.
    pub allow_cidrs: Vec<ipnet::Ipv4Net>,
    /// Names (`example.com`) and wildcards (`*.example.com`: any name below, not itself)
    /// whose addresses the sandbox may connect to; lower-case, without a trailing dot.
    pub allow_domains: Vec<String>,
}

impl EgressPolicy {
    /// Nothing restricted: no per-sandbox firewall state is needed.
    pub fn is_open(&self) -> bool {
        !self.block_all && self.allow_cidrs.is_empty() && self.allow_domains.is_empty()
    }

    /// Whether `name` (any case, a trailing dot allowed) matches the domain allow list.
    pub fn allows_domain(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        self.allow_domains.iter().any(|pattern| match pattern.strip_prefix("*.") {
            Some(parent) => {
                name.len() > parent.len() + 1
                    && name.ends_with(parent)
                    && name.as_bytes()[name.len() - parent.len() - 1] == b'.'
            }
            None => name == *pattern,
        })
    }

    /// Checks every domain pattern: `*.` at most as a prefix, then two or more labels of 1-63
    /// letters, digits and inner hyphens, lower-case, at most 253 bytes.
    pub fn validate(&self) -> Result<(), crate::Error> {
        for pattern in &self.allow_domains {
            if !valid_domain_pattern(pattern) {
                return Err(crate::Error::InvalidSpec {
                    what: format!(
                        "domain {pattern:?} must be a lower-case name of two or more labels, optionally after \"*.\""
                    ),
                });
            }
        }
        Ok(())
    }
}

fn valid_domain_pattern(pattern: &str) -> bool {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A follower's tie to its owner sandbox. Link traffic passes whatever either side's egress
/// policy says, as on Daytona (the link is the point of it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    /// The owner's sandbox id.
    pub owner: String,
    /// The name the follower resolves to the owner's address.
    pub owner_alias: String,
    /// The name the owner resolves to this follower's address.
    pub alias: String,
}

/// A host path bound into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BindMount {
    /// Absolute host path; it must exist.
    pub source: PathBuf,
    /// Absolute path inside the sandbox; created when missing.
    pub target: PathBuf,
    /// Mount it read-only.
    pub read_only: bool,
}

/// A process to run in a running sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment, on top of the sandbox's.
    pub env: Vec<(String, String)>,
    /// The environment `env` goes on top of, in place of the sandbox's current one (a session
    /// keeps the environment it was created with; see [`crate::Runtime::env`]).
    pub base_env: Option<Vec<(String, String)>>,
    /// Working directory; the sandbox's default when `None`.
    pub cwd: Option<String>,
    /// OS user; the sandbox's default when `None`.
    pub user: Option<String>,
    /// Pipes or a PTY.
    pub stdio: ExecStdio,
}

impl ExecSpec {
    /// `argv` with piped stdio and the sandbox's defaults for everything else.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> ExecSpec {
        ExecSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            base_env: None,
            cwd: None,
            user: None,
            stdio: ExecStdio::Pipes,
        }
    }
}

/// Standard streams of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStdio {
    /// Separate stdin, stdout and stderr pipes.
    Pipes,
    /// A stdin pipe and one pipe that stdout and stderr share (interleaved as written).
    Merged,
    /// A PTY of this size; stdin, stdout and stderr are its slave side.
    Pty {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

/// How long `stop` waits for processes to exit after SIGTERM before killing them.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn env_names_are_checked() {
        assert!(validate_env_name("PATH").is_ok());
        assert!(validate_env_name("_x1").is_ok());
        for bad in ["", "1A", "A-B", "A=B", "A B"] {
            assert!(matches!(validate_env_name(bad), Err(Error::InvalidSpec { .. })), "{bad:?} accepted");
        }
    }

    #[test]
    fn env_values_may_not_hold_nul() {
        assert!(matches!(validate_env("A", "x\0y"), Err(Error::InvalidSpec { .. })));
        assert!(matches!(validate_env("1A", "x"), Err(Error::InvalidSpec { .. })));
        assert!(validate_env("A", "x y").is_ok());
    }

    #[test]
    fn mounts_must_stay_below_root() {
        let mut spec = SandboxSpec::new("default");
        spec.mounts.push(BindMount { source: "/tmp".into(), target: "/work/../etc".into(), read_only: false });
        assert!(matches!(spec.validate(), Err(Error::InvalidSpec { .. })));
        spec.mounts[0].target = "relative".into();
        assert!(matches!(spec.validate(), Err(Error::InvalidSpec { .. })));
        spec.mounts[0].target = "/work".into();
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn domain_patterns_match_the_name_or_any_name_below() {
        let policy = EgressPolicy {
            allow_domains: vec!["example.com".into(), "*.allowed.test".into()],
            ..EgressPolicy::default()
        };
        for yes in ["example.com", "EXAMPLE.com.", "api.allowed.test", "a.b.allowed.test"] {
            assert!(policy.allows_domain(yes), "{yes} refused");
        }
        for no in ["www.example.com", "allowed.test", "xallowed.test", "api.allowed.test.evil", "com"] {
            assert!(!policy.allows_domain(no), "{no} allowed");
        }
        assert!(policy.validate().is_ok());
        for bad in ["*", "com", "*.com.", "a..b", "-a.com", "A.com", "a.*.com", "a_b.com"] {
            let policy = EgressPolicy { allow_domains: vec![bad.into()], ..EgressPolicy::default() };
            assert!(policy.validate().is_err(), "{bad:?} accepted");
        }
        assert!(EgressPolicy::default().is_open());
        assert!(!EgressPolicy { block_all: true, ..EgressPolicy::default() }.is_open());
    }

    #[test]
    fn records_without_a_policy_read_as_open() {
        let mut value = serde_json::to_value(SandboxSpec::new("default")).unwrap();
        value.as_object_mut().unwrap().remove("egress");
        let spec: SandboxSpec = serde_json::from_value(value).unwrap();
        assert!(spec.egress.is_open());
    }

    #[test]
    fn limits_below_usable_are_rejected() {
        let mut spec = SandboxSpec::new("default");
        spec.limits.memory_bytes = Some(1024);
        assert!(matches!(spec.validate(), Err(Error::InvalidSpec { .. })));
        spec.limits.memory_bytes = None;
        spec.limits.pids = Some(1);
        assert!(matches!(spec.validate(), Err(Error::InvalidSpec { .. })));
    }
}
