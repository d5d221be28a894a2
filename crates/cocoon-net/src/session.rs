//! Establishing a session (`tcp.connect` / `tcp.connected`) and the
//! [`Session`] handle used to send packets and queries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cocoon_wire::frame::{check_payload_len, FrameDecoder, FrameEncoder};
use cocoon_wire::tl::{from_bytes, to_bytes, Boxed, RemoteCall};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::config::{Role, SessionConfig};
use crate::error::{CloseReason, NetError, QueryError};
use crate::inbound::Inbound;
use crate::packet::TcpPacket;
use crate::reader::{run_reader, InboundQueue, ReaderTimers};
use crate::shared::{ByteBudget, Shared};
use crate::writer::run_writer;

/// Source of process-unique session ids (for logs).
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// Runs the connection init over `io` and starts the session.
///
/// `io` must be positioned at the first frame (any SOCKS5, attested-peer-info
/// or TLS preamble already done). The dialer sends `tcp.connect` with a random
/// id as frame 0 and requires the peer's first frame to be `tcp.connected`
/// (its id is not checked, as in the reference); the acceptor requires the
/// first frame to be `tcp.connect` and answers `tcp.connected` with the same
/// id. The whole exchange is bounded by `cfg.handshake_timeout`.
pub async fn establish<S>(io: S, cfg: SessionConfig) -> Result<(Session, Inbound), NetError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut encoder = FrameEncoder::new();
    let mut decoder = FrameDecoder::new();
    let init = handshake(
        &mut reader,
        &mut writer,
        &mut encoder,
        &mut decoder,
        cfg.role,
    );
    tokio::time::timeout(cfg.handshake_timeout, init)
        .await
        .map_err(|_| NetError::HandshakeTimeout(cfg.handshake_timeout))??;

    let id = NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed);
    let label = if cfg.label.is_empty() {
        format!("session#{id}")
    } else {
        cfg.label.clone()
    };
    let (shared, queues) = Shared::new(
        id,
        label,
        cfg.role,
        cfg.outbound_queue,
        cfg.outbound_bytes,
        cfg.max_outstanding_queries,
    );
    let shared = Arc::new(shared);
    let (inbound_tx, inbound_rx) = mpsc::channel(cfg.inbound_queue.max(1));
    let inbound_queue = InboundQueue {
        tx: inbound_tx,
        budget: ByteBudget::new(cfg.inbound_bytes),
    };
    let timers = ReaderTimers::new(
        cfg.role,
        cfg.idle_timeout,
        cfg.ping_interval,
        cfg.acceptor_pings,
    );
    tokio::spawn(run_reader(
        reader,
        decoder,
        Arc::clone(&shared),
        inbound_queue,
        timers,
    ));
    tokio::spawn(run_writer(writer, encoder, queues, Arc::clone(&shared)));
    tracing::debug!(session = id, peer = %shared.label, role = ?cfg.role, "session established");

    let handle = Arc::new(Handle {
        shared,
        default_query_timeout: cfg.default_query_timeout,
    });
    let inbound = Inbound {
        rx: inbound_rx,
        _handle: Arc::clone(&handle),
    };
    Ok((Session { handle }, inbound))
}

async fn handshake<R, W>(
    reader: &mut R,
    writer: &mut W,
    encoder: &mut FrameEncoder,
    decoder: &mut FrameDecoder,
    role: Role,
) -> Result<(), NetError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    match role {
        Role::Dialer => {
            let id: i64 = rand::random();
            write_frame(writer, encoder, TcpPacket::Connect { id }).await?;
            match read_init_frame(reader, decoder).await? {
                TcpPacket::Connected { id: got } => {
                    if got != id {
                        tracing::debug!(sent = id, got, "tcp.connected carries another id");
                    }
                    Ok(())
                }
                other => Err(NetError::Handshake(format!(
                    "expected tcp.connected, got {}",
                    other.name()
                ))),
            }
        }
        Role::Acceptor => match read_init_frame(reader, decoder).await? {
            TcpPacket::Connect { id } => {
                write_frame(writer, encoder, TcpPacket::Connected { id }).await
            }
            other => Err(NetError::Handshake(format!(
                "expected tcp.connect, got {}",
                other.name()
            ))),
        },
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    encoder: &mut FrameEncoder,
    packet: TcpPacket,
) -> Result<(), NetError> {
    let frame = encoder.encode_to_vec(&packet.encode())?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

async fn read_init_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<TcpPacket, NetError> {
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return TcpPacket::decode(&frame).map_err(|err| {
                NetError::Handshake(format!("first frame is not a tcp.Packet: {err}"))
            });
        }
        decoder.reserve_for_read();
        if reader.read_buf(decoder.buffer_mut()).await? == 0 {
            return Err(NetError::ClosedDuringHandshake);
        }
    }
}

