//! Sandbar's sandbox runtime: isolated Linux sandboxes from namespaces, overlayfs layers and
//! cgroups, started by Sandbar itself (no runc, no Docker).
//!
//! A sandbox is a directory under the data directory (its spec, writable layer and control
//! socket) plus, while it runs, one `sandbar-init` process: PID 1 of fresh mount, pid, uts, ipc,
//! cgroup and network namespaces, in its own cgroup, with an overlay root over the image's
//! read-only layers. Every process of the sandbox is started by that init on request.
//!
//! ```no_run
//! use sandbar_runtime::{ExecSpec, ImageStore, Runtime, RuntimeConfig, SandboxId, SandboxSpec};
//! # fn main() -> Result<(), sandbar_runtime::Error> {
//! let images = ImageStore::open("/var/cache/sandbar")?;
//! images.ensure_default(&mut ())?;
//! let runtime = Runtime::new(RuntimeConfig::new("/var/lib/sandbar", images))?;
//! let id = SandboxId::new("demo")?;
//! runtime.create(&id, &SandboxSpec::new("default"))?;
//! runtime.start(&id)?;
//! let output = runtime.exec(&id, &ExecSpec::new(["echo", "hello"]))?.output()?;
//! assert_eq!(output.stdout, b"hello\n");
//! runtime.delete(&id)?;
//! # Ok(()) }
//! ```

pub mod archive;
mod capacity;
mod cgroup;
mod disk;
pub mod env;
mod error;
mod host_tools;
mod image;
mod net;
mod pool;
mod process;
mod runtime;
mod spec;
mod sync;
mod sys;
mod usage;

pub use capacity::{Capacity, HostBounds, HostFacts};
pub use disk::DataDisk;
pub use error::{error_chain, Error};
pub use image::{BuildProgress, ImageManifest, ImageStore, DEFAULT_IMAGE};
pub use net::{NetConfig, DEFAULT_LOG_GROUP, DEFAULT_NETWORK_RANGE};
pub use process::{Collected, Output, Process, Pty};
pub use runtime::{InitExit, InitWatch, Leftovers, NetworkInfo, Recovered, Runtime, RuntimeConfig, SandboxState};
pub use sandbar_init::{ExitStatus, SpawnErrorKind};
pub use spec::{
    validate_env_name, validate_mount_target, BindMount, EgressPolicy, ExecSpec, ExecStdio, Limits, Link, NetworkMode,
    SandboxId, SandboxSpec, DEFAULT_STOP_GRACE,
};
pub use sync::lock;

/// Gives the process's free heap pages back to the kernel (call now and then, off the async
/// threads: with a big heap it takes a few milliseconds). Returns whether anything was released.
pub fn release_free_memory() -> bool {
    sys::release_free_heap()
}
pub use usage::Usage;

#[cfg(test)]
mod tests {
    /// Resident memory of this process, from /proc/self/statm (pages → bytes).
    fn resident_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    #[test]
    fn freed_heap_goes_back_to_the_kernel() {
        // 256 MiB in small blocks (below glibc's mmap threshold, so they live in an arena and
        // stay resident after free), in a thread of its own so it gets an arena of its own.
        let (grown, freed, trimmed) = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..(256 << 20) / 2048).map(|i| vec![i as u8; 2048]).collect();
            let grown = resident_bytes();
            drop(blocks);
            let freed = resident_bytes();
            assert!(super::release_free_memory(), "malloc_trim released nothing");
            (grown, freed, resident_bytes())
        })
        .join()
        .unwrap();
        eprintln!(
            "resident: {} MiB grown, {} MiB after free, {} MiB after release",
            grown >> 20,
            freed >> 20,
            trimmed >> 20
        );
        assert!(trimmed + (128 << 20) < grown, "release gave back too little: {grown} -> {trimmed} bytes");
    }
}
