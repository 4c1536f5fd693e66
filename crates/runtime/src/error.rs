//! The runtime's one error type: every variant names the sandbox or image and the step that failed.

use crate::{SandboxId, SpawnErrorKind};
use std::io;
use std::path::PathBuf;

/// A boxed error from a library the runtime drives (cgroups).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec, id or request was rejected before anything ran.
    #[error("invalid spec: {what}")]
    InvalidSpec {
        /// What was wrong.
        what: String,
    },
    /// No sandbox with this id.
    #[error("sandbox {id} not found")]
    NotFound {
        /// The id asked for.
        id: SandboxId,
    },
    /// A sandbox with this id exists already.
    #[error("sandbox {id} already exists")]
    AlreadyExists {
        /// The id asked for.
        id: SandboxId,
    },
    /// The operation needs a running sandbox.
    #[error("sandbox {id} is not running")]
    NotRunning {
        /// The sandbox.
        id: SandboxId,
    },
    /// The operation needs a stopped sandbox.
    #[error("sandbox {id} is running; stop it first")]
    Running {
        /// The sandbox.
        id: SandboxId,
    },
    /// The sandbox is paused; resume it first.
    #[error("sandbox {id} is paused")]
    Paused {
        /// The sandbox.
        id: SandboxId,
    },
    /// The image is not in the local store.
    #[error("image {name:?} is not in the local image store")]
    ImageNotFound {
        /// The image name.
        name: String,
    },
    /// A host-side step of a sandbox operation failed.
    #[error("sandbox {id}: {step}")]
    Sandbox {
        /// The sandbox.
        id: SandboxId,
        /// What was being done, with the path or value involved.
        step: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A cgroup step failed.
    #[error("sandbox {id}: cgroup {step}")]
    Cgroup {
        /// The sandbox.
        id: SandboxId,
        /// What was being done.
        step: String,
        /// The cgroup library's error.
        #[source]
        source: BoxError,
    },
    /// Init reported that building the sandbox's root failed.
    #[error("sandbox {id}: init failed to {step}: {error}")]
    InitSetup {
        /// The sandbox.
        id: SandboxId,
        /// The setup step.
        step: String,
        /// The OS error init saw.
        error: String,
    },
    /// Init refused or failed a request (spawn, signal).
    #[error("sandbox {id}: {error}")]
    Request {
        /// The sandbox.
        id: SandboxId,
        /// Why a spawn failed, for callers that act on it ([`SpawnErrorKind::Other`] for every
        /// other request and for a connection that broke).
        kind: SpawnErrorKind,
        /// What init said.
        error: String,
    },
    /// A sandbox's state file (`sandbox.json`, `running.json`) did not encode or decode.
    #[error("sandbox state file {}: invalid JSON", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// serde's reason.
        #[source]
        source: serde_json::Error,
    },
    /// A sandbox an earlier runtime process left running cannot be taken over.
    #[error("sandbox {id}: cannot adopt it: {reason}")]
    AdoptRefused {
        /// The sandbox.
        id: SandboxId,
        /// Which check failed.
        reason: String,
    },
    /// Something is still in use and cannot go (an image a sandbox was created from).
    #[error("{what}")]
    InUse {
        /// What is used, and by what.
        what: String,
    },
    /// A layer of the sandbox's image is not in the image store.
    #[error("sandbox {id}: image layer {} is missing", path.display())]
    LayerMissing {
        /// The sandbox.
        id: SandboxId,
        /// Where the layer should be.
        path: PathBuf,
    },
    /// The sandbox got no network namespace or link.
    #[error("sandbox {id}: set up its network")]
    Network {
        /// The sandbox.
        id: SandboxId,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// Sandbox networking cannot be set up on this host (a missing tool, a netlink or nftables
    /// failure, a bad configuration).
    #[error("network setup: {step}")]
    NetworkSetup {
        /// What was being done, with the value involved.
        step: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// Sandbar's address range overlaps a network the host already uses.
    #[error("network range {range} overlaps {clash}; choose another with --network-range")]
    NetworkRange {
        /// The configured range.
        range: String,
        /// The host's route or the operator's network it overlaps.
        clash: String,
    },
    /// The host's cgroups cannot hold sandboxes (unknown layout, own cgroup not found).
    #[error("cgroup setup: {what}")]
    CgroupSetup {
        /// What was wrong.
        what: String,
    },
    /// A host-side step of the runtime itself (not of one sandbox, not of the image store).
    #[error("runtime: {step}")]
    Host {
        /// What was being done, with the path involved.
        step: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An image store operation failed.
    #[error("image store: {step}")]
    Image {
        /// What was being done, with the path involved.
        step: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Building an image failed; nothing of the attempt was kept.
    #[error("building image {name:?} failed while {step}{}", tail_suffix(.output_tail))]
    ImageBuild {
        /// The image.
        name: String,
        /// The step that failed.
        step: String,
        /// The last lines the failing command printed.
        output_tail: String,
    },
    /// A tool the runtime needs is missing and could not be installed.
    #[error("{tool} is missing and installing {package} failed{}", tail_suffix(.output_tail))]
    HostTool {
        /// The missing program.
        tool: String,
        /// The Debian package that provides it.
        package: String,
        /// What the install printed last.
        output_tail: String,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its last output:\n{tail}")
    }
}

impl Error {
    pub(crate) fn sandbox(id: &SandboxId, step: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let id = id.clone();
        let step = step.into();
        move |source| Error::Sandbox { id, step, source }
    }

    pub(crate) fn host(step: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let step = step.into();
        move |source| Error::Host { step, source }
    }

    /// A failed request to init that is not a spawn failure.
    pub(crate) fn request(id: &SandboxId, error: impl Into<String>) -> Error {
        Error::Request { id: id.clone(), kind: SpawnErrorKind::Other, error: error.into() }
    }

    pub(crate) fn image(step: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let step = step.into();
        move |source| Error::Image { step, source }
    }
}

/// An error and its causes on one line (`a: b: c`), for logs and messages that must say what
/// failed all the way down.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
