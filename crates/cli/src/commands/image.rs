//! `sandbar image build|list`.

use crate::args::{GlobalArgs, ImageCommand};
use sandbar_runtime::ImageStore;
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, command: ImageCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Build => {
            let (images, manifest) = super::images_with_default(global)?;
            println!("{} ready: layers {} in {}", manifest.name, manifest.layers.join(", "), images.root().display());
        }
        ImageCommand::List => {
            let images = ImageStore::open(&global.image_cache)?;
            for image in images.list()? {
                println!(
                    "{}\tuser={}\tworkdir={}\tlayers={}",
                    image.name,
                    image.user,
                    image.workdir,
                    image.layers.join(",")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
