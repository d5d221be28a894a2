//! What the peer sends to the application: one-way packets and queries that
//! expect an answer.

use std::sync::Arc;

use cocoon_wire::frame::check_payload_len;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::error::{error_code, NetError};
use crate::packet::TcpPacket;
use crate::session::Handle;
use crate::shared::Shared;

/// Message text the reference sends for a query whose handler went away
/// without answering.
pub const LOST_PROMISE_MESSAGE: &str = "Lost promise";

/// One message from the peer.
#[derive(Debug)]
pub enum InboundMessage {
    /// A one-way `tcp.packet`; the bytes are a boxed TL object.
    Packet(Vec<u8>),
    /// A `tcp.query` waiting for an answer.
    Query(IncomingQuery),
}

/// A message in the inbound queue, holding its share of the inbound byte
/// budget until the application takes it.
pub(crate) struct Queued {
    pub(crate) message: InboundMessage,
    pub(crate) _budget: OwnedSemaphorePermit,
}

impl InboundMessage {
    /// Bytes this message holds (for the inbound byte budget).
    pub(crate) fn data_len(&self) -> usize {
        match self {
            InboundMessage::Packet(data) => data.len(),
            InboundMessage::Query(query) => query.data.len(),
        }
    }
}

/// The receiving end of a session: yields the peer's packets and queries in
/// the order they arrived.
///
/// The session's reader stops reading the socket while the application has
/// not taken earlier messages (the queue holds
/// [`SessionConfig::inbound_queue`](crate::SessionConfig::inbound_queue)
/// messages and [`SessionConfig::inbound_bytes`](crate::SessionConfig::inbound_bytes)
/// bytes), so a slow consumer slows the peer down instead of growing memory.
/// While it is stopped, answers to this side's own queries and pings wait
/// behind the queued messages too, so avoid awaiting a query on the same
/// session from the loop that drains `Inbound`. Dropping the `Inbound` while keeping a [`Session`](crate::Session)
/// discards later packets and answers later queries with "Lost promise".
pub struct Inbound {
    pub(crate) rx: mpsc::Receiver<Queued>,
    /// Keeps the session open while the application listens.
    pub(crate) _handle: Arc<Handle>,
}

impl Inbound {
    /// The next message, or `None` once the session has closed and every
    /// message received before that has been taken.
    pub async fn next(&mut self) -> Option<InboundMessage> {
        self.rx.recv().await.map(|queued| queued.message)
    }
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("session", &self._handle.shared.id)
            .field("queued", &self.rx.len())
            .finish()
    }
}

/// A query from the peer. Answer it with [`answer`](Self::answer) or
/// [`error`](Self::error); dropping it unanswered sends `tcp.queryError`
/// with code 0 and message "Lost promise", as the reference does.
pub struct IncomingQuery {
    /// The request: a boxed TL function.
    pub data: Vec<u8>,
    id: i64,
    /// `None` once an answer has been queued.
    shared: Option<Arc<Shared>>,
}

impl IncomingQuery {
    pub(crate) fn new(id: i64, data: Vec<u8>, shared: Arc<Shared>) -> Self {
        IncomingQuery {
            data,
            id,
            shared: Some(shared),
        }
    }

    /// The query id chosen by the peer.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Takes the request bytes out, leaving `data` empty.
    pub fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }

    /// Sends `tcp.queryAnswer` carrying `data` (a boxed TL result), waiting
    /// while the outbound queue is full.
    ///
    /// If the answer does not fit in a frame, or the session is closed, the
    /// error is returned and the peer gets "Lost promise" instead (when the
    /// session is still open).
    pub async fn answer(self, data: Vec<u8>) -> Result<(), NetError> {
        let id = self.id;
        self.respond(TcpPacket::QueryAnswer { id, data }).await
    }

    /// Sends `tcp.queryError` with the given status code and message.
    pub async fn error(self, code: i32, message: impl Into<String>) -> Result<(), NetError> {
        let id = self.id;
        let message = message.into();
        self.respond(TcpPacket::QueryError { id, code, message })
            .await
    }

    async fn respond(mut self, reply: TcpPacket) -> Result<(), NetError> {
        let payload = reply.encode();
        check_payload_len(payload.len()).map_err(|_| NetError::TooLarge { len: payload.len() })?;
        let Some(shared) = self.shared.as_ref() else {
            // Unreachable: `shared` is only taken below, after which `self`
            // is gone.
            return Ok(());
        };
        shared.enqueue(payload).await?;
        self.shared = None;
        Ok(())
    }
}

impl Drop for IncomingQuery {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let reply = TcpPacket::QueryError {
                id: self.id,
                code: error_code::LOST_PROMISE,
                message: LOST_PROMISE_MESSAGE.to_owned(),
            };
            shared.enqueue_control(reply.encode(), "lost promise");
        }
    }
}

impl std::fmt::Debug for IncomingQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingQuery")
            .field("id", &self.id)
            .field("data_len", &self.data.len())
            .field("answered", &self.shared.is_none())
            .finish()
    }
}
