//! # cocoon-ledger — token accounting, vouchers and the ledger backends
//!
//! The payments layer: token accounting, signed payment vouchers, the proxy's
//! durable books, and the `Ledger` abstraction (a local devnet ledger and TON).
//! Not implemented yet: the payments issue fills this crate. Nothing in the
//! nodes relies on it today.
