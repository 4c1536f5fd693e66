//! Test surface on the public API: what a sandbox left on the host, its cgroups and its
//! writable layer, for the leak checks of the integration tests.

use super::Runtime;
use crate::spec::SandboxId;
use std::path::PathBuf;

/// What one sandbox left on the host, for leak checks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Entries under the sandboxes directory.
    pub directories: Vec<PathBuf>,
    /// Init processes still alive or unreaped.
    pub inits: Vec<i32>,
}

impl Leftovers {
    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.directories.is_empty() && self.inits.is_empty()
    }
}

impl Runtime {
    /// The sandbox's writable layer on the host (read it only while the sandbox is stopped).
    pub fn upper_dir(&self, id: &SandboxId) -> PathBuf {
        self.dir(id).join("upper")
    }

    /// Absolute cgroup directories of a sandbox (empty when it does not run).
    pub fn cgroup_dirs(&self, id: &SandboxId) -> Vec<PathBuf> {
        self.running_entry(id).map(|running| running.cgroup.dirs()).unwrap_or_default()
    }

    /// Every sandbox cgroup directory under this runtime's parent cgroup, running or leaked.
    pub fn cgroup_children(&self) -> Vec<PathBuf> {
        self.cgroups.children()
    }

    /// The address of a running sandbox with outbound networking.
    pub fn network_address(&self, id: &SandboxId) -> Option<std::net::Ipv4Addr> {
        self.running_entry(id)?.net.as_ref().map(|net| net.address())
    }

    /// What sandbox networking holds on the host that no running sandbox or ready pool entry
    /// accounts for (links, taken addresses, forwarder clients); empty when nothing leaked.
    pub fn network_leftovers(&self) -> Vec<String> {
        let Some(networking) = &self.networking else { return Vec::new() };
        let running: std::collections::HashSet<_> = crate::sync::lock(&self.running)
            .values()
            .filter_map(|running| running.net.as_ref().map(|net| net.address()))
            .collect();
        networking.leftovers(&running)
    }

    /// The nftables table and the gateway link of this runtime's networking, to check that
    /// they are gone after the runtime is dropped.
    pub fn network_host_names(&self) -> Option<(String, String)> {
        self.networking.as_ref().map(|n| (n.table().to_string(), n.dummy().to_string()))
    }

    /// What `id` left on the host; all empty once it is deleted.
    pub fn leftovers(&self, id: &SandboxId) -> Leftovers {
        let mut leftovers = Leftovers::default();
        for name in [id.to_string(), format!(".creating-{id}"), format!(".deleting-{id}")] {
            let path = self.sandboxes_dir.join(name);
            if path.exists() {
                leftovers.directories.push(path);
            }
        }
        if let Some(running) = self.running_entry(id) {
            leftovers.inits.push(running.init_pid);
        }
        leftovers
    }
}
