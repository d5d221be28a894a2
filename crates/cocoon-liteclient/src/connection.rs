//! One ADNL-over-TCP connection to one liteserver: handshake (via the `adnl` crate:
//! x25519 key agreement from the server's ed25519 key, AES-CTR streams, SHA-256 checksums,
//! frames capped at 16 MiB) and sequential lite queries matched by query id.
//!
//! Timeouts are applied by the caller ([`crate::client`]); a connection whose query future
//! is dropped half-way is dropped with it, never reused.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use adnl::AdnlPeer;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::LiteServerEntry;
use crate::proof::ProofError;
use crate::tl::{AdnlMessage, LiteQuery, LiteResponse, TlError};

/// A byte stream a liteserver connection runs over (TCP in production, in-memory in tests).
pub trait LiteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> LiteStream for T {}

/// A boxed [`LiteStream`].
pub type BoxedStream = Box<dyn LiteStream>;
/// The future a [`Connector`] returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxedStream>> + Send>>;

/// Opens byte streams to liteservers.
pub trait Connector: Send + Sync + 'static {
    fn connect(&self, server: &LiteServerEntry) -> ConnectFuture;
}

/// Plain TCP (with TCP_NODELAY).
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect(&self, server: &LiteServerEntry) -> ConnectFuture {
        let addr = server.addr;
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxedStream)
        })
    }
}

/// Why one query to one liteserver failed.
#[derive(Debug, Error)]
pub enum QueryError {
    #[error("connect: {0}")]
    Connect(io::Error),
    #[error("ADNL: {0}")]
    Adnl(String),
    #[error("timed out")]
    Timeout,
    #[error("connection closed by liteserver")]
    Closed,
    #[error("malformed answer: {0}")]
    Tl(#[from] TlError),
    #[error("liteserver error {code}: {message}")]
    Server { code: i32, message: String },
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("answer failed verification: {0}")]
    Proof(#[from] ProofError),
}

/// An open, handshaken connection.
pub(crate) struct Connection {
    peer: AdnlPeer<BoxedStream>,
}

impl Connection {
    pub(crate) async fn open(
        connector: &Arc<dyn Connector>,
        server: &LiteServerEntry,
    ) -> Result<Self, QueryError> {
        let stream = connector
            .connect(server)
            .await
            .map_err(QueryError::Connect)?;
        let peer = AdnlPeer::perform_handshake(stream, server.public_key)
            .await
            .map_err(|e| QueryError::Adnl(e.to_string()))?;
        Ok(Self { peer })
    }

    /// Sends one query and waits for its answer (other frames are skipped).
    pub(crate) async fn query(&mut self, query: &LiteQuery) -> Result<LiteResponse, QueryError> {
        let query_id: [u8; 32] = rand::random();
        let message = AdnlMessage::Query {
            query_id,
            query: query.encode(),
        };
        self.peer
            .send(Bytes::from(message.encode()))
            .await
            .map_err(|e| QueryError::Adnl(e.to_string()))?;
        loop {
            let frame = match self.peer.next().await {
                None => return Err(QueryError::Closed),
                Some(Err(e)) => return Err(QueryError::Adnl(e.to_string())),
                Some(Ok(frame)) => frame,
            };
            match AdnlMessage::decode(&frame)? {
                AdnlMessage::Answer {
                    query_id: id,
                    answer,
                } if id == query_id => {
                    return match LiteResponse::decode(&answer)? {
                        LiteResponse::Error { code, message } => {
                            Err(QueryError::Server { code, message })
                        }
                        other => Ok(other),
                    };
                }
                AdnlMessage::Ping { random_id } => {
                    let pong = AdnlMessage::Pong { random_id }.encode();
                    self.peer
                        .send(Bytes::from(pong))
                        .await
                        .map_err(|e| QueryError::Adnl(e.to_string()))?;
                }
                // A late answer to an abandoned query, or an unsolicited pong.
                AdnlMessage::Answer { .. } | AdnlMessage::Pong { .. } => {}
                AdnlMessage::Query { .. } => {
                    return Err(QueryError::Unexpected("query from liteserver".into()))
                }
            }
        }
    }
}
