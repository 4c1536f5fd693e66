//! Control-plane tests that need no root: the real router, service and store over a fake node
//! (`sandbar_server::node::fake`), driven without a socket. `scripts/test quick` runs them.

mod activity;
mod common;
mod errors;
mod faults;
mod lists;
mod network;
mod openapi;
mod quotas;
mod reaper;
mod socketio;
#[path = "../support/mod.rs"]
mod support;
