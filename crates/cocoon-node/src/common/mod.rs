//! What the three roles share: protocol version ranges and negotiation
//! ([`proto`]), dialing a proxy through the PoW + RA-TLS gate ([`dial`]),
//! peer attestation policies by name ([`policy`]), the `/stats`,
//! `/jsonstats`, `/metrics` HTTP service ([`stats`]), the admin port's guard and
//! credential ([`admin`]), a node's stats and admin ports ([`ports`]), and our request
//! cancellation extension ([`cancel`]), the verification of received
//! payment vouchers ([`vouchers`]), and the key-manager client that fetches the
//! request-encryption keys ([`km_client`]).

pub mod admin;
mod admin_token;
pub mod admission;
pub mod cancel;
pub mod dial;
pub mod gate;
pub mod km_client;
pub mod node_wallet;
pub mod policy;
pub mod ports;
pub mod proto;
pub mod stats;
pub mod vouchers;
