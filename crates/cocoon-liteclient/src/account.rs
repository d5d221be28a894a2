//! Decoded account states and transactions, as returned to callers.

use tonlib_core::cell::ArcCell;

use crate::tl::{AccountId, BlockIdExt};
use crate::tlb::{self, bits256, ordinary, TlbError};

/// Lifecycle state of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Not in the shard state at all.
    Nonexistent,
    Uninit,
    Active,
    /// Frozen, with the hash of the frozen state.
    Frozen([u8; 32]),
}

/// An account's state at the trusted masterchain block, checked against its proof.
#[derive(Debug, Clone)]
pub struct AccountState {
    pub address: AccountId,
    /// The trusted masterchain block this state belongs to.
    pub mc_block: BlockIdExt,
    /// The shard block the state was read from (proven to be named by `mc_block`).
    pub shard_block: BlockIdExt,
    pub status: AccountStatus,
    /// Balance in nanotons (extra currencies are not reported).
    pub balance: u128,
    pub code: Option<ArcCell>,
    pub data: Option<ArcCell>,
    /// Last transaction (0 / zero hash when the account has none).
    pub last_trans_lt: u64,
    pub last_trans_hash: [u8; 32],
    /// The raw `Account` cell (`None` for a nonexistent account).
    pub account_cell: Option<ArcCell>,
}

/// Fields of an `Account` cell.
pub(crate) struct AccountFields {
    pub status: AccountStatus,
    pub balance: u128,
    pub code: Option<ArcCell>,
    pub data: Option<ArcCell>,
}

/// Decodes an `Account` cell (never `account_none`: a missing account has no cell).
pub(crate) fn parse_account(
    cell: &ArcCell,
    expected: &AccountId,
) -> Result<AccountFields, TlbError> {
    let mut p = ordinary(cell, "account")?;
    if !p.load_bit()? {
        return Err(TlbError::Invalid(
            "account_none returned as an account state",
        ));
    }
    let (workchain, id) = tlb::std_address(&mut p)?;
    if workchain != expected.workchain || id != expected.id {
        return Err(TlbError::Invalid("account state is for another address"));
    }
    // StorageInfo: used cells and bits, storage extra, last_paid, due_payment.
    tlb::var_uint(&mut p, 7)?;
    tlb::var_uint(&mut p, 7)?;
    match p.load_u8(3)? {
        0 => {}
        1 => p.skip_bits(256)?,
        _ => return Err(TlbError::Tag("StorageExtraInfo")),
    }
    p.skip_bits(32)?;
    if p.load_bit()? {
        tlb::var_uint(&mut p, 16)?;
    }
    // AccountStorage: last_trans_lt, balance, state.
    p.skip_bits(64)?;
    let balance = tlb::currency_collection(&mut p)?;
    let (status, code, data) = if p.load_bit()? {
        // account_active: StateInit.
        if p.load_bit()? {
            p.skip_bits(5)?;
        }
        if p.load_bit()? {
            p.skip_bits(2)?;
        }
        let code = if p.load_bit()? {
            Some(p.next_reference()?)
        } else {
            None
        };
        let data = if p.load_bit()? {
            Some(p.next_reference()?)
        } else {
            None
        };
        (AccountStatus::Active, code, data)
    } else if p.load_bit()? {
        (AccountStatus::Frozen(bits256(&mut p)?), None, None)
    } else {
        (AccountStatus::Uninit, None, None)
    };
    Ok(AccountFields {
        status,
        balance,
        code,
        data,
    })
}

/// One transaction of an account, checked to be part of the account's hash chain.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub lt: u64,
    pub hash: [u8; 32],
    pub prev_lt: u64,
    pub prev_hash: [u8; 32],
    /// Unix time of the block that holds it.
    pub now: u32,
    /// The block that holds it (as the liteserver names it; not proven).
    pub block: BlockIdExt,
    pub in_msg: Option<ArcCell>,
    pub out_msgs: Vec<ArcCell>,
    /// The whole `Transaction` cell, for fields not decoded here.
    pub cell: ArcCell,
}

/// Most out messages read from one transaction (TON allows 255 actions).
const MAX_OUT_MSGS: usize = 256;

/// Decodes in_msg and out_msgs of a `Transaction` cell.
pub(crate) fn transaction_messages(
    cell: &ArcCell,
) -> Result<(Option<ArcCell>, Vec<ArcCell>), TlbError> {
    let msgs = cell.reference(0)?;
    let mut p = ordinary(msgs, "transaction messages")?;
    let in_msg = if p.load_bit()? {
        Some(p.next_reference()?)
    } else {
        None
    };
    let mut out_msgs = Vec::new();
    if p.load_bit()? {
        let root = p.next_reference()?;
        tlb::hashmap_ref_values(&root, 15, &mut out_msgs, MAX_OUT_MSGS)?;
    }
    Ok((in_msg, out_msgs))
}
