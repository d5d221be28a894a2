//! [`LiteChain`]: the production [`ChainAccess`], over the liteserver client of
//! `cocoon-liteclient` (what that client verifies and trusts is set out in its `TRUST.md`,
//! copied into `docs/ton.md`).
//!
//! * Reads happen at the client's last **agreed** masterchain block; before a read the
//!   block is re-agreed (`sync`) once it is older than [`LiteChain::with_max_block_age`]
//!   (default 3 s), so a refresh round sees the chain as of its start.
//! * Transactions are walked back in pages of at most
//!   [`cocoon_liteclient::MAX_TRANSACTIONS_PER_QUERY`], each page checked link by link by
//!   the client; their inbound message is decoded here (internal: sender, value, body;
//!   external-in: body). A message that does not decode is logged and reported as absent
//!   (the transaction itself was verified; only messages we sent matter to the backend,
//!   and those always decode).
//! * The block time ([`BlockRef::utime`]) is the agreed block's `gen_utime`, read once per
//!   block from a header proof checked against its root hash (`LiteClient::block_utime`):
//!   close delays are compared with the chain's clock, as the contracts do. Should no
//!   server answer that, the fallback clock is used ([`LiteChain::with_clock`]; the local
//!   clock by default) and a warning logged.
//! * Errors: a liteserver `error` answer from every server is [`ChainError::Rejected`]
//!   (e.g. an external message the wallet refuses), a quorum or connection failure
//!   [`ChainError::Unavailable`], an answer failing verification [`ChainError::Malformed`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cocoon_ledger::accounting::NanoTon;
use cocoon_liteclient::{
    AccountId, AccountStatus, BlockIdExt, ClientError, LiteClient, QueryError, Transaction,
    MAX_TRANSACTIONS_PER_QUERY,
};
use tokio::time::Instant;
use tonlib_core::cell::ArcCell;
use tonlib_core::tlb_types::block::message::{CommonMsgInfo, Message};
use tonlib_core::tlb_types::block::msg_address::{MsgAddress, MsgAddressInt};
use tonlib_core::tlb_types::tlb::TLB;
use tonlib_core::{TonAddress, TonHash};

use crate::chain::{
    AccountSnapshot, BlockRef, ChainAccess, ChainError, ChainFuture, ChainTx, InMsg, TxId,
};

/// Default age after which the agreed block is re-synced before a read.
pub const DEFAULT_MAX_BLOCK_AGE: Duration = Duration::from_secs(3);

/// Most transactions one [`ChainAccess::transactions`] call walks (bounds a hostile limit).
pub const MAX_TRANSACTIONS_PER_CALL: usize = 1024;

type Clock = Box<dyn Fn() -> u64 + Send + Sync>;

/// A [`ChainAccess`] over a [`LiteClient`] (see the module doc).
pub struct LiteChain {
    client: Arc<LiteClient>,
    max_block_age: Duration,
    synced: Mutex<Option<(Instant, BlockIdExt)>>,
    /// Serialises syncs so concurrent reads do not each ask every server.
    sync_gate: tokio::sync::Mutex<()>,
    /// `gen_utime` of the last block asked for: (seqno, utime).
    block_time: Mutex<Option<(u32, u32)>>,
    /// Fallback when the block time cannot be read.
    clock: Clock,
}

fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The liteserver address form of a TON address.
pub fn account_id(address: &TonAddress) -> AccountId {
    let mut id = [0u8; 32];
    id.copy_from_slice(address.hash_part.as_slice());
    AccountId {
        workchain: address.workchain,
        id,
    }
}

