//! `sandbar keys create|list|revoke`: API keys in the local database (works while the server runs).

use crate::args::{GlobalArgs, KeysCommand};
use anyhow::{bail, Context};
use sandbar_server::model::ApiKey;
use sandbar_server::store::{SqliteStore, Store};
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, command: KeysCommand) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&global.data_dir)?;
    let path = global.data_dir.join("sandbar.db");
    let store = SqliteStore::open(&path).with_context(|| format!("while opening {}", path.display()))?;
    // The store's methods are async (a networked backend awaits its pool); SQLite's finish
    // inline, so a current-thread runtime is enough.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(manage(&store, command))
}

async fn manage(store: &dyn Store, command: KeysCommand) -> anyhow::Result<ExitCode> {
    let now = sandbar_server::clock::iso(time::OffsetDateTime::now_utc());
    match command {
        KeysCommand::Create { org, name } => {
            let organization = store.ensure_organization(&org, &now).await?;
            let key = sandbar_server::http::new_key();
            let record = ApiKey {
                id: uuid::Uuid::new_v4().to_string(),
                organization_id: organization.id.clone(),
                name,
                prefix: key.chars().take(12).collect(),
                created_at: now,
                revoked_at: None,
            };
            store.insert_api_key(&record, &sandbar_server::http::hash_key(&key)).await?;
            eprintln!(
                "created key {} for organization {} ({}); it is shown only once:",
                record.id, org, organization.id
            );
            println!("{key}");
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<12}  {:<16}  {:<10}  {:<24}  revoked",
                "id", "prefix", "organization", "name", "created"
            );
            for (key, org) in store.list_api_keys().await? {
                println!(
                    "{:<36}  {:<12}  {:<16}  {:<10}  {:<24}  {}",
                    key.id,
                    key.prefix,
                    org,
                    key.name,
                    key.created_at,
                    key.revoked_at.as_deref().unwrap_or("-")
                );
            }
        }
        KeysCommand::Revoke { key } => match store.revoke_api_key(&key, &now).await? {
            0 => bail!("no live key has id or prefix {key:?}"),
            1 => println!("revoked key {key}"),
            n => bail!("{n} live keys match {key:?}; nothing revoked: give the key's id"),
        },
    }
    Ok(ExitCode::SUCCESS)
}
