//! Daytona's network settings, pure: the allow-list checks with Daytona's messages, the update
//! semantics of `POST /sandbox/{id}/network-settings`, and the runtime policy a row stands for.
//!
//! The rows keep the lists as the caller sent them (the DTO echoes them); [`policy_of`] is the
//! one place they are parsed for enforcement. Linked sandboxes (Daytona's `linkedSandbox`):
//! the checks on the owner, the runtime's [`sandbar_runtime::Link`], the cascade on delete.

use super::{ControlPlane, ServiceError};
use crate::model::{Organization, SandboxRow};
use ipnet::Ipv4Net;
use sandbar_api::NetworkSettings;
use sandbar_api::{CreateSandbox, SandboxState};
use sandbar_runtime::EgressPolicy;
use std::net::Ipv4Addr;

/// At most this many entries per list, as on Daytona.
const MAX_ENTRIES: usize = 10;

/// Checks a comma-separated CIDR list and returns its networks (host bits masked). Entries are
/// trimmed and empty ones skipped; the count includes them, as on Daytona. Stricter than
/// Daytona: a prefix must be all digits and an entry has at most one `/`.
pub(super) fn network_allow_list(list: &str) -> Result<Vec<Ipv4Net>, ServiceError> {
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    let mut networks = Vec::new();
    for entry in entries.iter().copied().filter(|entry| !entry.is_empty()) {
        let (address, prefix) = entry.split_once('/').map_or((entry, None), |(a, p)| (a, Some(p)));
        let Ok(address) = address.parse::<Ipv4Addr>() else {
            return Err(invalid(format!(
                "Invalid IP address: \"{address}\" in network \"{entry}\". Must be a valid IPv4 address"
            )));
        };
        let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
            return Err(invalid(format!(
                "Invalid network format: \"{entry}\". Missing CIDR prefix length (e.g., /24)"
            )));
        };
        let length = prefix.bytes().all(|b| b.is_ascii_digit()).then(|| prefix.parse::<u8>().ok()).flatten();
        let Some(network) = length.and_then(|length| Ipv4Net::new(address, length).ok()) else {
            return Err(invalid(format!("Invalid CIDR prefix length: {entry}. Prefix must be between 0 and 32")));
        };
        networks.push(network.trunc());
    }
    if entries.len() > MAX_ENTRIES {
        return Err(invalid("Network allow list cannot contain more than 10 networks".into()));
    }
    Ok(networks)
}

/// Checks a comma-separated domain list (names, or `*.` and a name) and returns its patterns
/// in lower case. Daytona's rule: labels of letters, digits and inner hyphens (1-63 long),
/// and a last label of two or more letters; stricter: the last label is at most 63 letters
/// and the name at most 253 bytes, as DNS requires.
pub(super) fn domain_allow_list(list: &str) -> Result<Vec<String>, ServiceError> {
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    let mut domains = Vec::new();
    for entry in entries.iter().copied().filter(|entry| !entry.is_empty()) {
        if !valid_domain(entry) {
            return Err(invalid(format!("Invalid domain: \"{entry}\". Must be a valid domain name")));
        }
        domains.push(entry.to_ascii_lowercase());
    }
    if entries.len() > MAX_ENTRIES {
        return Err(invalid("Domain allow list cannot contain more than 10 domains".into()));
    }
    Ok(domains)
}

