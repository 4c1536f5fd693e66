//! Builds the default image with debootstrap: Debian bookworm plus the tools Daytona's default
//! sandbox has, and a `daytona` user (uid 1000, passwordless sudo).
//!
//! The build runs in `tmp/`; only a finished, cleaned tree becomes a layer. Any failure removes
//! the attempt and reports the step plus the failing command's last lines.

use super::{remove_tree, ImageManifest, ImageStore};
use crate::Error;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Name of the image every sandbox gets unless it asks for another.
pub const DEFAULT_IMAGE: &str = "default";

/// Bumped whenever the recipe below changes, so stores rebuild the image.
pub(crate) const RECIPE_VERSION: u32 = 3;

const SUITE: &str = "bookworm";
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Packages on top of debootstrap's minbase; apt resolves their dependencies.
const PACKAGES: &[&str] = &[
    "python3",
    "python3-pip",
    "python3-venv",
    "git",
    "curl",
    "ca-certificates",
    "procps",
    "iproute2",
    "sudo",
    "less",
    "nano",
    "openssh-sftp-server",
    "rsync",
    "nodejs",
    "npm",
    // code-run of TypeScript: transpiled with the compiler's API.
    "node-typescript",
];

/// Python packages installed with pip (Debian's python3-matplotlib drags in scipy, sympy and a
/// C++ toolchain through python3-fonttools: a gigabyte instead of about a hundred megabytes).
/// Pinned, so every machine builds the same image. matplotlib makes code-run charts work.
const PIP_PACKAGES: &[&str] = &["matplotlib==3.9.4", "numpy==2.2.6"];

/// Receives progress of a long image build, one line at a time.
pub trait BuildProgress {
    /// A step starts (`"debootstrap: downloading and unpacking the base system"`).
    fn step(&mut self, step: &str);
    /// A line of output from the running step.
    fn line(&mut self, line: &str);
}

/// Progress that goes to `tracing` (info for steps, debug for lines).
impl BuildProgress for () {
    fn step(&mut self, step: &str) {
        tracing::info!(step, "building default image");
    }
    fn line(&mut self, line: &str) {
        tracing::debug!(line, "building default image");
    }
}

pub(crate) fn build_default(
    store: &ImageStore,
    mirror: &str,
    progress: &mut dyn BuildProgress,
) -> Result<ImageManifest, Error> {
    let scratch = store.scratch_dir("build-default")?;
    let result = build_in(store, &scratch, mirror, progress);
    // Whatever happened, the scratch directory goes: a finished rootfs was moved out of it.
    let cleanup = remove_tree(&scratch);
    let manifest = result?;
    cleanup?;
    Ok(manifest)
}

