//! Checks of what a liteserver returns against the masterchain block the client trusts.
//!
//! Verified here (see TRUST.md for the whole picture):
//! * block header proof: a Merkle proof whose virtual root hash equals the block id's
//!   `root_hash`, whose `BlockInfo` names the same workchain/shard/seqno, and whose
//!   `state_update` Merkle update yields the hash of the block's new state;
//! * state proof: a Merkle proof whose virtual root hash equals that state hash;
//! * shard proof (basechain accounts): masterchain block proof + masterchain state proof,
//!   whose `McStateExtra.shard_hashes` names exactly the shard block the answer is for;
//! * account proof: shard block proof + shard state proof; the account's `ShardAccount` is
//!   looked up in the state's accounts dictionary and must reference exactly the hash of the
//!   returned account state (or be absent when the returned state is empty); the last
//!   transaction lt/hash come from that proven `ShardAccount`;
//! * transaction lists: each transaction's cell hash must equal the hash expected from the
//!   previous link (starting at the caller's lt/hash), with matching lt and account.
//!
//! Not verified: that the masterchain block itself is final and signed by validators (the
//! client trusts it because a quorum of liteservers agree on it), and `file_hash` values.

use thiserror::Error;
use tonlib_core::cell::ArcCell;

use crate::boc::{parse_boc, parse_boc_roots, BocError};
use crate::tl::{AccountId, BlockIdExt, MASTERCHAIN};
use crate::tlb::{
    self, bits256, exotic_type, hashmap_lookup, leaf_parser, ordinary, tag, TlbError,
};

