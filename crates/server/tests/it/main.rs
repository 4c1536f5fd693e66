//! Control-plane tests: the real router, store and runtime (as root), driven without a socket.
//! One test binary; modules per area.

mod common;
mod errors;
mod files;
mod lifecycle;
mod lists;
mod reaper;
mod restart;
mod toolbox;
mod volumes;
