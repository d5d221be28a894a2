//! The TON backend of the COCOON payment layer: the contract messages the runners send,
//! the cocoon wallet, the root contract state, and [`ton_ledger::TonLedger`], the
//! [`cocoon_ledger::ledger::Ledger`] implementation over an abstract chain
//! ([`chain::ChainAccess`]; the liteserver implementation lives in `cocoon-liteclient`).
//!
//! Cell code (no I/O), wire-compatible with the reference runners:
//! * [`cells`] — field codecs shared by the modules (coins, `addr_std`, `net_addr`, exact ends).
//! * [`dict`] — a bounded reader of TL-B `Hashmap` dictionaries for untrusted cells.
//! * [`messages`] — every message body the runners send, the internal and external message
//!   envelopes, and the parsers of what the proxy contract observes.
//! * [`wallet`] — the cocoon wallet: address, signed external message, and a pure
//!   "one message in flight" sender state machine.
//! * [`root_state`] — the root contract's data cell (struct versions 0–5) as a
//!   [`cocoon_ledger::root_config::RootConfig`] plus the fields that type does not carry.
//! * [`contract_state`] — the client, worker and proxy contract data cells.
//!
//! The backend:
//! * [`chain`] — what the backend needs from TON, as an object-safe async trait.
//! * [`ton_ledger`] — `TonLedger`: a snapshot refreshed by a background task serves the
//!   reads; writes are submitted through the wallet and confirmed when observed.
//! * [`lite_chain`] — `LiteChain`, the [`chain::ChainAccess`] over `cocoon-liteclient`'s
//!   liteserver client (the production chain).
//! * `mock_chain` (feature `mock`, and in tests) — an in-memory chain that **simulates** the
//!   contracts on the devnet engine, for tests without TON.
//! * `mock_lite` (feature `mock`) — serves that simulated chain through mock liteservers, so
//!   tests run `TonLedger → LiteChain → liteserver protocol → simulated contracts`.
//! * `sandbox` (feature `mock`) — the REAL contracts' code executed in `@ton/sandbox`
//!   (Node, `contracts-sandbox/driver.js`) as a chain the mock liteservers can serve instead.

pub mod cells;
pub mod chain;
pub mod contract_state;
pub mod dict;
pub mod lite_chain;
pub mod messages;
#[cfg(any(test, feature = "mock"))]
pub mod mock_chain;
#[cfg(feature = "mock")]
pub mod mock_lite;
pub mod root_state;
#[cfg(feature = "mock")]
pub mod sandbox;
pub mod ton_ledger;
pub mod wallet;

pub use cells::CellError;

#[cfg(test)]
pub(crate) mod test_bits;