/// A proof or result that does not check out.
#[derive(Debug, Error)]
pub enum ProofError {
    #[error(transparent)]
    Boc(#[from] BocError),
    #[error(transparent)]
    Tlb(#[from] TlbError),
    #[error("proof mismatch: {0}")]
    Mismatch(String),
}

type ProofResult<T> = Result<T, ProofError>;

impl From<tonlib_core::cell::TonCellError> for ProofError {
    fn from(e: tonlib_core::cell::TonCellError) -> Self {
        ProofError::Tlb(e.into())
    }
}

fn mismatch(text: impl Into<String>) -> ProofError {
    ProofError::Mismatch(text.into())
}

/// Opens a Merkle proof cell: returns its virtual root (the proven cell, pruned inside).
fn open_merkle_proof(
    proof: &ArcCell,
    expected_hash: &[u8; 32],
    what: &str,
) -> ProofResult<ArcCell> {
    if exotic_type(proof) != Some(3) {
        return Err(mismatch(format!("{what}: root is not a Merkle proof cell")));
    }
    let inner = proof.reference(0).map_err(TlbError::from)?.clone();
    if inner.get_hash(0).as_slice() != expected_hash {
        return Err(mismatch(format!(
            "{what}: proven root hash differs from the expected hash"
        )));
    }
    Ok(inner)
}

/// The fields of a block's `BlockInfo` the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    pub workchain: i32,
    pub shard: u64,
    pub seqno: u32,
    /// When the block was generated (unix seconds): the chain's clock.
    pub gen_utime: u32,
}

/// Reads `BlockInfo` from a block root (`block#11ef55aa global_id:int32 info:^BlockInfo …`;
/// `block_info#9bc7a987 version:uint32` 8 flag bits `flags:(## 8) seq_no:# vert_seq_no:#
/// shard:ShardIdent gen_utime:uint32 …`).
pub fn block_info(root: &ArcCell) -> ProofResult<BlockInfo> {
    let mut p = ordinary(root, "block")?;
    tag(&mut p, 32, 0x11ef_55aa, "Block")?;
    let info_cell = root.reference(0).map_err(TlbError::from)?;
    let mut info = ordinary(info_cell, "block info")?;
    tag(&mut info, 32, 0x9bc7_a987, "BlockInfo")?;
    info.skip_bits(32 + 8 + 8)?; // version, eight flag bits, flags
    let seqno = info.load_u32(32)?;
    info.skip_bits(32)?; // vert_seq_no
    let (workchain, shard) = tlb::shard_ident(&mut info)?;
    let gen_utime = info.load_u32(32)?;
    Ok(BlockInfo {
        workchain,
        shard,
        seqno,
        gen_utime,
    })
}

/// Checks a block header proof against `block` (root hash, workchain, shard, seqno);
/// returns the proven block root and its info.
pub fn check_block_header_info(
    proof: &ArcCell,
    block: &BlockIdExt,
) -> ProofResult<(ArcCell, BlockInfo)> {
    let root = open_merkle_proof(proof, &block.root_hash, "block proof")?;
    let info = block_info(&root)?;
    let BlockInfo {
        workchain,
        shard,
        seqno,
        ..
    } = info;
    if (workchain, shard, seqno) != (block.workchain, block.shard, block.seqno) {
        return Err(mismatch(format!(
            "block proof is for ({workchain},{shard:016x},{seqno}), expected {block}"
        )));
    }
    Ok((root, info))
}

/// Checks a block header proof against `block` (root hash, workchain, shard, seqno);
/// returns the proven block root.
pub fn check_block_header(proof: &ArcCell, block: &BlockIdExt) -> ProofResult<ArcCell> {
    check_block_header_info(proof, block).map(|(root, _)| root)
}

/// Checks a block proof against `block`; returns the hash of the block's new state.
pub fn check_block_proof(proof: &ArcCell, block: &BlockIdExt) -> ProofResult<[u8; 32]> {
    let root = check_block_header(proof, block)?;
    let update = root.reference(2).map_err(TlbError::from)?;
    if exotic_type(update) != Some(4) {
        return Err(mismatch("block state_update is not a Merkle update"));
    }
    let new_state = update.reference(1).map_err(TlbError::from)?;
    Ok(new_state.get_hash(0).into())
}

/// Opens a state proof against a state hash; returns the virtual `ShardStateUnsplit` root.
fn open_state(proof: &ArcCell, state_hash: &[u8; 32], what: &str) -> ProofResult<ArcCell> {
    let root = open_merkle_proof(proof, state_hash, what)?;
    let mut p = ordinary(&root, "shard state")?;
    tag(&mut p, 32, 0x9023_afe2, "ShardStateUnsplit")?;
    Ok(root)
}

/// Prefix length of a 64-bit shard id (bits before its lowest set bit).
fn shard_prefix_len(shard: u64) -> u32 {
    63u32.saturating_sub(shard.trailing_zeros())
}

/// Whether the shard with 64-bit id `shard` holds accounts whose id starts like `account`.
fn shard_contains(shard: u64, account: &[u8; 32]) -> bool {
    let prefix_len = shard_prefix_len(shard);
    if prefix_len == 0 {
        return true;
    }
    let mut top = [0u8; 8];
    top.copy_from_slice(&account[..8]);
    let mask = !0u64 << (64 - prefix_len);
    (u64::from_be_bytes(top) & mask) == (shard & mask)
}

/// Checks `shard_proof` (2 roots: masterchain block proof, masterchain state proof) and that
/// the masterchain state lists `shard_block` as the top block of its shard.
pub fn check_shard_proof(
    mc_block: &BlockIdExt,
    shard_block: &BlockIdExt,
    shard_proof: &[u8],
) -> ProofResult<()> {
    let roots = parse_boc_roots(shard_proof, 2)?;
    let state_hash = check_block_proof(&roots[0], mc_block)?;
    let state = open_state(&roots[1], &state_hash, "masterchain state proof")?;
    let mut p = ordinary(&state, "masterchain state")?;
    p.skip_bits(32 + 32 + 104 + 32 + 32 + 32 + 64 + 32 + 1)?;
    if !p.load_bit()? {
        return Err(mismatch("masterchain state has no McStateExtra"));
    }
    let extra = state.reference(3).map_err(TlbError::from)?;
    let mut e = ordinary(extra, "McStateExtra")?;
    tag(&mut e, 16, 0xcc26, "McStateExtra")?;
    if !e.load_bit()? {
        return Err(mismatch("masterchain state has no shard hashes"));
    }
    let shard_hashes = e.next_reference()?;
    let key = (shard_block.workchain as u32).to_be_bytes();
    let Some((leaf, left)) = hashmap_lookup(&shard_hashes, &key, 32)? else {
        return Err(mismatch(format!(
            "workchain {} is not in the shard configuration",
            shard_block.workchain
        )));
    };
    let mut leaf_p = leaf_parser(&leaf, left)?;
    let mut node = leaf_p.next_reference()?;
    let prefix_len = shard_prefix_len(shard_block.shard);
    let mut depth = 0u32;
    loop {
        let next = {
            let mut n = ordinary(&node, "shard tree node")?;
            if !n.load_bit()? {
                if depth != prefix_len {
                    return Err(mismatch(
                        "shard configuration splits differently from the shard block",
                    ));
                }
                return check_shard_descr(&mut n, shard_block);
            }
            if depth >= prefix_len {
                return Err(mismatch(
                    "shard configuration splits differently from the shard block",
                ));
            }
            let bit = (shard_block.shard >> (63 - depth)) & 1;
            node.reference(bit as usize)
                .map_err(TlbError::from)?
                .clone()
        };
        node = next;
        depth += 1;
    }
}

fn check_shard_descr(
    p: &mut tonlib_core::cell::CellParser,
    shard_block: &BlockIdExt,
) -> ProofResult<()> {
    let t = p.load_u8(4)?;
    if t != 0xa && t != 0xb {
        return Err(TlbError::Tag("ShardDescr").into());
    }
    let seqno = p.load_u32(32)?;
    p.skip_bits(32 + 64 + 64)?;
    let (root_hash, file_hash) = (bits256(p)?, bits256(p)?);
    if seqno != shard_block.seqno
        || root_hash != shard_block.root_hash
        || file_hash != shard_block.file_hash
    {
        return Err(mismatch(format!(
            "masterchain names shard block seqno {seqno}, answer is for {shard_block}"
        )));
    }
    Ok(())
}

/// What the proven `ShardAccount` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenAccount {
    /// Whether the account exists in the shard state.
    pub exists: bool,
    pub last_trans_lt: u64,
    pub last_trans_hash: [u8; 32],
}

