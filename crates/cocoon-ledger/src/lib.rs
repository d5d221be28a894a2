//! # cocoon-ledger — token accounting, payment vouchers, proxy books, ledger backends
//!
//! Real protocol (wire-compatible with the reference):
//! * [`accounting`] — the token adjustment formula, prices, and the proxy's monotone
//!   counters, reservations and per-request settlement.
//! * [`voucher`] — the signed payment cells (`proxy.signedPayment` data) for worker payouts
//!   and client charges, built and verified exactly as the contracts check them.
//! * [`address`] — contract address derivation from StateInit and user-friendly addresses.
//! * [`root_config`] — the root contract parameters and the params cell.
//!
//! * [`contracts`] — the executable model of the payment contracts, rule for rule.
//!
//! Local machinery (ours, not part of the wire protocol):
//! * [`books`] — the proxy's durable, signed and hash-chained books (redb).
//! * [`ledger`] — the [`ledger::Ledger`] trait the nodes use, and [`ledger::devnet`], a
//!   deterministic **devnet simulation** of the TON contracts persisted in one file. Nothing
//!   in the devnet touches a real chain; its contract code cells are placeholders.

pub mod accounting;
pub mod address;
pub mod boc;
pub mod books;
pub mod contracts;
pub mod ledger;
pub mod root_config;
pub mod root_keys;
pub mod voucher;
