//! The reader task: reads frames, answers pings, routes query answers to
//! their waiters, hands packets and queries to the application, and keeps
//! the idle and ping timers.

use std::sync::Arc;
use std::time::Duration;

use cocoon_wire::frame::FrameDecoder;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use crate::config::Role;
use crate::error::{CloseReason, QueryError};
use crate::inbound::{InboundMessage, IncomingQuery, Queued};
use crate::packet::TcpPacket;
use crate::shared::{ByteBudget, Shared};

/// The application-facing queue: the channel and its byte budget.
pub(crate) struct InboundQueue {
    pub(crate) tx: mpsc::Sender<Queued>,
    pub(crate) budget: ByteBudget,
}

/// Timer settings the reader needs.
pub(crate) struct ReaderTimers {
    pub(crate) idle_timeout: Duration,
    /// `None` for an acceptor that does not ping.
    pub(crate) ping_interval: Option<Duration>,
}

impl ReaderTimers {
    pub(crate) fn new(
        role: Role,
        idle_timeout: Duration,
        ping_interval: Duration,
        acceptor_pings: bool,
    ) -> Self {
        ReaderTimers {
            idle_timeout,
            ping_interval: (role == Role::Dialer || acceptor_pings).then_some(ping_interval),
        }
    }
}

/// What to do after handling one frame.
enum Flow {
    Continue,
    Stop,
}

/// Runs until the session closes. `decoder` may already hold bytes that
/// arrived together with the handshake.
pub(crate) async fn run_reader<R>(
    mut io: R,
    mut decoder: FrameDecoder,
    shared: Arc<Shared>,
    inbound: InboundQueue,
    timers: ReaderTimers,
) where
    R: AsyncRead + Unpin,
{
    let mut closed = shared.subscribe_closed();
    let mut last_received = Instant::now();
    let mut last_ping = last_received;
    let mut ping_sent = false;
    loop {
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Flow::Stop = handle_frame(&frame, &shared, &inbound, &mut closed).await {
                        return;
                    }
                    // Measured after handling, so time spent waiting for a
                    // slow application does not count as peer silence.
                    last_received = Instant::now();
                    ping_sent = false;
                }
                Ok(None) => break,
                Err(err) => {
                    shared.close(CloseReason::Framing(err));
                    return;
                }
            }
        }
        let idle_at = last_received + timers.idle_timeout;
        // A quiet period starts at the last frame received; while frames keep arriving we
        // still ping once per interval, so a peer that only receives from us (a long
        // streamed answer) does not idle out: the peer's idle timer counts what *it*
        // receives (runners.md §2; the reference pings only when it receives nothing).
        let ping_at = match timers.ping_interval {
            Some(interval) if !ping_sent => Some(last_received.min(last_ping) + interval),
            _ => None,
        };
        decoder.reserve_for_read();
        tokio::select! {
            biased;
            _ = closed.wait_for(Option::is_some) => return,
            read = io.read_buf(decoder.buffer_mut()) => match read {
                Ok(0) => {
                    shared.close(CloseReason::PeerClosed);
                    return;
                }
                Ok(_) => {}
                Err(err) => {
                    shared.close(CloseReason::Io(err.to_string()));
                    return;
                }
            },
            _ = sleep_until(idle_at) => {
                shared.close(CloseReason::IdleTimeout(timers.idle_timeout));
                return;
            }
            _ = sleep_until(ping_at.unwrap_or(idle_at)), if ping_at.is_some() => {
                let id: i64 = rand::random();
                tracing::trace!(session = shared.id, id, "sending tcp.ping");
                shared.enqueue_control(TcpPacket::Ping { id }.encode(), "ping");
                // One ping per quiet period, as the reference does.
                ping_sent = true;
                last_ping = Instant::now();
            }
        }
    }
}

async fn handle_frame(
    frame: &[u8],
    shared: &Arc<Shared>,
    inbound: &InboundQueue,
    closed: &mut watch::Receiver<Option<CloseReason>>,
) -> Flow {
    let packet = match TcpPacket::decode(frame) {
        Ok(packet) => packet,
        Err(err) => {
            // A well-framed payload that is not a tcp.Packet we know: drop it.
            tracing::warn!(
                session = shared.id,
                peer = %shared.label,
                len = frame.len(),
                %err,
                "dropping undecodable frame"
            );
            return Flow::Continue;
        }
    };
    match packet {
        TcpPacket::Ping { id } => {
            shared.enqueue_control(TcpPacket::Pong { id }.encode(), "pong");
            Flow::Continue
        }
        TcpPacket::Pong { .. } => Flow::Continue,
        TcpPacket::Packet { data } => {
            deliver(InboundMessage::Packet(data), shared, inbound, closed).await
        }
        TcpPacket::Query { id, data } => {
            let query = IncomingQuery::new(id, data, Arc::clone(shared));
            deliver(InboundMessage::Query(query), shared, inbound, closed).await
        }
        TcpPacket::QueryAnswer { id, data } => {
            if !shared.resolve_query(id, Ok(data)) {
                tracing::debug!(
                    session = shared.id,
                    id,
                    "answer to unknown or expired query"
                );
            }
            Flow::Continue
        }
        TcpPacket::QueryError { id, code, message } => {
            if !shared.resolve_query(id, Err(QueryError::Remote { code, message })) {
                tracing::debug!(
                    session = shared.id,
                    id,
                    "error for unknown or expired query"
                );
            }
            Flow::Continue
        }
        other @ (TcpPacket::Connect { .. } | TcpPacket::Connected { .. }) => {
            tracing::debug!(
                session = shared.id,
                packet = other.name(),
                "ignoring post-init frame"
            );
            Flow::Continue
        }
    }
}

/// Hands a message to the application, waiting (and not reading the
/// socket) while the inbound queue is full.
async fn deliver(
    message: InboundMessage,
    shared: &Shared,
    inbound: &InboundQueue,
    closed: &mut watch::Receiver<Option<CloseReason>>,
) -> Flow {
    let push = async {
        let Some(budget) = inbound.budget.reserve(message.data_len()).await else {
            return;
        };
        let queued = Queued {
            message,
            _budget: budget,
        };
        if inbound.tx.send(queued).await.is_err() {
            // The application dropped its `Inbound`; an undelivered query
            // answers itself with "Lost promise" as it is dropped here.
            tracing::debug!(session = shared.id, "no inbound receiver; message dropped");
        }
    };
    tokio::select! {
        biased;
        _ = closed.wait_for(Option::is_some) => Flow::Stop,
        () = push => Flow::Continue,
    }
}
