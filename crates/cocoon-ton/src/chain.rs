//! What the TON backend needs from the chain, as an object-safe async trait
//! ([`ChainAccess`]): the last masterchain block, account states, an account's transactions
//! walked back from a known one, and sending an external message.
//!
//! The production implementation talks to liteservers (`cocoon-liteclient`; what it verifies
//! is described there); [`crate::mock_chain`] simulates the contracts in memory for tests.
//! Implementations may take as long as the network does: callers (the
//! [`crate::ton_ledger::TonLedger`] refresh task) wrap every call in a timeout, so a stuck
//! call surfaces as [`ChainError::Timeout`] instead of a hang.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use cocoon_ledger::accounting::NanoTon;
use tonlib_core::cell::ArcCell;
use tonlib_core::TonAddress;

/// A boxed, sendable future returned by [`ChainAccess`] methods.
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChainError>> + Send + 'a>>;

/// A masterchain block the reads were served from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Masterchain seqno.
    pub seqno: u32,
    /// Root hash of the block.
    pub root_hash: [u8; 32],
    /// Block generation time (unix seconds): the backend's clock.
    pub utime: u64,
}

/// Identifies one transaction of an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId {
    /// Logical time.
    pub lt: u64,
    /// Transaction hash.
    pub hash: [u8; 32],
}

/// An account's state at the last block.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountSnapshot {
    /// Balance in nanoTON.
    pub balance: NanoTon,
    /// Code cell (`None` while the account is not deployed).
    pub code: Option<ArcCell>,
    /// Data cell (`None` while the account is not deployed).
    pub data: Option<ArcCell>,
    /// The account's newest transaction.
    pub last_tx: Option<TxId>,
}

/// The inbound message of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct InMsg {
    /// Sender; `None` for an external (inbound from outside the chain) message.
    pub source: Option<TonAddress>,
    /// Message body.
    pub body: ArcCell,
    /// nanoTON carried (0 for external messages).
    pub value: NanoTon,
}

/// One transaction of an account.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainTx {
    /// Its id.
    pub id: TxId,
    /// The account's previous transaction (`None` for its first one).
    pub prev: Option<TxId>,
    /// Time of the block that holds it.
    pub utime: u64,
    /// Inbound message (tick-tock transactions have none).
    pub in_msg: Option<InMsg>,
}

/// A failed chain call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The call did not finish in time (set by the caller's timeout).
    #[error("chain call {what} timed out after {after:?}")]
    Timeout {
        /// Which call.
        what: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// No liteserver answered (connection failures, all servers down, …).
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The chain refused the request (an external message the wallet did not accept, an
    /// unknown transaction to walk back from, …).
    #[error("rejected by the chain: {0}")]
    Rejected(String),
    /// An answer that does not decode or does not match its proof.
    #[error("malformed chain answer: {0}")]
    Malformed(String),
}

/// Read and send access to TON, as the backend uses it.
pub trait ChainAccess: Send + Sync {
    /// The last (trusted) masterchain block.
    fn last_block(&self) -> ChainFuture<'_, BlockRef>;

    /// The state of `address` at the last block; `None` when the account does not exist.
    fn account<'a>(&'a self, address: &'a TonAddress) -> ChainFuture<'a, Option<AccountSnapshot>>;

    /// Up to `limit` transactions of `address`, newest first, starting with `from` itself
    /// and walking back in logical time.
    fn transactions<'a>(
        &'a self,
        address: &'a TonAddress,
        from: TxId,
        limit: usize,
    ) -> ChainFuture<'a, Vec<ChainTx>>;

    /// Hands a serialized external message (standard BoC) to the network.
    fn send_external<'a>(&'a self, boc: &'a [u8]) -> ChainFuture<'a, ()>;
}

/// Runs a chain call with a timeout.
pub async fn with_timeout<T>(
    what: &'static str,
    after: Duration,
    call: ChainFuture<'_, T>,
) -> Result<T, ChainError> {
    match tokio::time::timeout(after, call).await {
        Ok(result) => result,
        Err(_) => Err(ChainError::Timeout { what, after }),
    }
}
