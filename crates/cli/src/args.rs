//! Every command-line flag, as clap derive structs. No behaviour lives here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Self-hosted sandboxes that speak Daytona's API.
#[derive(Debug, Parser)]
#[command(name = "sandbar", version)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory for sandbox state.
    #[arg(long, global = true, env = "SANDBAR_DATA_DIR", default_value = "/var/lib/sandbar")]
    pub data_dir: PathBuf,
    /// Directory of the image store, shared by every data directory on this machine.
    #[arg(long, global = true, env = "SANDBAR_IMAGE_CACHE", default_value = "/var/cache/sandbar")]
    pub image_cache: PathBuf,
    /// More log output (-v debug, -vv trace). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Daytona's API (control plane at /api) on this machine.
    Serve(ServeArgs),
    /// Manage API keys in the local database.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show or set an organization's quotas in the local database (works while the server runs).
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Run one command in a fresh sandbox, then delete the sandbox.
    Run(RunArgs),
    /// Manage the local image store.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Measure sandbox start, exec and memory costs beside runc.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: std::net::SocketAddr,
    /// Domain for preview URLs.
    #[arg(long, default_value = "localhost")]
    pub domain: String,
    /// Admin API key; generated and stored in the data directory when unset.
    #[arg(long, env = "SANDBAR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Requests per second allowed per API key (bursts of twice that); more get 429.
    #[arg(long, default_value_t = 200)]
    pub rate_limit: u32,
    /// Seconds between passes of the reaper that enforces auto-stop and auto-delete.
    #[arg(long, default_value_t = 30)]
    pub reaper_seconds: u64,
    /// Where sandbox files go, so that each sandbox's disk limit holds: a btrfs image
    /// (`<data-dir>/disk.img`, sparse, loop-mounted) of this size (e.g. `64G`); `auto` makes one
    /// of half the free space on first start (an image made before keeps its size); `off` puts
    /// sandbox files on the host's file system with no disk limits.
    #[arg(long, env = "SANDBAR_DISK_SIZE", default_value = "auto", value_parser = parse_disk)]
    pub disk_size: sandbar_server::DiskChoice,
    /// Open HTTP connections at most, all clients together; more are answered 503 and closed.
    #[arg(long, default_value_t = 8192)]
    pub max_connections: usize,
    /// Open HTTP connections at most from one client address.
    #[arg(long, default_value_t = 1024)]
    pub max_connections_per_client: usize,
    /// Seconds a connection may take to send a request's headers, and may stay idle between
    /// requests, before it is closed.
    #[arg(long, default_value_t = 15)]
    pub header_timeout_seconds: u64,
    /// Cores of running sandboxes admitted per host cpu (limits are ceilings; cpu is shared).
    #[arg(long, default_value_t = 16.0, value_parser = parse_ratio)]
    pub cpu_overcommit: f64,
    /// Memory limits of running sandboxes admitted per byte the host gives sandboxes (all of
    /// them together never use more than that: the runtime's parent cgroup bounds them).
    #[arg(long, default_value_t = 2.0, value_parser = parse_ratio)]
    pub memory_overcommit: f64,
    /// Disk limits of sandboxes admitted per byte of the data disk (limits are ceilings, and
    /// sandboxes use a fraction of theirs; a full data disk refuses writes in every sandbox, so
    /// per-organization `total_disk` quotas are what keeps tenants apart).
    #[arg(long, default_value_t = 16.0, value_parser = parse_ratio)]
    pub disk_overcommit: f64,
    /// Sandbox networking: `nat` gives each sandbox its own address, NAT to the outside and
    /// nothing of the host; `none` gives sandboxes loopback only.
    #[arg(long, env = "SANDBAR_NETWORK", default_value = "nat", value_parser = ["nat", "none"])]
    pub network: String,
    /// The private range sandbox addresses come from (its first address is the sandboxes'
    /// gateway and resolver); it must not overlap a network the host routes.
    #[arg(long, env = "SANDBAR_NETWORK_RANGE", default_value = sandbar_runtime::DEFAULT_NETWORK_RANGE, value_parser = parse_net)]
    pub network_range: ipnet::Ipv4Net,
    /// A private or host network sandboxes may reach after all (repeatable), e.g. a package
    /// mirror on the LAN: 192.168.1.10/32.
    #[arg(long = "network-allow", value_parser = parse_net)]
    pub network_allow: Vec<ipnet::Ipv4Net>,
    /// Where the sandboxes' resolver forwards queries, as ip:port (repeatable); default: the
    /// host's own resolvers from /etc/resolv.conf.
    #[arg(long = "dns-upstream")]
    pub dns_upstream: Vec<std::net::SocketAddr>,
}

/// An IPv4 network like `10.213.0.0/16`.
fn parse_net(text: &str) -> Result<ipnet::Ipv4Net, String> {
    text.trim().parse().map_err(|_| format!("{text:?} is not an IPv4 network like 10.213.0.0/16"))
}

/// A ratio above zero, like `1.5`.
fn parse_ratio(text: &str) -> Result<f64, String> {
    let ratio: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number like 1.5"))?;
    if ratio.is_finite() && ratio > 0.0 {
        Ok(ratio)
    } else {
        Err(format!("{text:?} must be a number above 0"))
    }
}

