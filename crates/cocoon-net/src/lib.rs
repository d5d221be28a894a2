//! # cocoon-net — connections and RPC sessions
//!
//! Drives the frame layer of `cocoon-wire` over any `AsyncRead + AsyncWrite`
//! transport (TCP, TLS, an in-memory pipe):
//!
//! * [`establish`] runs the `tcp.connect` / `tcp.connected` init for either
//!   [`Role`] and returns a [`Session`] handle plus the [`Inbound`] receiver;
//! * the session answers `tcp.ping` with `tcp.pong`, pings a quiet link
//!   (dialer only), closes an idle one, and closes on any framing violation
//!   (bad length or seqno); well-framed but undecodable payloads are logged
//!   and dropped;
//! * queries ([`Session::query`], [`Session::call`]) carry random 64-bit ids
//!   and per-query timeouts; unlike the reference, they fail at once when the
//!   connection dies, and nothing is silently dropped on a closed session;
//! * bounded queues give back-pressure in both directions: [`Session::send`]
//!   waits while the outbound queue is full, and the reader stops reading the
//!   socket while the application has not taken earlier [`InboundMessage`]s.
//!
//! [`socks5`] holds the small SOCKS5 CONNECT client used to reach a proxy
//! through the local router.

mod config;
mod error;
mod inbound;
mod packet;
mod reader;
mod session;
mod shared;
pub mod socks5;
mod writer;

pub use config::{Role, SessionConfig};
pub use error::{error_code, CloseReason, NetError, QueryError};
pub use inbound::{Inbound, InboundMessage, IncomingQuery, LOST_PROMISE_MESSAGE};
pub use session::{establish, Session};
