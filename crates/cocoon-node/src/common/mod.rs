//! What the three roles share: protocol version ranges and negotiation
//! ([`proto`]), dialing a proxy through the PoW + RA-TLS gate ([`dial`]), and
//! the `/stats`, `/jsonstats`, `/metrics` HTTP service ([`stats`]).

pub mod dial;
pub mod proto;
pub mod stats;
