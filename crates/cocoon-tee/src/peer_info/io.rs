//! Reading and writing the framed record on a stream (tokio I/O). The reader
//! takes exactly the record's bytes, so the stream is left at the first
//! COCOON frame.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{AttestedPeerInfo, PeerInfoError, MAX_PEER_INFO_LEN};

fn io_error(e: std::io::Error) -> PeerInfoError {
    PeerInfoError::Io(e.to_string())
}

/// Reads one framed record from `stream` within `timeout`. The length is
/// checked before the body is read, so an oversize prefix costs nothing.
pub async fn read_peer_info<S>(
    stream: &mut S,
    timeout: Duration,
) -> Result<AttestedPeerInfo, PeerInfoError>
where
    S: AsyncRead + Unpin,
{
    let read = async {
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).await.map_err(io_error)?;
        let len = u32::from_le_bytes(prefix) as usize;
        if len > MAX_PEER_INFO_LEN {
            return Err(PeerInfoError::TooLong {
                len,
                max: MAX_PEER_INFO_LEN,
            });
        }
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.map_err(io_error)?;
        AttestedPeerInfo::decode(&body)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| PeerInfoError::Timeout(timeout))?
}

/// Writes one framed record (what a router does; used by tests and tools).
pub async fn write_peer_info<S>(
    stream: &mut S,
    info: &AttestedPeerInfo,
) -> Result<(), PeerInfoError>
where
    S: AsyncWrite + Unpin,
{
    let framed = info.encode_framed()?;
    stream.write_all(&framed).await.map_err(io_error)?;
    stream.flush().await.map_err(io_error)
}
