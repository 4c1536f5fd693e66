//! Builds `sandbar-init` as a static binary and hands its path to the runtime, which embeds it.
//!
//! Init runs inside arbitrary images, after `pivot_root`, so it cannot rely on the image's libc:
//! it must be static. `+crt-static` cannot be set for one binary of a workspace, so this script
//! runs a nested cargo for the init package alone, with its own target directory, and passes
//! `--target` so the static flag never reaches build scripts or proc macros.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.join("../..");
    let init_dir = workspace.join("crates/init");
    println!("cargo:rerun-if-changed={}", init_dir.join("src").display());
    println!("cargo:rerun-if-changed={}", init_dir.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());
    println!("cargo:rerun-if-env-changed=SANDBAR_INIT_TARGET_DIR");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    // Shared across profiles and feature sets of this crate: the init build does not depend on them.
    let target_dir = match std::env::var_os("SANDBAR_INIT_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => out_dir.join("init-target"),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["-p", "sandbar-init", "--bin", "sandbar-init", "--release", "--target", &target])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static -C panic=abort")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort");
    let status = command.status().expect("run cargo to build sandbar-init");
    assert!(status.success(), "building the static sandbar-init failed ({status})");
    let binary = target_dir.join(&target).join("release/sandbar-init");
    assert!(binary.is_file(), "sandbar-init missing at {}", binary.display());
    println!("cargo:rustc-env=SANDBAR_INIT_BINARY={}", binary.display());
}
