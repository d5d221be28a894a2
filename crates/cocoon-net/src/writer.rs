//! The writer task: takes encoded `tcp.*` payloads from the session's queues,
//! frames them and writes them to the transport, several frames per write
//! when they are queued together.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use cocoon_wire::frame::FrameEncoder;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::CloseReason;
use crate::shared::{Shared, WriterQueues};

/// Stop adding frames to one write once this many bytes are pending.
const BATCH_BYTES: usize = 256 * 1024;

/// After a local [`close`](crate::Session::close) (or dropping every handle),
/// how long the writer may spend delivering frames queued before the close.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Runs until the session closes.
pub(crate) async fn run_writer<W>(
    mut io: W,
    mut encoder: FrameEncoder,
    mut queues: WriterQueues,
    shared: Arc<Shared>,
) where
    W: AsyncWrite + Unpin,
{
    let mut closed = shared.subscribe_closed();
    let mut batch = BytesMut::new();
    loop {
        if batch.is_empty() {
            let first = tokio::select! {
                biased;
                _ = closed.wait_for(Option::is_some) => break,
                Some(payload) = queues.control.recv() => payload,
                Some(outgoing) = queues.outbound.recv() => outgoing.payload,
                // Both queues closed: impossible while `shared` holds the
                // senders, but stop cleanly if it ever happens.
                else => break,
            };
            encode_into(&mut encoder, &first, &mut batch, &shared);
            fill_batch(&mut encoder, &mut queues, &mut batch, &shared);
        }
        tokio::select! {
            biased;
            _ = closed.wait_for(Option::is_some) => break,
            result = write_batch(&mut io, &mut batch) => {
                if let Err(err) = result {
                    shared.close(CloseReason::Io(err.to_string()));
                    break;
                }
            }
        }
    }
    // Drop the receivers first so senders blocked on a full queue wake up.
    let WriterQueues {
        mut outbound,
        mut control,
    } = queues;
    outbound.close();
    control.close();
    shared.close_outbound_budget();
    if matches!(
        shared.close_reason(),
        Some(CloseReason::Local | CloseReason::Abandoned)
    ) {
        // Deliver what was queued before the close, then shut down the
        // sending direction so the peer sees a clean end of stream.
        let linger = async {
            while let Ok(payload) = control.try_recv() {
                encode_into(&mut encoder, &payload, &mut batch, &shared);
            }
            while let Ok(outgoing) = outbound.try_recv() {
                encode_into(&mut encoder, &outgoing.payload, &mut batch, &shared);
            }
            write_batch(&mut io, &mut batch).await?;
            io.shutdown().await
        };
        if let Ok(Err(err)) = tokio::time::timeout(CLOSE_LINGER, linger).await {
            tracing::debug!(session = shared.id, %err, "write after close failed");
        }
    }
}

/// Adds more already-queued frames to the batch without waiting.
fn fill_batch(
    encoder: &mut FrameEncoder,
    queues: &mut WriterQueues,
    batch: &mut BytesMut,
    shared: &Shared,
) {
    while batch.len() < BATCH_BYTES {
        let next = match queues.control.try_recv() {
            Ok(payload) => payload,
            Err(_) => match queues.outbound.try_recv() {
                Ok(outgoing) => outgoing.payload,
                Err(_) => break,
            },
        };
        encode_into(encoder, &next, batch, shared);
    }
}

fn encode_into(encoder: &mut FrameEncoder, payload: &[u8], batch: &mut BytesMut, shared: &Shared) {
    if let Err(err) = encoder.encode(payload, batch) {
        // Every producer checks the length before queueing; reaching this
        // is a bug in this crate, not something the peer can cause.
        tracing::error!(session = shared.id, %err, "dropping unframeable payload");
    }
}

/// Writes the whole batch and flushes. Cancel-safe: bytes written so far
/// are removed from `batch`, the rest stay.
async fn write_batch<W: AsyncWrite + Unpin>(
    io: &mut W,
    batch: &mut BytesMut,
) -> std::io::Result<()> {
    while !batch.is_empty() {
        let n = io.write_buf(batch).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
    }
    io.flush().await
}
