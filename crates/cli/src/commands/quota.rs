//! `sandbar quota show|set`: an organization's quotas in the local database. The server reads
//! them at every admission, so a change applies to the next create or start of a running server.

use crate::args::{GlobalArgs, Limit, QuotaCommand};
use anyhow::{bail, Context};
use sandbar_server::model::OrganizationQuota;
use sandbar_server::store::{SqliteStore, Store};
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, command: QuotaCommand) -> anyhow::Result<ExitCode> {
    let path = global.data_dir.join("sandbar.db");
    if !path.exists() {
        bail!("no database at {}: start `sandbar serve` with this --data-dir once first", path.display());
    }
    let store = SqliteStore::open(&path).with_context(|| format!("while opening {}", path.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(manage(&store, command))
}

async fn manage(store: &dyn Store, command: QuotaCommand) -> anyhow::Result<ExitCode> {
    let org_named = |name: &str| {
        let name = name.to_string();
        async move {
            match store.find_organization(&name).await? {
                Some(org) => Ok(org),
                None => bail!("no organization named {name:?}: `sandbar keys create --org {name}` makes one"),
            }
        }
    };
    match command {
        QuotaCommand::Show { org } => {
            let org = org_named(&org).await?;
            let quota = store.organization_quota(&org.id).await?;
            print(&org.name, &quota, &store.usage_rows(Some(&org.id)).await?);
        }
        QuotaCommand::Set {
            org,
            max_sandboxes,
            total_cpu,
            total_memory,
            total_disk,
            max_cpu_per_sandbox,
            max_memory_per_sandbox,
            max_disk_per_sandbox,
        } => {
            let org = org_named(&org).await?;
            let old = store.organization_quota(&org.id).await?;
            let pick = |given: Option<Limit>, old: Option<i64>| given.map_or(old, |limit| limit.0);
            let quota = OrganizationQuota {
                max_sandboxes: pick(max_sandboxes, old.max_sandboxes),
                total_cpu: pick(total_cpu, old.total_cpu),
                total_memory: pick(total_memory, old.total_memory),
                total_disk: pick(total_disk, old.total_disk),
                max_cpu_per_sandbox: pick(max_cpu_per_sandbox, old.max_cpu_per_sandbox),
                max_memory_per_sandbox: pick(max_memory_per_sandbox, old.max_memory_per_sandbox),
                max_disk_per_sandbox: pick(max_disk_per_sandbox, old.max_disk_per_sandbox),
            };
            store.set_organization_quota(&org.id, &quota).await?;
            print(&org.name, &quota, &store.usage_rows(Some(&org.id)).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print(org: &str, quota: &OrganizationQuota, rows: &[sandbar_server::model::UsageRow]) {
    let used = sandbar_server::service::usage_of(rows);
    let show = |limit: Option<i64>| limit.map_or("none".to_string(), |n| n.to_string());
    println!("organization {org}");
    println!("{:<24} {:>8} {:>8}", "quota", "limit", "in use");
    println!("{:<24} {:>8} {:>8}", "sandboxes", show(quota.max_sandboxes), used.sandboxes);
    println!("{:<24} {:>8} {:>8}", "total cpu (cores)", show(quota.total_cpu), used.cpu);
    println!("{:<24} {:>8} {:>8}", "total memory (GiB)", show(quota.total_memory), used.memory);
    println!("{:<24} {:>8} {:>8}", "total disk (GiB)", show(quota.total_disk), used.disk);
    println!("{:<24} {:>8}", "cpu per sandbox", show(quota.max_cpu_per_sandbox));
    println!("{:<24} {:>8}", "memory per sandbox", show(quota.max_memory_per_sandbox));
    println!("{:<24} {:>8}", "disk per sandbox", show(quota.max_disk_per_sandbox));
}