/// Checks the account `proof` (2 roots: shard block proof, shard state proof) for `account`
/// at `shard_block` against the returned account state root (`None` when empty).
pub fn check_account_proof(
    shard_block: &BlockIdExt,
    account: &AccountId,
    proof: &[u8],
    state_root: Option<&ArcCell>,
) -> ProofResult<ProvenAccount> {
    let roots = parse_boc_roots(proof, 2)?;
    let state_hash = check_block_proof(&roots[0], shard_block)?;
    let state = open_state(&roots[1], &state_hash, "shard state proof")?;
    let accounts = state.reference(1).map_err(TlbError::from)?;
    let mut a = ordinary(accounts, "ShardAccounts")?;
    let found = if a.load_bit()? {
        let dict_root = a.next_reference()?;
        hashmap_lookup(&dict_root, &account.id, 256)?
    } else {
        None
    };
    let Some((leaf, left)) = found else {
        if state_root.is_some() {
            return Err(mismatch(
                "proof shows the account absent, but a state was returned",
            ));
        }
        return Ok(ProvenAccount {
            exists: false,
            last_trans_lt: 0,
            last_trans_hash: [0; 32],
        });
    };
    let mut p = leaf_parser(&leaf, left)?;
    p.skip_bits(5)?; // DepthBalanceInfo.split_depth
    tlb::currency_collection(&mut p)?;
    let account_ref = p.next_reference()?;
    let last_trans_hash = bits256(&mut p)?;
    let last_trans_lt = p.load_u64(64)?;
    let Some(state_root) = state_root else {
        return Err(mismatch(
            "proof shows the account present, but an empty state was returned",
        ));
    };
    if account_ref.get_hash(0) != state_root.get_hash(0) {
        return Err(mismatch(
            "returned account state hash differs from the proven one",
        ));
    }
    Ok(ProvenAccount {
        exists: true,
        last_trans_lt,
        last_trans_hash,
    })
}

/// Checks a `liteServer.accountState` answer for `account` at the trusted masterchain block.
pub fn check_account_state(
    mc_block: &BlockIdExt,
    shard_block: &BlockIdExt,
    account: &AccountId,
    shard_proof: &[u8],
    proof: &[u8],
    state_root: Option<&ArcCell>,
) -> ProofResult<ProvenAccount> {
    if account.workchain == MASTERCHAIN {
        if shard_block != mc_block {
            return Err(mismatch("masterchain account answered from another block"));
        }
    } else {
        if shard_block.workchain != account.workchain
            || !shard_contains(shard_block.shard, &account.id)
        {
            return Err(mismatch(format!(
                "shard block {shard_block} cannot contain the account"
            )));
        }
        check_shard_proof(mc_block, shard_block, shard_proof)?;
    }
    check_account_proof(shard_block, account, proof, state_root)
}

/// Parses the roots of a transaction-list BoC (any number of roots).
pub fn transaction_roots(bytes: &[u8]) -> ProofResult<Vec<ArcCell>> {
    Ok(parse_boc(bytes)?)
}

/// Checks that a cell carries no pruned branches (its full hash equals its level-0 hash).
pub fn is_complete(cell: &ArcCell) -> bool {
    cell.cell_hash() == cell.get_hash(0)
}

/// Header fields of a `Transaction` cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionHeader {
    pub account: [u8; 32],
    pub lt: u64,
    pub prev_hash: [u8; 32],
    pub prev_lt: u64,
    pub now: u32,
}

/// Reads the header fields of a `Transaction` cell.
pub fn transaction_header(cell: &ArcCell) -> Result<TransactionHeader, TlbError> {
    let mut p = ordinary(cell, "transaction")?;
    if p.load_u8(4)? != 0b0111 {
        return Err(TlbError::Tag("Transaction"));
    }
    Ok(TransactionHeader {
        account: bits256(&mut p)?,
        lt: p.load_u64(64)?,
        prev_hash: bits256(&mut p)?,
        prev_lt: p.load_u64(64)?,
        now: p.load_u32(32)?,
    })
}
