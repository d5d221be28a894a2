//! The `tcp.*` objects carried in frame payloads, as seen by the session.
//!
//! This is the one place that touches the generated TL types for the
//! transport layer; the rest of the crate works with [`TcpPacket`].

use cocoon_wire::schema::{enums, types};
use cocoon_wire::tl::{from_bytes, to_bytes};

/// One decoded frame payload (a boxed `tcp.Packet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TcpPacket {
    Ping { id: i64 },
    Pong { id: i64 },
    Packet { data: Vec<u8> },
    Query { id: i64, data: Vec<u8> },
    QueryAnswer { id: i64, data: Vec<u8> },
    QueryError { id: i64, code: i32, message: String },
    Connect { id: i64 },
    Connected { id: i64 },
}

impl TcpPacket {
    /// Short constructor name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            TcpPacket::Ping { .. } => "tcp.ping",
            TcpPacket::Pong { .. } => "tcp.pong",
            TcpPacket::Packet { .. } => "tcp.packet",
            TcpPacket::Query { .. } => "tcp.query",
            TcpPacket::QueryAnswer { .. } => "tcp.queryAnswer",
            TcpPacket::QueryError { .. } => "tcp.queryError",
            TcpPacket::Connect { .. } => "tcp.connect",
            TcpPacket::Connected { .. } => "tcp.connected",
        }
    }

    /// Serialises the packet as a boxed TL object (a frame payload).
    pub(crate) fn encode(self) -> Vec<u8> {
        use enums::tcp::Packet as P;
        let boxed = match self {
            TcpPacket::Ping { id } => P::Ping(types::tcp::Ping { id }),
            TcpPacket::Pong { id } => P::Pong(types::tcp::Pong { id }),
            TcpPacket::Packet { data } => P::Packet(types::tcp::Packet { data }),
            TcpPacket::Query { id, data } => P::Query(types::tcp::Query { id, data }),
            TcpPacket::QueryAnswer { id, data } => {
                P::QueryAnswer(types::tcp::QueryAnswer { id, data })
            }
            TcpPacket::QueryError { id, code, message } => {
                P::QueryError(types::tcp::QueryError { id, code, message })
            }
            TcpPacket::Connect { id } => P::Connect(types::tcp::Connect { id }),
            TcpPacket::Connected { id } => P::Connected(types::tcp::Connected { id }),
        };
        to_bytes(&boxed)
    }

    /// Parses a frame payload; the whole payload must be consumed.
    pub(crate) fn decode(payload: &[u8]) -> Result<Self, String> {
        use enums::tcp::Packet as P;
        let boxed: P = from_bytes(payload).map_err(|err| err.to_string())?;
        Ok(match boxed {
            P::Ping(p) => TcpPacket::Ping { id: p.id },
            P::Pong(p) => TcpPacket::Pong { id: p.id },
            P::Packet(p) => TcpPacket::Packet { data: p.data },
            P::Query(p) => TcpPacket::Query {
                id: p.id,
                data: p.data,
            },
            P::QueryAnswer(p) => TcpPacket::QueryAnswer {
                id: p.id,
                data: p.data,
            },
            P::QueryError(p) => TcpPacket::QueryError {
                id: p.id,
                code: p.code,
                message: p.message,
            },
            P::Connect(p) => TcpPacket::Connect { id: p.id },
            P::Connected(p) => TcpPacket::Connected { id: p.id },
        })
    }
}
