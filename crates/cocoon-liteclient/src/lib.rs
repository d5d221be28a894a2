//! A TON liteserver client in pure Rust (ADNL over TCP, lite_api): reads a TON global
//! config, talks to several liteservers, trusts a masterchain block only when a quorum of
//! them agree on it, and serves account states (checked against their Merkle proofs),
//! transaction lists (checked as a hash chain) and external messages, with timeouts,
//! rotation and backoff so one stuck server never stalls the caller.
//!
//! What is verified and what is trusted is set out in `TRUST.md` and in [`proof`].
//! The `mock` feature adds [`mock`], an in-process liteserver for tests.

pub mod account;
pub mod boc;
pub mod client;
pub mod config;
pub mod connection;
#[cfg(feature = "mock")]
pub mod mock;
pub mod proof;
pub mod tl;
pub mod tlb;

pub use account::{AccountState, AccountStatus, Transaction};
pub use client::{ClientError, ClientOptions, LiteClient, MAX_TRANSACTIONS_PER_QUERY};
pub use config::{ConfigError, GlobalConfig, LiteServerEntry};
pub use connection::{Connector, QueryError, TcpConnector};
pub use tl::{AccountId, BlockIdExt};
pub use tonlib_core::cell::ArcCell;
