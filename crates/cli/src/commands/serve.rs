//! `sandbar serve`: resolves settings and runs the server until SIGTERM or Ctrl-C.

use crate::args::{GlobalArgs, ServeArgs};
use crate::progress::TerminalProgress;
use sandbar_server::listen::ConnectionLimits;
use sandbar_server::service::Overcommit;
use sandbar_server::{ServerSettings, Serving};
use std::process::ExitCode;
use std::time::Duration;

pub fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = ServerSettings {
        listen: args.listen,
        data_dir: global.data_dir.clone(),
        image_cache: global.image_cache.clone(),
        domain: args.domain,
        api_key: args.api_key,
        rate_limit_per_second: args.rate_limit.max(1),
        reaper_period: Duration::from_secs(args.reaper_seconds.max(1)),
        disk: args.disk_size,
        connections: ConnectionLimits {
            max_connections: args.max_connections.max(1),
            max_per_client: args.max_connections_per_client.max(1),
            header_read_timeout: Duration::from_secs(args.header_timeout_seconds.max(1)),
            ..ConnectionLimits::default()
        },
        overcommit: Overcommit { cpu: args.cpu_overcommit, memory: args.memory_overcommit, disk: args.disk_overcommit },
        network: (args.network == "nat").then(|| sandbar_runtime::NetConfig {
            range: args.network_range,
            allow_networks: args.network_allow,
            dns_upstream: args.dns_upstream,
            ..sandbar_runtime::NetConfig::default()
        }),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        sandbar_server::serve(settings, Box::new(TerminalProgress::new()), announce, shutdown_signal())
            .await
            .map_err(|e| anyhow::anyhow!(e))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Tells the user where to point the SDKs (and the admin key, the one time it is generated).
fn announce(serving: Serving) {
    let url = serving.api_url;
    match serving.generated_key {
        Some((key, file)) => eprintln!(
            "Generated an admin API key (stored in {}). Point the Daytona SDKs here with:\n\n  export DAYTONA_API_URL={url} DAYTONA_API_KEY={key}\n",
            file.display()
        ),
        None => eprintln!("Point the Daytona SDKs here with: export DAYTONA_API_URL={url} DAYTONA_API_KEY=<your key>"),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; Ctrl-C still works");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
