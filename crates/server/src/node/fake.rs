//! A [`Node`] that keeps sandboxes as records in memory: no processes, no root. It follows the
//! runtime's contract (which calls succeed in which state, which are idempotent, which error each
//! refusal is), records every call in order, and fails a chosen call on demand, so the control
//! plane's admission, lists, error mapping, reaper and lifecycle tests run unprivileged.

use super::Node;
use async_trait::async_trait;
use sandbar_runtime::{Capacity, Error, Limits, Runtime, SandboxId, SandboxSpec, SandboxState};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One call the control plane made, in the order it made them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Call {
    Create { id: String, image: String },
    Start(String),
    Stop(String),
    Delete(String),
    Pause(String),
    Resume(String),
    Archive(String),
    Snapshot { id: String, image: String },
    Fork { source: String, target: String },
    DeleteImage(String),
    UpdateLimits(String),
    UpdateNetwork { id: String, policy: sandbar_runtime::EgressPolicy },
}

/// Which call a planted failure hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Op {
    Create,
    Start,
    Stop,
    Delete,
    Pause,
    Resume,
    Archive,
    Snapshot,
    Fork,
    DeleteImage,
    UpdateLimits,
    UpdateNetwork,
}

#[derive(Debug, Clone)]
struct Sandbox {
    spec: SandboxSpec,
    state: SandboxState,
    archived: bool,
}

#[derive(Default)]
struct Inner {
    sandboxes: BTreeMap<SandboxId, Sandbox>,
    images: BTreeSet<String>,
    calls: Vec<Call>,
    failures: BTreeMap<Op, Vec<Error>>,
}

/// Sandboxes as records in memory.
#[derive(Default)]
pub struct FakeNode {
    inner: Mutex<Inner>,
    disk_limits: bool,
    capacity: Mutex<Option<Capacity>>,
}