/// Maps a client error onto the backend's error kinds (see the module doc).
pub fn chain_error(error: ClientError) -> ChainError {
    match error {
        ClientError::AllServersFailed(errors) => {
            let text = error_text(&errors);
            let refused = !errors.is_empty()
                && errors
                    .iter()
                    .all(|(_, e)| matches!(e, QueryError::Server { .. }));
            let unverifiable = errors
                .iter()
                .all(|(_, e)| matches!(e, QueryError::Proof(_) | QueryError::Tl(_)));
            if refused {
                ChainError::Rejected(text)
            } else if unverifiable && !errors.is_empty() {
                ChainError::Malformed(text)
            } else {
                ChainError::Unavailable(text)
            }
        }
        ClientError::Input(text) => ChainError::Rejected(text),
        other => ChainError::Unavailable(other.to_string()),
    }
}

fn error_text(errors: &[(String, QueryError)]) -> String {
    let mut text = errors
        .iter()
        .take(6)
        .map(|(server, e)| format!("{server}: {e}"))
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > 6 {
        text.push_str(&format!("; … {} more", errors.len() - 6));
    }
    text
}

impl LiteChain {
    /// A chain over `client`, with the local clock and [`DEFAULT_MAX_BLOCK_AGE`].
    pub fn new(client: Arc<LiteClient>) -> LiteChain {
        LiteChain {
            client,
            max_block_age: DEFAULT_MAX_BLOCK_AGE,
            synced: Mutex::new(None),
            sync_gate: tokio::sync::Mutex::new(()),
            block_time: Mutex::new(None),
            clock: Box::new(system_now),
        }
    }

    /// Re-agree the masterchain block before a read once it is older than `age`.
    pub fn with_max_block_age(mut self, age: Duration) -> LiteChain {
        self.max_block_age = age;
        self
    }

    /// Use `clock` (unix seconds) instead of the local clock when a block's time cannot be
    /// read.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> LiteChain {
        self.clock = Box::new(clock);
        self
    }

    /// `gen_utime` of `block` (cached for the last block), or the fallback clock.
    async fn block_utime(&self, block: &BlockIdExt) -> u64 {
        let cached = *self.block_time.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seqno, utime)) = cached {
            if seqno == block.seqno {
                return u64::from(utime);
            }
        }
        match self.client.block_utime(block).await {
            Ok(utime) => {
                *self.block_time.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((block.seqno, utime));
                u64::from(utime)
            }
            Err(e) => {
                tracing::warn!(block = %block, error = %e,
                    "block time not readable; using the local clock");
                (self.clock)()
            }
        }
    }

    /// The liteserver client.
    pub fn client(&self) -> &Arc<LiteClient> {
        &self.client
    }

    fn recent(&self) -> Option<BlockIdExt> {
        let synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        synced
            .filter(|(at, _)| at.elapsed() < self.max_block_age)
            .map(|(_, block)| block)
    }

    /// The agreed block, re-synced when older than the maximum age.
    pub async fn fresh_block(&self) -> Result<BlockIdExt, ChainError> {
        if let Some(block) = self.recent() {
            return Ok(block);
        }
        let _gate = self.sync_gate.lock().await;
        if let Some(block) = self.recent() {
            return Ok(block);
        }
        let block = self.client.sync().await.map_err(chain_error)?;
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), block));
        Ok(block)
    }

    async fn account_now(
        &self,
        address: &TonAddress,
    ) -> Result<Option<AccountSnapshot>, ChainError> {
        self.fresh_block().await?;
        let state = self
            .client
            .account_state(&account_id(address))
            .await
            .map_err(chain_error)?;
        if state.status == AccountStatus::Nonexistent {
            return Ok(None);
        }
        let (code, data) = match state.status {
            AccountStatus::Active => (state.code, state.data),
            _ => (None, None),
        };
        Ok(Some(AccountSnapshot {
            balance: state.balance,
            code,
            data,
            last_tx: (state.last_trans_lt != 0).then_some(TxId {
                lt: state.last_trans_lt,
                hash: state.last_trans_hash,
            }),
        }))
    }

    async fn transactions_now(
        &self,
        address: &TonAddress,
        from: TxId,
        limit: usize,
    ) -> Result<Vec<ChainTx>, ChainError> {
        let limit = limit.min(MAX_TRANSACTIONS_PER_CALL);
        let id = account_id(address);
        let mut out = Vec::with_capacity(limit.min(64));
        let mut next = Some(from);
        while let Some(at) = next {
            let wanted = limit.saturating_sub(out.len());
            if wanted == 0 {
                break;
            }
            let count = u32::try_from(wanted)
                .unwrap_or(MAX_TRANSACTIONS_PER_QUERY)
                .min(MAX_TRANSACTIONS_PER_QUERY);
            let page = self
                .client
                .transactions(&id, at.lt, at.hash, count)
                .await
                .map_err(chain_error)?;
            if page.is_empty() {
                break;
            }
            let full = page.len() as u32 == count;
            next = None;
            for tx in page {
                let converted = chain_tx(address, tx);
                next = converted.prev;
                out.push(converted);
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }
}

fn chain_tx(account: &TonAddress, tx: Transaction) -> ChainTx {
    let in_msg = tx.in_msg.as_ref().and_then(|cell| match parse_in_msg(cell) {
        Ok(msg) => msg,
        Err(e) => {
            tracing::warn!(account = %account.to_hex(), lt = tx.lt, error = %e, "inbound message does not decode; ignored");
            None
        }
    });
    ChainTx {
        id: TxId {
            lt: tx.lt,
            hash: tx.hash,
        },
        prev: (tx.prev_lt != 0).then_some(TxId {
            lt: tx.prev_lt,
            hash: tx.prev_hash,
        }),
        utime: u64::from(tx.now),
        in_msg,
    }
}

/// A coins amount from its big-endian bytes.
fn coins_u128(bytes: &[u8]) -> Result<NanoTon, String> {
    if bytes.len() > 16 {
        return Err("message value exceeds 128 bits".into());
    }
    Ok(bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b)))
}

