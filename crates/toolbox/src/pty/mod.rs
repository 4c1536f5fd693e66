//! PTY sessions (`shared/daytona-wire.md` §4.4): an interactive login shell on a terminal inside
//! the sandbox, attached over WebSockets by any number of clients at once.
//!
//! The shell starts when the session is created; everything it prints is kept in a bounded
//! backlog, so output written before the first client connects is not lost, and every client
//! that attaches later sees it too. Output goes to clients as binary frames, control messages as
//! text JSON (G13); the close code says how the shell ended (G14).
//!
//! Layout: `session.rs` (the session, its backlog and attachments; no transport), `ws.rs` (the
//! WebSocket bridge), `routes.rs` (HTTP).

pub(crate) mod routes;
mod session;
mod ws;

pub use session::Ptys;
