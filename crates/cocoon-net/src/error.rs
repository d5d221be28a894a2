//! Error types of the session layer: why a session closed ([`CloseReason`]),
//! what went wrong with a connection operation ([`NetError`]) and why a query
//! failed ([`QueryError`]), plus the TON status codes queries are mapped to.

use std::time::Duration;

use cocoon_wire::frame::FrameError;
use cocoon_wire::tl::DecodeError;

/// Status codes used by the reference (TON `ErrorCode`) for query failures.
pub mod error_code {
    /// Generic failure.
    pub const FAILURE: i32 = 601;
    /// Generic error.
    pub const ERROR: i32 = 602;
    /// The peer broke the protocol (e.g. an answer that does not decode).
    pub const PROTOVIOLATION: i32 = 621;
    /// The connection is not usable (closed, or too busy).
    pub const NOT_READY: i32 = 651;
    /// The query ran past its deadline.
    pub const TIMEOUT: i32 = 652;
    /// Code the reference uses for a query whose handler dropped its promise
    /// without answering ("Lost promise").
    pub const LOST_PROMISE: i32 = 0;
}

/// Why a session ended. The first reason recorded wins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// [`Session::close`](crate::Session::close) was called.
    #[error("closed locally")]
    Local,
    /// Every `Session` handle and the `Inbound` receiver were dropped.
    #[error("all session handles were dropped")]
    Abandoned,
    /// The peer closed its sending direction.
    #[error("peer closed the connection")]
    PeerClosed,
    /// Reading or writing the transport failed.
    #[error("transport error: {0}")]
    Io(String),
    /// The peer violated the frame format (length or seqno).
    #[error("framing violation: {0}")]
    Framing(#[from] FrameError),
    /// No frame arrived within the idle timeout.
    #[error("no frame received for {0:?}")]
    IdleTimeout(Duration),
}

/// Errors of connection-level operations (establishing, sending, SOCKS5).
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The transport failed.
    #[error("transport error: {0}")]
    Io(#[from] std::io::Error),
    /// The `tcp.connect` / `tcp.connected` exchange did not finish in time.
    #[error("connection handshake did not finish within {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer's first frame was not the expected init object.
    #[error("connection handshake failed: {0}")]
    Handshake(String),
    /// The peer closed the transport before the handshake finished.
    #[error("peer closed the connection during the handshake")]
    ClosedDuringHandshake,
    /// The peer violated the frame format.
    #[error("framing violation: {0}")]
    Framing(#[from] FrameError),
    /// The message does not fit in one frame (see `MAX_FRAME_PAYLOAD`).
    #[error("message of {len} bytes does not fit in a frame")]
    TooLarge {
        /// Size of the encoded frame payload.
        len: usize,
    },
    /// The session is closed; nothing was sent.
    #[error("session closed: {0}")]
    Closed(CloseReason),
    /// The SOCKS5 exchange failed.
    #[error("socks5: {0}")]
    Socks5(String),
    /// The SOCKS5 exchange did not finish in time.
    #[error("socks5: connection timeout expired after {0:?}")]
    Socks5Timeout(Duration),
}

/// Why an outgoing query produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No answer arrived before the query's timeout.
    #[error("query timed out")]
    Timeout,
    /// The peer answered with `tcp.queryError`.
    #[error("peer answered with error {code}: {message}")]
    Remote {
        /// Status code sent by the peer.
        code: i32,
        /// Status message sent by the peer.
        message: String,
    },
    /// The session closed before an answer arrived (or was already closed).
    #[error("connection closed: {0}")]
    ConnectionClosed(CloseReason),
    /// The answer did not decode as the expected result type.
    #[error("answer does not decode: {0}")]
    Decode(DecodeError),
    /// Too many queries are already waiting for answers on this session.
    #[error("too many outstanding queries")]
    TooManyOutstanding,
    /// The query does not fit in one frame.
    #[error("query of {len} bytes does not fit in a frame")]
    TooLarge {
        /// Size of the encoded frame payload.
        len: usize,
    },
}

impl QueryError {
    /// The TON status code this failure maps to: the peer's own code for
    /// [`QueryError::Remote`], 652 for a timeout, 651 when the connection is
    /// unusable, 621 for an undecodable answer, 602 otherwise.
    pub fn code(&self) -> i32 {
        match self {
            QueryError::Timeout => error_code::TIMEOUT,
            QueryError::Remote { code, .. } => *code,
            QueryError::ConnectionClosed(_) | QueryError::TooManyOutstanding => {
                error_code::NOT_READY
            }
            QueryError::Decode(_) => error_code::PROTOVIOLATION,
            QueryError::TooLarge { .. } => error_code::ERROR,
        }
    }
}
