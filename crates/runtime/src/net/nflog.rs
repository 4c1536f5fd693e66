//! The firewall's reports of denied packets: the deny chain logs them (rate-limited) to an NFLOG
//! group, and this reader turns each into a log line that names the sandbox, its destination
//! and protocol (`target: "sandbar::egress"`).
//!
//! Logging is best effort by design: the kernel drops records when the reader lags, and another
//! process holding the group means no lines. Counting never depends on it (the deny chain counts
//! every packet per address in the table itself).

use super::dns::Clients;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{config_request, ConfigCmd, ConfigMode, ConfigNla, PacketNla, ULogMessage};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{protocols::NETLINK_NETFILTER, AsyncSocket, AsyncSocketExt, TokioSocket};
use std::io;
use std::net::Ipv4Addr;

/// Bytes of each denied packet copied to the reader: the IPv4 header and the ports.
const COPY_BYTES: u32 = 64;

/// A denied packet, from its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denied {
    pub(crate) source: Ipv4Addr,
    pub(crate) destination: Ipv4Addr,
    pub(crate) protocol: &'static str,
    pub(crate) port: Option<u16>,
}

/// Reads IPv4, protocol and destination port from the start of a packet.
pub(crate) fn parse(packet: &[u8]) -> Option<Denied> {
    let (&first, rest) = packet.split_first()?;
    if first >> 4 != 4 || rest.len() < 19 {
        return None;
    }
    let header = usize::from(first & 0x0f) * 4;
    let protocol = match packet[9] {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        _ => "other",
    };
    let port = matches!(packet[9], 6 | 17)
        .then(|| packet.get(header + 2..header + 4))
        .flatten()
        .map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]));
    Some(Denied {
        source: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        destination: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        protocol,
        port,
    })
}

/// Binds NFLOG group `group` (packets copied up to [`COPY_BYTES`]) and checks the kernel's answers.
pub(crate) async fn open(group: u16) -> io::Result<TokioSocket> {
    let mut socket = TokioSocket::new(NETLINK_NETFILTER)?;
    socket.socket_mut().bind_auto()?;
    for nlas in [vec![ConfigNla::Cmd(ConfigCmd::Bind)], vec![ConfigNla::Mode(ConfigMode::new_packet(COPY_BYTES))]] {
        let request = config_request(NetfilterProtoFamily::Unspec, group, nlas);
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        socket.send(&bytes).await?;
        let (reply, _) = socket.recv_from_full().await?;
        let reply = NetlinkMessage::<NetfilterMessage>::deserialize(&reply)
            .map_err(|e| io::Error::other(format!("decode the kernel's answer: {e}")))?;
        if let NetlinkPayload::Error(error) = reply.payload {
            if let Some(code) = error.code {
                return Err(io::Error::from_raw_os_error(-code.get()));
            }
        }
    }
    Ok(socket)
}

/// Logs every record the socket receives, naming the sandbox by its source address. Runs until
/// the socket fails (or the task is dropped with the network runtime).
pub(crate) async fn run(socket: TokioSocket, clients: Clients) {
    loop {
        let buffer = match socket.recv_from_full().await {
            Ok((buffer, _)) => buffer,
            // The kernel dropped records (the reader lagged): say so once, go on.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                tracing::debug!("some denied-packet records were dropped (the reader lagged)");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "stopped reading denied-packet records");
                return;
            }
        };
        let mut offset = 0;
        while offset < buffer.len() {
            let Ok(message) = NetlinkMessage::<NetfilterMessage>::deserialize(&buffer[offset..]) else { break };
            let length = message.header.length as usize;
            if length == 0 {
                break;
            }
            offset += (length + 3) & !3;
            let NetlinkPayload::InnerMessage(inner) = message.payload else { continue };
            let NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)) = inner.inner else { continue };
            let Some(denied) = nlas.iter().find_map(|nla| match nla {
                PacketNla::Payload(packet) => parse(packet),
                _ => None,
            }) else {
                continue;
            };
            let sandbox_id = clients.sandbox_of(denied.source).unwrap_or_else(|| "(unknown)".to_string());
            tracing::info!(
                target: "sandbar::egress",
                sandbox_id = %sandbox_id,
                source = %denied.source,
                destination = %denied.destination,
                protocol = denied.protocol,
                port = denied.port,
                "connection denied"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_names_its_addresses_protocol_and_port() {
        let mut tcp = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 213, 0, 7, 198, 18, 0, 3];
        tcp.extend_from_slice(&[0xc3, 0x50, 0x1f, 0x90]);
        assert_eq!(
            parse(&tcp),
            Some(Denied {
                source: Ipv4Addr::new(10, 213, 0, 7),
                destination: Ipv4Addr::new(198, 18, 0, 3),
                protocol: "tcp",
                port: Some(8080),
            })
        );
        let mut icmp = tcp.clone();
        icmp[9] = 1;
        assert_eq!(parse(&icmp).map(|d| (d.protocol, d.port)), Some(("icmp", None)));
        assert_eq!(parse(&tcp[..19]), None, "too short");
        let mut v6 = tcp;
        v6[0] = 0x60;
        assert_eq!(parse(&v6), None);
    }
}
