//! Sandbar's control plane: Daytona's `/api` over the sandbox runtime, with state in SQLite.
//!
//! [`serve`] runs the whole server; [`http::router`] is the API as a router that tests drive
//! without a socket. Handlers (`http/`) call one [`service::ControlPlane`] method each; the
//! control plane plans transitions with [`lifecycle`], keeps state in [`store`] and drives
//! `sandbar_runtime`.

pub mod clock;
pub mod dto;
pub mod events;
pub mod exits;
pub mod http;
pub mod lifecycle;
pub mod listen;
pub mod model;
pub mod node;
pub mod reaper;
pub mod service;
pub mod signing;
pub mod store;

mod serve;

pub use serve::{ensure_admin_key, serve, DiskChoice, ServeError, ServerSettings, Serving};

pub(crate) use sandbar_runtime::error_chain;
