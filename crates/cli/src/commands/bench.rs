//! `sandbar bench`: filled in below.

use crate::args::{BenchArgs, GlobalArgs};
use std::process::ExitCode;

pub fn run(_global: &GlobalArgs, _args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("bench is being written")
}
