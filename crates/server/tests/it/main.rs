//! Control-plane tests: the real router, store and runtime (as root), driven without a socket.
//! One test binary; modules per area.

mod common;
mod exits;
mod files;
mod fuzz_findings;
mod lifecycle;
mod reaper;
mod restart;
#[path = "../support/mod.rs"]
mod support;
mod toolbox;
mod toolbox_bounds;
mod volumes;
