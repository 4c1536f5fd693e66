//! The WebSocket bridge of a PTY session: output goes to the client as binary frames, control
//! messages as text JSON (G13), keystrokes (binary or text frames) go to the terminal, and the
//! close code says how the shell ended (G14).

use super::session::{PtyEvent, PtySession};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderMap;
use sandbar_api::toolbox::pty::{PtyControl, PtyExit, PtyStatus};
use std::sync::Arc;

/// The subprotocol with which a client asks for the `exited` control message.
pub(crate) const EXIT_CONTROL: &str = "X-Daytona-Pty-Exit-Control";
/// The subprotocol prefix that carries `create-connect`'s envs (base64url JSON).
pub(crate) const ENVS_PREFIX: &str = "X-Daytona-Pty-Envs~";

/// The subprotocols a client offered.
pub(crate) fn protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// One attached client: backlog first, then live output; its keystrokes go to the terminal.
pub(crate) async fn attach(mut socket: WebSocket, session: Arc<PtySession>, exit_control: bool) {
    if socket.send(control(PtyStatus::Connected)).await.is_err() {
        return;
    }
    let (backlog, mut attached) = session.attach();
    if !backlog.is_empty() && socket.send(Message::Binary(backlog.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = attached.next() => match event {
                Some(PtyEvent::Output(chunk)) => if socket.send(Message::Binary(chunk.into())).await.is_err() { return },
                Some(PtyEvent::Exited(code)) => {
                    finish(socket, code, exit_control).await;
                    return;
                }
                None => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(bytes))) => session.write_input(&bytes),
                Some(Ok(Message::Text(text))) => session.write_input(text.as_bytes()),
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Tells the client how the shell ended: an `exited` control message (with the exit-control
/// subprotocol), then close 1000 for exit 0 or 1011 with the exit code as JSON (G14).
async fn finish(mut socket: WebSocket, code: i32, exit_control: bool) {
    let reason = exit_reason(code);
    if exit_control {
        let _ = socket.send(control(PtyStatus::Exited { exit_code: code, exit_reason: reason.clone() })).await;
    }
    let frame = if code == 0 {
        CloseFrame { code: 1000, reason: "".into() }
    } else {
        let body = PtyExit { exit_code: code, exit_reason: reason };
        CloseFrame { code: 1011, reason: to_text(&body).into() }
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The daemon's words for an exit code (none for 0).
fn exit_reason(code: i32) -> Option<String> {
    match code {
        0 => None,
        130 => Some("Ctrl+C".to_string()),
        137 => Some("SIGKILL".to_string()),
        143 => Some("SIGTERM".to_string()),
        n if n > 128 => Some(format!("signal {}", n - 128)),
        _ => Some("non-zero exit".to_string()),
    }
}

/// A control message as a text frame (G13).
fn control(status: PtyStatus) -> Message {
    Message::Text(to_text(&PtyControl::new(status)).into())
}

/// JSON text of a wire type (these serialise infallibly: plain strings and numbers).
fn to_text<T: serde::Serialize>(body: &T) -> String {
    serde_json::to_string(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_as_the_daemon_words_them() {
        assert_eq!(exit_reason(0), None);
        assert_eq!(exit_reason(1).as_deref(), Some("non-zero exit"));
        assert_eq!(exit_reason(130).as_deref(), Some("Ctrl+C"));
        assert_eq!(exit_reason(137).as_deref(), Some("SIGKILL"));
        assert_eq!(exit_reason(143).as_deref(), Some("SIGTERM"));
        assert_eq!(exit_reason(129).as_deref(), Some("signal 1"));
    }

    #[test]
    fn offered_subprotocols_are_split_and_trimmed() {
        let mut headers = HeaderMap::new();
        headers.append(axum::http::header::SEC_WEBSOCKET_PROTOCOL, "a, X-Daytona-Pty-Exit-Control".parse().unwrap());
        headers.append(axum::http::header::SEC_WEBSOCKET_PROTOCOL, " b ,,".parse().unwrap());
        assert_eq!(protocols(&headers), ["a", EXIT_CONTROL, "b"]);
    }
}