impl FakeNode {
    /// A node that knows the images in `images` (`default` is always known).
    pub fn new<'a>(images: impl IntoIterator<Item = &'a str>) -> FakeNode {
        let node = FakeNode::default();
        let mut inner = node.lock();
        inner.images.insert(sandbar_runtime::DEFAULT_IMAGE.to_string());
        inner.images.extend(images.into_iter().map(str::to_string));
        drop(inner);
        node
    }

    /// Makes the node offer `capacity` (by default 64 cpus, 256 GiB of memory, no data disk).
    pub fn set_capacity(&self, capacity: Capacity) {
        *sandbar_runtime::lock(&self.capacity) = Some(capacity);
    }

    /// The next call of `op` fails with `error` (several plants fail successive calls).
    pub fn fail_next(&self, op: Op, error: Error) {
        self.lock().failures.entry(op).or_default().push(error);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The state the node holds for `id`, if it has the sandbox.
    pub fn sandbox_state(&self, id: &str) -> Option<SandboxState> {
        let id = SandboxId::new(id).ok()?;
        self.lock().sandboxes.get(&id).map(|s| s.state)
    }

    /// The spec the node holds for `id` (what the runtime would enforce).
    pub fn spec(&self, id: &str) -> Option<SandboxSpec> {
        let id = SandboxId::new(id).ok()?;
        self.lock().sandboxes.get(&id).map(|s| s.spec.clone())
    }

    /// The images the node holds.
    pub fn images(&self) -> BTreeSet<String> {
        self.lock().images.clone()
    }

    /// Makes a running sandbox stop as if its init died (for reconcile tests).
    pub fn crash(&self, id: &str) {
        if let Ok(id) = SandboxId::new(id) {
            if let Some(sandbox) = self.lock().sandboxes.get_mut(&id) {
                sandbox.state = SandboxState::Stopped;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        sandbar_runtime::lock(&self.inner)
    }

    /// Records `call` and takes the planted failure for `op`, if any.
    fn enter(&self, op: Op, call: Call) -> Result<MutexGuard<'_, Inner>, Error> {
        let mut inner = self.lock();
        inner.calls.push(call);
        if let Some(planted) = inner.failures.get_mut(&op) {
            if !planted.is_empty() {
                return Err(planted.remove(0));
            }
        }
        Ok(inner)
    }
}

fn not_found(id: &SandboxId) -> Error {
    Error::NotFound { id: id.clone() }
}

impl Inner {
    fn get(&mut self, id: &SandboxId) -> Result<&mut Sandbox, Error> {
        self.sandboxes.get_mut(id).ok_or_else(|| not_found(id))
    }

    fn create(&mut self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        if self.sandboxes.contains_key(id) {
            return Err(Error::AlreadyExists { id: id.clone() });
        }
        spec.validate()?;
        if !self.images.contains(&spec.image) {
            return Err(Error::ImageNotFound { name: spec.image.clone() });
        }
        self.sandboxes
            .insert(id.clone(), Sandbox { spec: spec.clone(), state: SandboxState::Stopped, archived: false });
        Ok(())
    }

    /// Pause (`Paused`) or resume (`Running`) a sandbox whose processes exist; idempotent.
    fn freeze(&mut self, id: &SandboxId, to: SandboxState) -> Result<(), Error> {
        let sandbox = self.get(id)?;
        if sandbox.state == SandboxState::Stopped {
            return Err(Error::NotRunning { id: id.clone() });
        }
        sandbox.state = to;
        Ok(())
    }

    fn start(&mut self, id: &SandboxId) -> Result<(), Error> {
        let sandbox = self.get(id)?;
        if sandbox.state == SandboxState::Stopped {
            sandbox.archived = false;
            sandbox.state = SandboxState::Running;
        }
        Ok(())
    }
}

#[async_trait]
impl Node for FakeNode {
    async fn create_and_start(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        let mut inner = self.enter(Op::Create, Call::Create { id: id.to_string(), image: spec.image.clone() })?;
        inner.create(id, spec)?;
        drop(inner);
        let mut inner = self.enter(Op::Start, Call::Start(id.to_string()))?;
        inner.start(id)
    }

    async fn create(&self, id: &SandboxId, spec: &SandboxSpec) -> Result<(), Error> {
        self.enter(Op::Create, Call::Create { id: id.to_string(), image: spec.image.clone() })?.create(id, spec)
    }

    async fn start(&self, id: &SandboxId) -> Result<(), Error> {
        self.enter(Op::Start, Call::Start(id.to_string()))?.start(id)
    }

    async fn stop(&self, id: &SandboxId, _grace: Duration) -> Result<(), Error> {
        let mut inner = self.enter(Op::Stop, Call::Stop(id.to_string()))?;
        if let Some(sandbox) = inner.sandboxes.get_mut(id) {
            sandbox.state = SandboxState::Stopped;
        }
        Ok(())
    }

    async fn delete(&self, id: &SandboxId) -> Result<(), Error> {
        self.enter(Op::Delete, Call::Delete(id.to_string()))?.sandboxes.remove(id);
        Ok(())
    }

    async fn state(&self, id: &SandboxId) -> Result<SandboxState, Error> {
        self.lock().sandboxes.get(id).map(|s| s.state).ok_or_else(|| not_found(id))
    }

    async fn is_archived(&self, id: &SandboxId) -> bool {
        self.lock().sandboxes.get(id).is_some_and(|s| s.archived)
    }

    async fn pause(&self, id: &SandboxId) -> Result<(), Error> {
        self.enter(Op::Pause, Call::Pause(id.to_string()))?.freeze(id, SandboxState::Paused)
    }

    async fn resume(&self, id: &SandboxId) -> Result<(), Error> {
        self.enter(Op::Resume, Call::Resume(id.to_string()))?.freeze(id, SandboxState::Running)
    }

    async fn archive(&self, id: &SandboxId) -> Result<(), Error> {
        let mut inner = self.enter(Op::Archive, Call::Archive(id.to_string()))?;
        let sandbox = inner.get(id)?;
        if sandbox.state != SandboxState::Stopped {
            return Err(Error::Running { id: id.clone() });
        }
        sandbox.archived = true;
        Ok(())
    }

    async fn snapshot(&self, id: &SandboxId, image_name: &str) -> Result<(), Error> {
        let mut inner = self.enter(Op::Snapshot, Call::Snapshot { id: id.to_string(), image: image_name.into() })?;
        inner.get(id)?;
        inner.images.insert(image_name.to_string());
        Ok(())
    }

    async fn fork(&self, source: &SandboxId, target: &SandboxId) -> Result<(), Error> {
        let call = Call::Fork { source: source.to_string(), target: target.to_string() };
        let mut inner = self.enter(Op::Fork, call)?;
        let spec = inner.get(source)?.spec.clone();
        if inner.sandboxes.contains_key(target) {
            return Err(Error::AlreadyExists { id: target.clone() });
        }
        inner.sandboxes.insert(target.clone(), Sandbox { spec, state: SandboxState::Stopped, archived: false });
        Ok(())
    }

    async fn delete_image(&self, name: &str) -> Result<(), Error> {
        let mut inner = self.enter(Op::DeleteImage, Call::DeleteImage(name.to_string()))?;
        if !inner.images.contains(name) {
            return Err(Error::ImageNotFound { name: name.to_string() });
        }
        if let Some((id, _)) = inner.sandboxes.iter().find(|(_, s)| s.spec.image == name) {
            return Err(Error::InUse { what: format!("image {name:?} is used by sandbox {id}") });
        }
        inner.images.remove(name);
        Ok(())
    }

    async fn update_limits(&self, id: &SandboxId, limits: &Limits) -> Result<(), Error> {
        let mut inner = self.enter(Op::UpdateLimits, Call::UpdateLimits(id.to_string()))?;
        inner.get(id)?.spec.limits = limits.clone();
        Ok(())
    }

    async fn update_network(&self, id: &SandboxId, policy: &sandbar_runtime::EgressPolicy) -> Result<(), Error> {
        let call = Call::UpdateNetwork { id: id.to_string(), policy: policy.clone() };
        let mut inner = self.enter(Op::UpdateNetwork, call)?;
        inner.get(id)?.spec.egress = policy.clone();
        Ok(())
    }

    fn enforces_disk_limits(&self) -> bool {
        self.disk_limits
    }

    fn capacity(&self) -> Capacity {
        sandbar_runtime::lock(&self.capacity).unwrap_or(Capacity {
            cpus: 64,
            memory_bytes: 256 << 30,
            disk_bytes: None,
        })
    }

    fn local_runtime(&self) -> Option<Arc<Runtime>> {
        None
    }
}
