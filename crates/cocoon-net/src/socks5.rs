//! A minimal SOCKS5 (RFC 1928) CONNECT client, as used to reach a proxy
//! through the local router (`connect_to_proxy_via`).
//!
//! Only the no-authentication method is offered (greeting `05 01 00`), the
//! target is an IP address (IPv4 as `05 01 00 01 a b c d PH PL`, IPv6 with
//! address type 4), and the whole exchange, TCP connect included, must finish
//! within [`SOCKS5_TIMEOUT`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::NetError;

/// Deadline for reaching the target through the SOCKS5 server (reference:
/// 10 s, "Connection timeout expired").
pub const SOCKS5_TIMEOUT: Duration = Duration::from_secs(10);

const VERSION: u8 = 5;
const METHOD_NO_AUTH: u8 = 0;
const CMD_CONNECT: u8 = 1;
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;

/// Connects to `proxy_addr` (a SOCKS5 server) and asks it to connect to
/// `target`. Returns the stream, positioned right after the SOCKS5 reply.
pub async fn connect(proxy_addr: SocketAddr, target: SocketAddr) -> Result<TcpStream, NetError> {
    let attempt = async {
        let mut stream = TcpStream::connect(proxy_addr).await?;
        stream.set_nodelay(true)?;
        negotiate(&mut stream, target).await?;
        Ok::<_, NetError>(stream)
    };
    tokio::time::timeout(SOCKS5_TIMEOUT, attempt)
        .await
        .map_err(|_| NetError::Socks5Timeout(SOCKS5_TIMEOUT))?
}

/// Runs the SOCKS5 greeting and CONNECT request over an already open
/// stream (no deadline of its own).
pub async fn negotiate<S>(stream: &mut S, target: SocketAddr) -> Result<(), NetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&[VERSION, 1, METHOD_NO_AUTH]).await?;
    stream.flush().await?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await?;
    if choice[0] != VERSION {
        return Err(NetError::Socks5(format!(
            "unsupported socks protocol version {}",
            choice[0]
        )));
    }
    if choice[1] != METHOD_NO_AUTH {
        return Err(NetError::Socks5(format!(
            "server wants authentication method {:#04x}, only 'no authentication' is offered",
            choice[1]
        )));
    }

    stream.write_all(&connect_request(target)).await?;
    stream.flush().await?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    let [version, reply, reserved, address_type] = head;
    if version != VERSION {
        return Err(NetError::Socks5(format!("invalid reply version {version}")));
    }
    if reply != 0 {
        return Err(NetError::Socks5(format!(
            "server refused the connection: {} (code {reply})",
            reply_text(reply)
        )));
    }
    if reserved != 0 {
        return Err(NetError::Socks5("reserved reply byte is not zero".into()));
    }
    // Skip the bound address and port; the runner does not use them.
    let address_len = match address_type {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await?;
            usize::from(len[0])
        }
        other => {
            return Err(NetError::Socks5(format!(
                "unknown address type {other} in reply"
            )))
        }
    };
    let mut bound = [0u8; 255 + 2];
    let bound = bound
        .get_mut(..address_len + 2)
        .ok_or_else(|| NetError::Socks5("bound address too long".into()))?;
    stream.read_exact(bound).await?;
    Ok(())
}

/// The CONNECT request for `target`.
fn connect_request(target: SocketAddr) -> Vec<u8> {
    let mut request = vec![VERSION, CMD_CONNECT, 0];
    match target.ip() {
        IpAddr::V4(ip) => {
            request.push(ATYP_IPV4);
            request.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            request.push(ATYP_IPV6);
            request.extend_from_slice(&ip.octets());
        }
    }
    request.extend_from_slice(&target.port().to_be_bytes());
    request
}

fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_connect_request_bytes() {
        let target: SocketAddr = "10.1.2.3:8443".parse().unwrap();
        assert_eq!(
            connect_request(target),
            [5, 1, 0, 1, 10, 1, 2, 3, 0x20, 0xfb]
        );
    }

    #[test]
    fn ipv6_connect_request_uses_address_type_4() {
        let target: SocketAddr = "[::1]:80".parse().unwrap();
        let request = connect_request(target);
        assert_eq!(request[..4], [5, 1, 0, 4]);
        assert_eq!(request.len(), 4 + 16 + 2);
        assert_eq!(request[20..], [0, 80]);
    }
}