/// Decodes a transaction's inbound message: `Ok(None)` for an outbound-external form
/// (which a transaction never has as its inbound message).
pub fn parse_in_msg(cell: &ArcCell) -> Result<Option<InMsg>, String> {
    let message = Message::from_cell(cell).map_err(|e| e.to_string())?;
    let body = message.body.value;
    match message.info {
        CommonMsgInfo::Int(info) => {
            let source = match info.src {
                MsgAddress::Int(MsgAddressInt::Std(std)) => {
                    let hash = TonHash::try_from(std.address.as_slice())
                        .map_err(|e| format!("sender address: {e}"))?;
                    Some(TonAddress::new(std.workchain, hash))
                }
                other => return Err(format!("unsupported sender address {other:?}")),
            };
            Ok(Some(InMsg {
                source,
                body,
                value: coins_u128(&info.value.grams.amount.to_bytes_be())?,
            }))
        }
        CommonMsgInfo::ExtIn(_) => Ok(Some(InMsg {
            source: None,
            body,
            value: 0,
        })),
        CommonMsgInfo::ExtOut(_) => Ok(None),
    }
}

impl ChainAccess for LiteChain {
    fn last_block(&self) -> ChainFuture<'_, BlockRef> {
        Box::pin(async move {
            let block = self.fresh_block().await?;
            Ok(BlockRef {
                seqno: block.seqno,
                root_hash: block.root_hash,
                utime: self.block_utime(&block).await,
            })
        })
    }

    fn account<'a>(&'a self, address: &'a TonAddress) -> ChainFuture<'a, Option<AccountSnapshot>> {
        Box::pin(self.account_now(address))
    }

    fn transactions<'a>(
        &'a self,
        address: &'a TonAddress,
        from: TxId,
        limit: usize,
    ) -> ChainFuture<'a, Vec<ChainTx>> {
        Box::pin(self.transactions_now(address, from, limit))
    }

    fn send_external<'a>(&'a self, boc: &'a [u8]) -> ChainFuture<'a, ()> {
        Box::pin(async move {
            let status = self.client.send_message(boc).await.map_err(chain_error)?;
            if status != 1 {
                return Err(ChainError::Rejected(format!(
                    "liteserver answered sendMessage with status {status}"
                )));
            }
            Ok(())
        })
    }
}