fn build_in(
    store: &ImageStore,
    scratch: &Path,
    mirror: &str,
    progress: &mut dyn BuildProgress,
) -> Result<ImageManifest, Error> {
    let rootfs = scratch.join("rootfs");
    let rootfs_str = rootfs.to_string_lossy().to_string();
    let fail = |step: &str, tail: String| Error::ImageBuild {
        name: DEFAULT_IMAGE.into(),
        step: step.into(),
        output_tail: tail,
    };

    crate::host_tools::ensure("debootstrap", "debootstrap", progress)
        .map_err(|tail| fail("installing debootstrap with apt-get (install it by hand on non-Debian hosts)", tail))?;
    progress.step(&format!("debootstrap {SUITE} (minbase) from {mirror}"));
    run(Command::new("debootstrap").args(["--variant=minbase", SUITE, &rootfs_str, mirror]), progress)
        .map_err(|tail| fail("running debootstrap (is the debootstrap package installed?)", tail))?;

    // No service may start inside the build chroot.
    std::fs::write(rootfs.join("usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n")
        .and_then(|()| set_mode(&rootfs.join("usr/sbin/policy-rc.d"), 0o755))
        .map_err(Error::image("write policy-rc.d"))?;

    progress.step(&format!("apt-get install {}", PACKAGES.join(" ")));
    let install = format!(
        "apt-get update -q && apt-get install -y -q --no-install-recommends {} && apt-get clean",
        PACKAGES.join(" ")
    );
    run_in_chroot(&rootfs, &install, progress).map_err(|tail| fail("installing packages with apt-get", tail))?;

    progress.step(&format!("pip install {}", PIP_PACKAGES.join(" ")));
    // pip trusts what the host trusts (a TLS-inspecting proxy's CA included) and uses the host's
    // package index when one is configured.
    let host_ca = Path::new("/etc/ssl/certs/ca-certificates.crt");
    let chroot_ca = rootfs.join("tmp/sandbar-host-ca.crt");
    let mut pip = String::from(
        "pip3 install --no-cache-dir --break-system-packages --root-user-action=ignore --no-warn-script-location",
    );
    if std::fs::copy(host_ca, &chroot_ca).is_ok() {
        pip.push_str(" --cert /tmp/sandbar-host-ca.crt");
    }
    if let Ok(index) = std::env::var("PIP_INDEX_URL") {
        pip.push_str(&format!(" --index-url '{}'", index.replace('\'', "")));
    }
    pip.push(' ');
    pip.push_str(&PIP_PACKAGES.join(" "));
    let installed = run_in_chroot(&rootfs, &pip, progress);
    let _ = std::fs::remove_file(&chroot_ca);
    installed.map_err(|tail| fail("installing Python packages with pip", tail))?;

    progress.step("adding user daytona (uid 1000, passwordless sudo)");
    run_in_chroot(&rootfs, "useradd --create-home --uid 1000 --user-group --shell /bin/bash daytona", progress)
        .map_err(|tail| fail("adding user daytona", tail))?;
    let sudoers = rootfs.join("etc/sudoers.d/90-daytona");
    std::fs::write(&sudoers, "daytona ALL=(ALL) NOPASSWD:ALL\n")
        .and_then(|()| set_mode(&sudoers, 0o440))
        .map_err(Error::image(format!("write {}", sudoers.display())))?;

    progress.step("trimming caches and package lists");
    for leftover in ["usr/sbin/policy-rc.d", "var/lib/apt/lists", "var/cache/apt", "var/log/apt", "var/log/dpkg.log"] {
        remove_tree(&rootfs.join(leftover))?;
    }
    for dir in ["var/lib/apt/lists/partial", "var/cache/apt/archives/partial"] {
        std::fs::create_dir_all(rootfs.join(dir)).map_err(Error::image(format!("create {dir}")))?;
    }

    progress.step("hashing the tree into a content-addressed layer");
    let digest = store.add_layer(&rootfs)?;
    let manifest = ImageManifest {
        name: DEFAULT_IMAGE.to_string(),
        layers: vec![digest],
        env: vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "LANG=C.UTF-8".to_string(),
        ],
        user: "daytona".to_string(),
        workdir: "/home/daytona".to_string(),
        recipe: RECIPE_VERSION,
    };
    store.put_manifest(&manifest)?;
    progress.step("default image ready");
    Ok(manifest)
}

/// The Debian mirror: `SANDBAR_DEBIAN_MIRROR`, else the host's apt source for Debian, else deb.debian.org.
pub(crate) fn mirror() -> String {
    if let Ok(mirror) = std::env::var(crate::env::DEBIAN_MIRROR) {
        return mirror;
    }
    let mut sources = vec![std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for entry in entries.flatten() {
            sources.push(std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    sources
        .iter()
        .flat_map(|text| text.split_whitespace())
        .find(|word| word.starts_with("http") && word.trim_end_matches('/').ends_with("/debian"))
        .map(|word| word.trim_end_matches('/').to_string())
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string())
}

/// Runs `script` chrooted into `rootfs`, with `/proc` mounted in a private mount namespace that
/// disappears with the command, so a failure cannot leave a mount behind.
fn run_in_chroot(rootfs: &Path, script: &str, progress: &mut dyn BuildProgress) -> Result<(), String> {
    let root = rootfs.to_string_lossy();
    let wrapper = concat!(
        "mount -t proc proc \"$0/proc\" && exec chroot \"$0\" /usr/bin/env -i DEBIAN_FRONTEND=noninteractive ",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/sh -c \"$1\""
    );
    run(
        Command::new("unshare").args(["--mount", "--propagation", "private", "/bin/sh", "-c", wrapper, &root, script]),
        progress,
    )
}

/// Runs a command, streaming its merged output to `progress`; on failure returns its last lines.
pub(crate) fn run(command: &mut Command, progress: &mut dyn BuildProgress) -> Result<(), String> {
    let (reader, writer) = std::io::pipe().map_err(|e| format!("create pipe: {e}"))?;
    let writer_clone = writer.try_clone().map_err(|e| format!("clone pipe: {e}"))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_clone)
        .spawn()
        .map_err(|e| format!("start {:?}: {e}", command.get_program()))?;
    // The command's handles must close on our side, or reading never sees EOF.
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let mut tail: VecDeque<String> = VecDeque::new();
    for line in BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        progress.line(&line);
        if tail.len() == 20 {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let status = child.wait().map_err(|e| format!("wait for {:?}: {e}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        tail.push_back(format!("({:?} exited with {status})", command.get_program()));
        Err(Vec::from(tail).join("\n"))
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