fn valid_domain(entry: &str) -> bool {
    let name = entry.strip_prefix("*.").unwrap_or(entry);
    let labels: Vec<&str> = name.split('.').collect();
    let Some((top, inner)) = labels.split_last() else { return false };
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    name.len() <= 253
        && !inner.is_empty()
        && inner.iter().all(label_ok)
        && (2..=63).contains(&top.len())
        && top.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Checks the network fields of a create request (each independently, as Daytona).
pub(super) fn check_create(allow_list: Option<&str>, domain_list: Option<&str>) -> Result<(), ServiceError> {
    if let Some(list) = allow_list {
        network_allow_list(list)?;
    }
    if let Some(list) = domain_list {
        domain_allow_list(list)?;
    }
    Ok(())
}

/// Applies a network-settings request to `row` with Daytona's semantics: an empty string clears
/// a list; `networkBlockAll: true` clears the CIDR list; a non-empty CIDR list turns block-all
/// off; `networkBlockAll: false` without a list clears the CIDR list.
pub(super) fn apply_settings(row: &mut SandboxRow, settings: &NetworkSettings) -> Result<(), ServiceError> {
    if settings.network_block_all.is_none()
        && settings.network_allow_list.is_none()
        && settings.domain_allow_list.is_none()
    {
        return Err(invalid(
            "At least one of networkBlockAll, networkAllowList or domainAllowList must be provided".into(),
        ));
    }
    // Everything is checked before anything changes.
    if let Some(list) = settings.network_allow_list.as_deref().filter(|l| !l.trim().is_empty()) {
        network_allow_list(list)?;
    }
    if let Some(list) = settings.domain_allow_list.as_deref().filter(|l| !l.trim().is_empty()) {
        domain_allow_list(list)?;
    }
    if let Some(list) = &settings.domain_allow_list {
        row.domain_allow_list = (!list.trim().is_empty()).then(|| list.clone());
    }
    if let Some(block) = settings.network_block_all {
        row.network_block_all = block;
        if block {
            row.network_allow_list = None;
        }
    }
    match &settings.network_allow_list {
        Some(list) if list.trim().is_empty() => row.network_allow_list = None,
        Some(list) => {
            row.network_allow_list = Some(list.clone());
            row.network_block_all = false;
        }
        None if settings.network_block_all == Some(false) => row.network_allow_list = None,
        None => {}
    }
    Ok(())
}

/// The runtime policy a row stands for. Stored lists were checked when they were stored; one
/// that no longer parses (a row written by an older version) fails closed, as block-all.
pub(super) fn policy_of(row: &SandboxRow) -> EgressPolicy {
    let cidrs = row.network_allow_list.as_deref().map(network_allow_list).transpose();
    let domains = row.domain_allow_list.as_deref().map(domain_allow_list).transpose();
    match (cidrs, domains) {
        (Ok(cidrs), Ok(domains)) => EgressPolicy {
            block_all: row.network_block_all,
            allow_cidrs: cidrs.unwrap_or_default(),
            allow_domains: domains.unwrap_or_default(),
        },
        (cidrs, domains) => {
            let error = cidrs.err().or(domains.err()).map(|e| e.to_string()).unwrap_or_default();
            tracing::warn!(sandbox_id = %row.id, %error, "stored network allow list does not parse; blocking all");
            EgressPolicy { block_all: true, ..EgressPolicy::default() }
        }
    }
}

impl ControlPlane {
    /// The owner a create links to, with Daytona's checks: only an ephemeral sandbox may link,
    /// the owner must exist in the organization (404), must not itself be linked, and must be
    /// started or stopped.
    pub(super) async fn link_owner(
        &self,
        org: &Organization,
        request: &CreateSandbox,
        reference: &str,
    ) -> Result<SandboxRow, ServiceError> {
        if request.auto_delete_interval != Some(0) {
            return Err(invalid("Linked sandboxes must be ephemeral (set autoDeleteInterval to 0)".into()));
        }
        let owner = self.get(org, reference).await?;
        if owner.linked_sandbox_id.is_some() {
            return Err(invalid(format!(
                "Linked sandbox {} is itself linked to another sandbox; chained links are not allowed",
                owner.id
            )));
        }
        if !matches!(owner.state, SandboxState::Started | SandboxState::Stopped) {
            return Err(invalid(format!(
                "Linked sandbox must be in STARTED or STOPPED state with an assigned runner (current: {})",
                owner.state.as_str()
            )));
        }
        Ok(owner)
    }

    /// The runtime's link of a follower row: its owner's id and name and its own name.
    pub(super) async fn link_of(&self, row: &SandboxRow) -> Result<Option<sandbar_runtime::Link>, ServiceError> {
        let Some(owner_id) = &row.linked_sandbox_id else { return Ok(None) };
        let Some(owner) = self.store.find_live_sandbox(owner_id).await? else {
            // The owner is gone: its followers are being deleted with it.
            return Ok(None);
        };
        Ok(Some(sandbar_runtime::Link { owner: owner.id, owner_alias: owner.name, alias: row.name.clone() }))
    }

    /// Deletes the followers of an owner that was just deleted, as Daytona does: they lose
    /// their link and have no reason to exist (they are ephemeral).
    pub(super) async fn delete_followers(&self, owner_id: &str) {
        let followers = match self.store.live_followers(owner_id).await {
            Ok(followers) => followers,
            Err(e) => {
                tracing::warn!(sandbox_id = %owner_id, error = %e, "could not list the deleted sandbox's followers");
                return;
            }
        };
        for follower in followers {
            let deleted = Box::pin(self.command_if(&follower.id, |_| Some(crate::lifecycle::Command::Delete))).await;
            if let Err(e) = deleted {
                tracing::warn!(sandbox_id = %follower.id, owner = %owner_id, error = %e, "could not delete a linked follower");
            }
        }
    }
}

fn invalid(message: String) -> ServiceError {
    ServiceError::Invalid(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<impl std::fmt::Debug, ServiceError>) -> String {
        result.expect_err("refused").to_string()
    }

    #[test]
    fn allow_lists_are_checked_with_daytonas_messages() {
        let ok = network_allow_list(" 10.0.0.1/8, ,192.168.1.0/24,").unwrap();
        assert_eq!(ok, vec!["10.0.0.0/8".parse::<Ipv4Net>().unwrap(), "192.168.1.0/24".parse().unwrap()]);
        assert!(network_allow_list("").unwrap().is_empty());
        let cases = [
            ("abc", "Invalid IP address: \"abc\" in network \"abc\". Must be a valid IPv4 address"),
            ("10.0.0/8", "Invalid IP address: \"10.0.0\" in network \"10.0.0/8\". Must be a valid IPv4 address"),
            ("::1/128", "Invalid IP address: \"::1\" in network \"::1/128\". Must be a valid IPv4 address"),
            ("10.0.0.0", "Invalid network format: \"10.0.0.0\". Missing CIDR prefix length (e.g., /24)"),
            ("10.0.0.0/", "Invalid network format: \"10.0.0.0/\". Missing CIDR prefix length (e.g., /24)"),
            ("10.0.0.0/33", "Invalid CIDR prefix length: 10.0.0.0/33. Prefix must be between 0 and 32"),
            ("10.0.0.0/-1", "Invalid CIDR prefix length: 10.0.0.0/-1. Prefix must be between 0 and 32"),
            ("10.0.0.0/24abc", "Invalid CIDR prefix length: 10.0.0.0/24abc. Prefix must be between 0 and 32"),
            ("10.0.0.0/24/8", "Invalid CIDR prefix length: 10.0.0.0/24/8. Prefix must be between 0 and 32"),
        ];
        for (input, expected) in cases {
            assert_eq!(message(network_allow_list(input)), expected, "{input:?}");
        }
        let eleven = ["10.0.0.0/8"; 11].join(",");
        assert_eq!(message(network_allow_list(&eleven)), "Network allow list cannot contain more than 10 networks");
        // Empty entries count, as on Daytona.
        let ten_and_a_gap = format!("{},", ["10.0.0.0/8"; 10].join(","));
        assert!(network_allow_list(&ten_and_a_gap).is_err());
        // A bad entry is reported before the count.
        let bad_and_many = format!("x/8,{}", ["10.0.0.0/8"; 11].join(","));
        assert!(message(network_allow_list(&bad_and_many)).starts_with("Invalid IP address"));
    }

    #[test]
    fn domain_lists_are_checked_with_daytonas_messages() {
        assert_eq!(
            domain_allow_list("Example.COM, *.api.example.com,,x-1.io").unwrap(),
            vec!["example.com", "*.api.example.com", "x-1.io"]
        );
        for bad in ["com", "*.com", "*", "a..com", "-a.com", "a-.com", "a.c", "a.c0m", "*.*.a.com", "a_b.com", "a.com."]
        {
            assert_eq!(
                message(domain_allow_list(bad)),
                format!("Invalid domain: \"{bad}\". Must be a valid domain name"),
                "{bad:?}"
            );
        }
        let eleven = ["a.com"; 11].join(",");
        assert_eq!(message(domain_allow_list(&eleven)), "Domain allow list cannot contain more than 10 domains");
        // What the server accepts, the runtime accepts.
        let policy =
            EgressPolicy { allow_domains: domain_allow_list("*.A.example.com,b.io").unwrap(), ..Default::default() };
        assert!(policy.validate().is_ok());
    }

    fn row() -> SandboxRow {
        crate::model::test_sandbox("o1", "s1", "one", "2026-12-08T00:00:00Z")
    }

    fn settings(block: Option<bool>, cidrs: Option<&str>, domains: Option<&str>) -> NetworkSettings {
        NetworkSettings {
            network_block_all: block,
            network_allow_list: cidrs.map(str::to_string),
            domain_allow_list: domains.map(str::to_string),
        }
    }

    #[test]
    fn settings_follow_daytonas_update_rules() {
        let mut row = row();
        assert_eq!(
            message(apply_settings(&mut row, &settings(None, None, None))),
            "At least one of networkBlockAll, networkAllowList or domainAllowList must be provided"
        );
        apply_settings(&mut row, &settings(None, Some("10.0.0.0/8"), Some("a.com"))).unwrap();
        assert_eq!((row.network_block_all, row.network_allow_list.as_deref()), (false, Some("10.0.0.0/8")));
        assert_eq!(row.domain_allow_list.as_deref(), Some("a.com"));
        // Block clears the CIDR list, not the domain list.
        apply_settings(&mut row, &settings(Some(true), None, None)).unwrap();
        assert_eq!((row.network_block_all, row.network_allow_list.as_deref()), (true, None));
        assert_eq!(row.domain_allow_list.as_deref(), Some("a.com"));
        // A non-empty list lifts the block.
        apply_settings(&mut row, &settings(None, Some("1.2.3.4/32"), None)).unwrap();
        assert_eq!((row.network_block_all, row.network_allow_list.as_deref()), (false, Some("1.2.3.4/32")));
        // Block and a list in one request: the list wins, as on Daytona.
        apply_settings(&mut row, &settings(Some(true), Some("1.2.3.0/24"), None)).unwrap();
        assert_eq!((row.network_block_all, row.network_allow_list.as_deref()), (false, Some("1.2.3.0/24")));
        // `false` without a list clears the list; empty strings clear.
        apply_settings(&mut row, &settings(Some(false), None, Some(" "))).unwrap();
        assert_eq!(
            (row.network_block_all, row.network_allow_list.as_deref(), row.domain_allow_list.as_deref()),
            (false, None, None)
        );
        apply_settings(&mut row, &settings(None, Some("1.2.3.0/24"), None)).unwrap();
        apply_settings(&mut row, &settings(None, Some(""), None)).unwrap();
        assert_eq!(row.network_allow_list, None);
        // A bad entry changes nothing.
        let before = row.clone();
        assert!(apply_settings(&mut row, &settings(Some(true), None, Some("bad"))).is_err());
        assert_eq!(row, before);
    }

    #[test]
    fn a_row_stands_for_its_masked_policy() {
        let mut row = row();
        assert!(policy_of(&row).is_open());
        row.network_allow_list = Some("10.1.2.3/16, 198.18.0.3/32".into());
        row.domain_allow_list = Some("*.Example.com".into());
        let policy = policy_of(&row);
        assert_eq!(
            policy.allow_cidrs,
            vec!["10.1.0.0/16".parse::<Ipv4Net>().unwrap(), "198.18.0.3/32".parse().unwrap()]
        );
        assert_eq!(policy.allow_domains, vec!["*.example.com"]);
        assert!(!policy.block_all);
        row.network_allow_list = Some("garbage".into());
        assert!(policy_of(&row).block_all, "an unreadable stored list fails closed");
    }
}