/// Owner of a running session; the last one dropped (the `Session` clones
/// and the `Inbound` share it) closes the session.
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
    default_query_timeout: Duration,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.close(CloseReason::Abandoned);
    }
}

/// A cheap, cloneable handle to an established session.
///
/// The session stays open until [`close`](Self::close) is called, the peer
/// or the transport ends it, it idles out, or every `Session` clone and its
/// [`Inbound`] have been dropped.
#[derive(Clone)]
pub struct Session {
    handle: Arc<Handle>,
}

impl Session {
    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Sends a one-way `tcp.packet` carrying `data` (a boxed TL object).
    /// Waits while the outbound queue is full; fails at once on a closed
    /// session or a message too large for one frame.
    pub async fn send(&self, data: Vec<u8>) -> Result<(), NetError> {
        let payload = TcpPacket::Packet { data }.encode();
        check_payload_len(payload.len()).map_err(|_| NetError::TooLarge { len: payload.len() })?;
        self.shared().enqueue(payload).await
    }

    /// Serialises `object` (boxed) and sends it as a one-way packet.
    pub async fn send_object<T: Boxed>(&self, object: &T) -> Result<(), NetError> {
        self.send(to_bytes(object)).await
    }

    /// Sends a `tcp.query` carrying `data` (a boxed TL function) and waits
    /// for the answer's bytes, at most `timeout` (queueing included).
    pub async fn query(&self, data: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, QueryError> {
        let shared = self.shared();
        let (id, answer) = shared.register_query()?;
        // Forgets the query however this function ends (answer, error,
        // timeout, or the caller dropping the future).
        let _forget = ForgetOnDrop { shared, id };
        let payload = TcpPacket::Query { id, data }.encode();
        check_payload_len(payload.len())
            .map_err(|_| QueryError::TooLarge { len: payload.len() })?;
        let exchange = async {
            shared.enqueue(payload).await.map_err(|err| match err {
                NetError::Closed(reason) => QueryError::ConnectionClosed(reason),
                other => QueryError::ConnectionClosed(CloseReason::Io(other.to_string())),
            })?;
            match answer.await {
                Ok(result) => result,
                // The slot is only dropped without a value when the session
                // shut down.
                Err(_) => Err(QueryError::ConnectionClosed(
                    shared.close_reason().unwrap_or(CloseReason::Abandoned),
                )),
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(QueryError::Timeout))
    }

    /// Sends the TL function `function` as a query and decodes its answer.
    pub async fn call<F>(&self, function: &F, timeout: Duration) -> Result<F::Return, QueryError>
    where
        F: RemoteCall,
    {
        let answer = self.query(to_bytes(function), timeout).await?;
        from_bytes::<F::Return>(&answer).map_err(QueryError::Decode)
    }

    /// [`call`](Self::call) with the session's default query timeout.
    pub async fn call_default<F>(&self, function: &F) -> Result<F::Return, QueryError>
    where
        F: RemoteCall,
    {
        self.call(function, self.handle.default_query_timeout).await
    }

    /// Closes the session. Outstanding queries fail at once; frames queued
    /// before the close are still written (for a short while) before the
    /// transport is shut down.
    pub fn close(&self) {
        self.shared().close(CloseReason::Local);
    }

    /// Waits until the session is closed and returns why.
    pub async fn closed(&self) -> CloseReason {
        let mut watch = self.shared().subscribe_closed();
        let reason = match watch.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            // The sender lives in `Shared`, which `self` keeps alive.
            Err(_) => None,
        };
        reason
            .or_else(|| self.close_reason())
            .unwrap_or(CloseReason::Abandoned)
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.shared().close_reason().is_some()
    }

    /// Why the session closed, if it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared().close_reason()
    }

    /// The label given in the config (or `session#<id>`), for logs.
    pub fn peer_label(&self) -> &str {
        &self.shared().label
    }

    /// Process-unique id of this session, for logs.
    pub fn id(&self) -> u64 {
        self.shared().id
    }

    /// Which side of the connection this is.
    pub fn role(&self) -> Role {
        self.shared().role
    }

    /// Number of this side's queries still waiting for answers.
    pub fn outstanding_queries(&self) -> usize {
        self.shared().outstanding_queries()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id())
            .field("peer", &self.peer_label())
            .field("role", &self.role())
            .field("closed", &self.close_reason())
            .finish()
    }
}

struct ForgetOnDrop<'a> {
    shared: &'a Shared,
    id: i64,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        self.shared.forget_query(self.id);
    }
}
