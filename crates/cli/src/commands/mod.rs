//! Subcommand dispatch and the setup they share (image store, runtime).

mod bench;
mod bench_heap;
mod bench_net;
mod bench_state;
mod image;
mod keys;
mod quota;
mod run;
mod serve;

use crate::args::{Cli, Command, GlobalArgs};
use crate::progress::TerminalProgress;
use anyhow::Context;
use sandbar_runtime::{ImageManifest, ImageStore, Runtime, RuntimeConfig};
use std::process::ExitCode;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Keys(command) => keys::run(&cli.global, command),
        Command::Quota(command) => quota::run(&cli.global, command),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Image(command) => image::run(&cli.global, command),
        Command::Bench(args) => bench::run(&cli.global, args),
    }
}

/// Opens the image store and makes sure the default image exists, explaining a first build.
pub fn images_with_default(global: &GlobalArgs) -> anyhow::Result<(ImageStore, ImageManifest)> {
    let images = ImageStore::open(&global.image_cache)
        .with_context(|| format!("while opening the image store at {}", global.image_cache.display()))?;
    if let Some(manifest) = images.current_default()? {
        return Ok((images, manifest));
    }
    eprintln!(
        "Building the default image (Debian bookworm with python3, matplotlib, git, nodejs, typescript, sudo and a `daytona` user) \
         into {}.\nThis runs debootstrap and apt once per machine and takes one to two minutes; \
         every later sandbox reuses it.",
        global.image_cache.display()
    );
    let manifest = images.ensure_default(&mut TerminalProgress::new()).context("while building the default image")?;
    Ok((images, manifest))
}

/// A runtime over the data directory.
pub fn runtime(global: &GlobalArgs, images: ImageStore) -> anyhow::Result<Runtime> {
    Runtime::new(RuntimeConfig::new(&global.data_dir, images))
        .with_context(|| format!("while opening the runtime at {}", global.data_dir.display()))
}
