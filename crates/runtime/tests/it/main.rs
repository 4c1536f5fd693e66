//! Runtime integration tests: real namespaces, overlayfs, cgroups and the real init, as root.
//!
//! One test binary (see CONTRIBUTING.md). Each test gets its own data directory and cgroup
//! parent and removes what it made, also when it fails. The default image comes from the shared
//! image cache (`SANDBAR_IMAGE_CACHE`, default `/var/cache/sandbar`) and is built on first use.

mod common;
mod disk;
mod egress;
mod images;
mod isolation;
mod leaks;
mod lifecycle;
mod limits;
mod net_dns;
mod net_fixture;
mod network;
mod pause;
mod processes;
mod stateful;