/// `auto`, `off` or a size.
fn parse_disk(text: &str) -> Result<sandbar_server::DiskChoice, String> {
    match text.trim() {
        "auto" => Ok(sandbar_server::DiskChoice::Auto),
        "off" => Ok(sandbar_server::DiskChoice::Off),
        size => parse_size(size).map(sandbar_server::DiskChoice::Size),
    }
}

/// `64G`, `512M`, `1T` or a number of bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a size like 64G"))?;
    let shift = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?}: use K, M, G or T")),
    };
    number.checked_shl(shift).filter(|bytes| *bytes >= 1 << 30).ok_or_else(|| format!("{text:?} must be at least 1G"))
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it (once).
    Create {
        /// Organization the key belongs to (created if new).
        #[arg(long, default_value = "default")]
        org: String,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by id or prefix.
    Revoke {
        /// Key id or the prefix shown by `keys list`.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Print an organization's quotas and what its sandboxes hold now.
    Show {
        /// The organization.
        #[arg(long, default_value = "default")]
        org: String,
    },
    /// Change some of an organization's quotas (the others stay); `none` lifts one.
    Set {
        /// The organization (it must exist: `keys create --org` makes it).
        #[arg(long, default_value = "default")]
        org: String,
        /// Sandboxes that are not deleted, whatever their state.
        #[arg(long, value_parser = parse_limit)]
        max_sandboxes: Option<Limit>,
        /// Cores of the running sandboxes together.
        #[arg(long, value_parser = parse_limit)]
        total_cpu: Option<Limit>,
        /// GiB of memory of the running sandboxes together.
        #[arg(long, value_parser = parse_limit)]
        total_memory: Option<Limit>,
        /// GiB of disk of the sandboxes that are not archived, together.
        #[arg(long, value_parser = parse_limit)]
        total_disk: Option<Limit>,
        /// Cores of one sandbox.
        #[arg(long, value_parser = parse_limit)]
        max_cpu_per_sandbox: Option<Limit>,
        /// GiB of memory of one sandbox.
        #[arg(long, value_parser = parse_limit)]
        max_memory_per_sandbox: Option<Limit>,
        /// GiB of disk of one sandbox.
        #[arg(long, value_parser = parse_limit)]
        max_disk_per_sandbox: Option<Limit>,
    },
}

/// A quota value: a bound, or `none` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<i64>);

fn parse_limit(text: &str) -> Result<Limit, String> {
    match text.trim() {
        "none" => Ok(Limit(None)),
        number => match number.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Limit(Some(n))),
            _ => Err(format!("{text:?} is not a whole number of 0 or more, or `none`")),
        },
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Image to start from.
    #[arg(long, default_value = "default")]
    pub image: String,
    /// OS user inside the sandbox (default: the image's, `daytona` for the default image).
    #[arg(long, short)]
    pub user: Option<String>,
    /// Working directory inside the sandbox.
    #[arg(long, short = 'w')]
    pub workdir: Option<String>,
    /// Environment variable, KEY=VALUE (repeatable).
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Bind a host path: HOST:TARGET[:ro] (repeatable).
    #[arg(long = "volume", value_name = "HOST:TARGET[:ro]")]
    pub volumes: Vec<String>,
    /// Memory limit in MiB.
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// CPU limit in cores (e.g. 0.5).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Process limit.
    #[arg(long)]
    pub pids: Option<u64>,
    /// Program and arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the default image now (it is otherwise built on first use).
    Build,
    /// List images in the store.
    List,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Measured iterations per latency benchmark.
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// Warm-up iterations, not measured.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Idle sandboxes for the memory benchmark.
    #[arg(long, default_value_t = 200)]
    pub sandboxes: usize,
    /// Run on a btrfs data disk of this size (as `serve --disk-size`): disk limits, and subvolume
    /// snapshots for snapshot and fork.
    #[arg(long, value_parser = parse_size)]
    pub disk_size: Option<u64>,
    /// Iterations of the stateful operations on 100 MB of changes (each copies or packs it).
    #[arg(long, default_value_t = 5)]
    pub heavy_iterations: usize,
    /// Iterations of the runc comparison (runc is slow).
    #[arg(long, default_value_t = 50)]
    pub runc_iterations: usize,
    /// Heap the process holds for the big-server start comparison, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub heap_mib: usize,
    /// Run only the big-server start comparison (fresh process against a big heap).
    #[arg(long)]
    pub heap_only: bool,
    /// Run only the networking benchmarks.
    #[arg(long)]
    pub net_only: bool,
    /// Idle networked (and as many loopback-only) sandboxes for the networking memory benchmark.
    #[arg(long, default_value_t = 500)]
    pub net_sandboxes: usize,
    /// Write results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("2048MiB"), Ok(2048 << 20));
        assert_eq!(parse_size("1099511627776"), Ok(1 << 40));
        assert!(parse_size("10M").is_err(), "below 1G");
        assert!(parse_size("5X").is_err());
    }

    #[test]
    fn arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_keeps_hyphenated_program_arguments() {
        let cli = Cli::try_parse_from(["sandbar", "run", "--memory-mib", "64", "--", "ls", "-la"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("parsed {:?}", cli.command) };
        assert_eq!(run.memory_mib, Some(64));
        assert_eq!(run.command, ["ls", "-la"]);
    }
}
