//! A sandbox's egress policy after create: changed live on a running sandbox, kept in its
//! record for every later start, and what its network looks like from the host.

use super::adopt::RunningMarker;
use super::{write_record, Runtime};
use crate::spec::{EgressPolicy, SandboxId};
use crate::Error;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// A running networked sandbox's network, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Its address in the runtime's range.
    pub address: Ipv4Addr,
    /// Packets the firewall refused from it since it started (to the host, other sandboxes,
    /// guarded networks, or outside its policy).
    pub denied_packets: u64,
}

impl Runtime {
    /// Sets the sandbox's egress policy. A running sandbox gets it at once, without a restart:
    /// new connections outside it are refused, flows it no longer allows are cut, and its
    /// resolver answers by it. The record keeps it for every later start, and a later runtime
    /// process rebuilds the firewall from the record when it re-adopts the sandbox. Setting the
    /// policy the record already has does nothing.
    #[tracing::instrument(skip_all, fields(sandbox_id = %id))]
    pub fn update_network(&self, id: &SandboxId, policy: &EgressPolicy) -> Result<(), Error> {
        policy.validate()?;
        let _guard = self.locked(id);
        let mut record = self.record(id)?;
        if record.spec.egress == *policy {
            return Ok(());
        }
        let old = std::mem::replace(&mut record.spec.egress, policy.clone());
        // The record first: whatever happens next, the record is what the sandbox gets.
        write_record(id, &self.dir(id), &record)?;
        if let Some(running) = self.running_entry(id) {
            if let Some(net) = &running.net {
                let applied = net.update(policy).map_err(|source| Error::Network { id: id.clone(), source });
                let applied = applied.and_then(|()| RunningMarker::of(&running).write(id, &self.dir(id)));
                if let Err(error) = applied {
                    // Nothing changed after all: the record goes back to the policy in force.
                    record.spec.egress = old;
                    if let Err(e) = write_record(id, &self.dir(id), &record) {
                        tracing::error!(error = %e, "could not restore the record's egress policy after a failed change");
                    }
                    return Err(error);
                }
            }
        }
        tracing::debug!(
            block_all = policy.block_all,
            cidrs = policy.allow_cidrs.len(),
            domains = policy.allow_domains.len(),
            "egress policy set"
        );
        Ok(())
    }

    /// Links a sandbox that just started (or was re-adopted) with its running owner and its
    /// running followers. A link that cannot be made is logged; the sandbox runs on without it.
    pub(crate) fn connect_links(&self, id: &SandboxId) {
        if self.networking.is_none() {
            return;
        }
        let (me, others) = {
            let running = crate::sync::lock(&self.running);
            let others: Vec<_> = running.iter().map(|(other, entry)| (other.clone(), Arc::clone(entry))).collect();
            (running.get(id).cloned(), others)
        };
        let Some(me) = me else { return };
        if me.net.is_none() {
            return;
        }
        // Links do not chain: an owner is never itself a follower.
        let link = |follower: &super::Running, owner: &super::Running, link: &crate::spec::Link| {
            let (Some(follower_net), Some(owner_net)) = (&follower.net, &owner.net) else { return };
            if owner.record.spec.link.is_some() {
                return;
            }
            if let Err(e) = follower_net.link_to(owner_net, link) {
                tracing::warn!(sandbox_id = %id, owner = %link.owner, error = %e, "could not link sandboxes");
            }
        };
        if let Some(to_owner) = &me.record.spec.link {
            if let Some((_, owner)) = others.iter().find(|(other, _)| other.as_str() == to_owner.owner) {
                link(&me, owner, to_owner);
            }
        }
        for (_, follower) in &others {
            if let Some(to_me) = follower.record.spec.link.as_ref().filter(|l| l.owner == id.as_str()) {
                link(follower, &me, to_me);
            }
        }
    }

    /// The network of a running sandbox with outbound networking; `None` for one that is not
    /// running or has loopback only.
    pub fn network(&self, id: &SandboxId) -> Result<Option<NetworkInfo>, Error> {
        let Some(running) = self.running_entry(id) else { return Ok(None) };
        let Some(net) = &running.net else { return Ok(None) };
        let denied_packets = net.denied_packets().map_err(|source| Error::Network { id: id.clone(), source })?;
        Ok(Some(NetworkInfo { address: net.address(), denied_packets }))
    }
}
