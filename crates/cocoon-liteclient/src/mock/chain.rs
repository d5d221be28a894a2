//! Builds the cells a mock liteserver serves: a masterchain block and state naming one
//! basechain shard block, that shard's state with the test's accounts, their transaction
//! chains, and Merkle proofs of all of it.
//!
//! These are SIMULATED blocks: they carry every field the client's proof checks read
//! (tags, block info ids, state update, shard hashes, accounts dictionary, account and
//! transaction layouts) with real hashes, but zeros or empty cells elsewhere; they are not
//! blocks a TON validator would accept.

use std::collections::BTreeMap;

use tonlib_core::cell::{ArcCell, CellBuilder, TonCellError};

use crate::tl::{AccountId, BlockIdExt, MASTERCHAIN, SHARD_FULL};

type BuildResult<T> = Result<T, TonCellError>;
/// Writes one dictionary leaf's content (after its label).
type LeafWriter<'a> = dyn Fn(&mut CellBuilder) -> BuildResult<()> + 'a;
/// A dictionary entry to build: key bits (big-endian bytes) and its leaf writer.
type DictEntry<'a> = (Vec<u8>, &'a LeafWriter<'a>);

/// One transaction to put in an account's history.
#[derive(Debug, Clone)]
pub struct MockTransactionSpec {
    pub lt: u64,
    pub now: u32,
    pub in_msg: Option<ArcCell>,
    pub out_msgs: Vec<ArcCell>,
}

/// An account the mock serves.
#[derive(Debug, Clone)]
pub struct MockAccount {
    pub address: AccountId,
    pub balance: u128,
    pub code: Option<ArcCell>,
    pub data: Option<ArcCell>,
    /// Oldest first; lts must increase.
    pub transactions: Vec<MockTransactionSpec>,
}

/// What a mock chain looks like at one masterchain seqno.
#[derive(Debug, Clone)]
pub struct MockChain {
    pub mc_seqno: u32,
    /// Differs between "forks": two chains with another `global_id` disagree on every hash.
    pub global_id: i32,
    /// `gen_utime` of its blocks (the chain's clock, unix seconds).
    pub now: u32,
    pub accounts: Vec<MockAccount>,
}

/// A built transaction.
#[derive(Debug, Clone)]
pub struct BuiltTransaction {
    pub lt: u64,
    pub hash: [u8; 32],
    pub cell: ArcCell,
}

/// The cells of one built chain.
#[derive(Debug, Clone)]
pub struct BuiltChain {
    pub mc_block: BlockIdExt,
    pub shard_block: BlockIdExt,
    pub mc_block_cell: ArcCell,
    pub mc_state_cell: ArcCell,
    pub shard_block_cell: ArcCell,
    pub shard_state_cell: ArcCell,
    /// Account cells and transactions (newest last) by address.
    pub accounts: BTreeMap<AccountId, (ArcCell, Vec<BuiltTransaction>)>,
}

fn cell(build: impl FnOnce(&mut CellBuilder) -> BuildResult<()>) -> BuildResult<ArcCell> {
    let mut b = CellBuilder::new();
    build(&mut b)?;
    Ok(b.build()?.to_arc())
}

fn empty() -> BuildResult<ArcCell> {
    cell(|_| Ok(()))
}

fn exotic(data: &[u8], bits: usize, refs: &[ArcCell]) -> BuildResult<ArcCell> {
    let mut b = CellBuilder::new();
    b.set_cell_is_exotic(true);
    b.store_bits(bits, data)?;
    b.store_references(refs)?;
    Ok(b.build()?.to_arc())
}

/// A pruned branch standing for `of` (level 1).
pub fn pruned(of: &ArcCell) -> BuildResult<ArcCell> {
    let mut data = vec![1u8, 1u8];
    data.extend_from_slice(of.get_hash(0).as_slice());
    data.extend_from_slice(&of.get_depth(0).to_be_bytes());
    exotic(&data, 288, &[])
}

/// A Merkle proof cell over `of`.
pub fn merkle_proof(of: &ArcCell) -> BuildResult<ArcCell> {
    let mut data = vec![3u8];
    data.extend_from_slice(of.get_hash(0).as_slice());
    data.extend_from_slice(&of.get_depth(0).to_be_bytes());
    exotic(&data, 280, std::slice::from_ref(of))
}

fn merkle_update(old: &ArcCell, new: &ArcCell) -> BuildResult<ArcCell> {
    let (old_p, new_p) = (pruned(old)?, pruned(new)?);
    let mut data = vec![4u8];
    data.extend_from_slice(old.get_hash(0).as_slice());
    data.extend_from_slice(new.get_hash(0).as_slice());
    data.extend_from_slice(&old.get_depth(0).to_be_bytes());
    data.extend_from_slice(&new.get_depth(0).to_be_bytes());
    exotic(&data, 552, &[old_p, new_p])
}

fn store_grams(b: &mut CellBuilder, amount: u128) -> BuildResult<()> {
    let bytes = amount.to_be_bytes();
    let skip = bytes.iter().take_while(|x| **x == 0).count();
    b.store_u8(4, (16 - skip) as u8)?;
    b.store_slice(&bytes[skip..])?;
    Ok(())
}

fn store_shard_ident(b: &mut CellBuilder, workchain: i32) -> BuildResult<()> {
    b.store_u8(2, 0)?
        .store_u8(6, 0)?
        .store_i32(32, workchain)?
        .store_u64(64, 0)?;
    Ok(())
}

fn key_bit(key: &[u8], i: usize) -> bool {
    key.get(i / 8).is_some_and(|b| b >> (7 - i % 8) & 1 == 1)
}

/// Builds a `Hashmap`/`HashmapAug` edge over `entries` (key, leaf writer) from bit `pos`.
/// Labels always use the `hml_long` form; `extra` writes the augmentation (if any).
fn hashmap_edge(
    entries: &[DictEntry<'_>],
    pos: usize,
    key_bits: usize,
    extra: &LeafWriter<'_>,
) -> BuildResult<ArcCell> {
    let first = &entries[0].0;
    let mut common = 0;
    while pos + common < key_bits
        && entries
            .iter()
            .all(|(k, _)| key_bit(k, pos + common) == key_bit(first, pos + common))
    {
        common += 1;
    }
    let max = key_bits - pos;
    let len_bits = (32 - (max as u32).leading_zeros()) as usize;
    let write_label = |b: &mut CellBuilder| -> BuildResult<()> {
        b.store_bit(true)?
            .store_bit(false)?
            .store_u32(len_bits, common as u32)?;
        for i in 0..common {
            b.store_bit(key_bit(first, pos + i))?;
        }
        Ok(())
    };
    if pos + common == key_bits {
        return cell(|b| {
            write_label(b)?;
            (entries[0].1)(b)
        });
    }
    let split = pos + common;
    let left: Vec<_> = entries
        .iter()
        .filter(|(k, _)| !key_bit(k, split))
        .map(|(k, f)| (k.clone(), *f))
        .collect();
    let right: Vec<_> = entries
        .iter()
        .filter(|(k, _)| key_bit(k, split))
        .map(|(k, f)| (k.clone(), *f))
        .collect();
    let l = hashmap_edge(&left, split + 1, key_bits, extra)?;
    let r = hashmap_edge(&right, split + 1, key_bits, extra)?;
    cell(|b| {
        write_label(b)?;
        b.store_reference(&l)?.store_reference(&r)?;
        extra(b)
    })
}

fn account_cell(a: &MockAccount, last_lt: u64) -> BuildResult<ArcCell> {
    cell(|b| {
        b.store_bit(true)?; // account$1
        b.store_u8(2, 0b10)?
            .store_bit(false)?
            .store_i8(8, a.address.workchain as i8)?
            .store_slice(&a.address.id)?;
        b.store_u8(3, 0)?.store_u8(3, 0)?.store_u8(3, 0)?; // cells, bits, storage_extra_none
        b.store_u32(32, 0)?.store_bit(false)?; // last_paid, no due payment
        b.store_u64(64, last_lt)?;
        store_grams(b, a.balance)?;
        b.store_bit(false)?; // no extra currencies
        b.store_bit(true)?.store_bit(false)?.store_bit(false)?; // active, no split_depth, no special
        b.store_ref_cell_optional(a.code.as_ref())?;
        b.store_ref_cell_optional(a.data.as_ref())?;
        b.store_bit(false)?; // no libraries
        Ok(())
    })
}

fn transaction_cell(
    account: &AccountId,
    spec: &MockTransactionSpec,
    prev: (u64, [u8; 32]),
) -> BuildResult<ArcCell> {
    let out_entries: Vec<(Vec<u8>, ArcCell)> = spec
        .out_msgs
        .iter()
        .enumerate()
        .map(|(i, m)| (((i as u16) << 1).to_be_bytes().to_vec(), m.clone()))
        .collect();
    let writers: Vec<Box<LeafWriter<'static>>> = out_entries
        .iter()
        .map(|(_, m)| {
            let m = m.clone();
            Box::new(move |b: &mut CellBuilder| b.store_reference(&m).map(|_| ()))
                as Box<LeafWriter<'static>>
        })
        .collect();
    let entries: Vec<DictEntry<'_>> = out_entries
        .iter()
        .zip(&writers)
        .map(|((k, _), w)| (k.clone(), w.as_ref()))
        .collect();
    let no_extra = |_: &mut CellBuilder| Ok(());
    let out_root = if entries.is_empty() {
        None
    } else {
        Some(hashmap_edge(&entries, 0, 15, &no_extra)?)
    };
    let msgs = cell(|b| {
        b.store_ref_cell_optional(spec.in_msg.as_ref())?;
        b.store_ref_cell_optional(out_root.as_ref())?;
        Ok(())
    })?;
    let hash_update = cell(|b| {
        b.store_u8(8, 0x72)?.store_slice(&[0; 64])?;
        Ok(())
    })?;
    cell(|b| {
        b.store_u8(4, 0b0111)?
            .store_slice(&account.id)?
            .store_u64(64, spec.lt)?;
        b.store_slice(&prev.1)?
            .store_u64(64, prev.0)?
            .store_u32(32, spec.now)?;
        b.store_u16(15, spec.out_msgs.len() as u16)?
            .store_u8(2, 0b10)?
            .store_u8(2, 0b10)?;
        b.store_reference(&msgs)?;
        store_grams(b, 0)?;
        b.store_bit(false)?;
        b.store_reference(&hash_update)?
            .store_reference(&empty()?)?;
        Ok(())
    })
}

fn shard_state(
    chain: &MockChain,
    workchain: i32,
    seqno: u32,
    accounts: &[(AccountId, ArcCell, u64, [u8; 32], u128)],
    custom: Option<ArcCell>,
) -> BuildResult<ArcCell> {
    let balance_extra = |b: &mut CellBuilder, amount: u128| -> BuildResult<()> {
        b.store_u8(5, 0)?;
        store_grams(b, amount)?;
        b.store_bit(false)?;
        Ok(())
    };
    let writers: Vec<Box<LeafWriter<'static>>> = accounts
        .iter()
        .map(|(_, cell, lt, hash, balance)| {
            let (cell, lt, hash, balance) = (cell.clone(), *lt, *hash, *balance);
            Box::new(move |b: &mut CellBuilder| {
                balance_extra(b, balance)?;
                b.store_reference(&cell)?
                    .store_slice(&hash)?
                    .store_u64(64, lt)?;
                Ok(())
            }) as Box<LeafWriter<'static>>
        })
        .collect();
    let entries: Vec<DictEntry<'_>> = accounts
        .iter()
        .zip(&writers)
        .map(|((a, ..), w)| (a.id.to_vec(), w.as_ref()))
        .collect();
    let fork_extra = |b: &mut CellBuilder| balance_extra(b, 0);
    let accounts_cell = if entries.is_empty() {
        cell(|b| {
            b.store_bit(false)?;
            balance_extra(b, 0)
        })?
    } else {
        let root = hashmap_edge(&entries, 0, 256, &fork_extra)?;
        cell(|b| {
            b.store_bit(true)?.store_reference(&root)?;
            balance_extra(b, 0)
        })?
    };
    cell(|b| {
        b.store_u32(32, 0x9023_afe2)?
            .store_i32(32, chain.global_id)?;
        store_shard_ident(b, workchain)?;
        b.store_u32(32, seqno)?
            .store_u32(32, 0)?
            .store_u32(32, 1_700_000_000 + seqno)?;
        b.store_u64(64, u64::from(seqno) * 1_000_000)?
            .store_u32(32, 0)?;
        b.store_bit(false)?.store_bit(custom.is_some())?;
        b.store_reference(&empty()?)?
            .store_reference(&accounts_cell)?
            .store_reference(&empty()?)?;
        if let Some(custom) = &custom {
            b.store_reference(custom)?;
        }
        Ok(())
    })
}

fn block(
    chain: &MockChain,
    workchain: i32,
    seqno: u32,
    state: &ArcCell,
) -> BuildResult<(ArcCell, BlockIdExt)> {
    let info = cell(|b| {
        b.store_u32(32, 0x9bc7_a987)?.store_u32(32, 0)?;
        b.store_bit(workchain != MASTERCHAIN)?
            .store_u8(7, 0)?
            .store_u8(8, 0)?;
        b.store_u32(32, seqno)?.store_u32(32, 0)?;
        store_shard_ident(b, workchain)?;
        b.store_u32(32, chain.now)?
            .store_u64(64, u64::from(seqno) * 1_000_000)?;
        b.store_u64(64, u64::from(seqno) * 1_000_000 + 999)?
            .store_slice(&[0; 16])?;
        b.store_reference(&empty()?)?;
        Ok(())
    })?;
    let update = merkle_update(state, state)?;
    let root = cell(|b| {
        b.store_u32(32, 0x11ef_55aa)?
            .store_i32(32, chain.global_id)?;
        b.store_reference(&info)?
            .store_reference(&empty()?)?
            .store_reference(&update)?
            .store_reference(&empty()?)?;
        Ok(())
    })?;
    let root_hash: [u8; 32] = root.get_hash(0).into();
    let mut file_hash = root_hash;
    file_hash.reverse();
    let id = BlockIdExt {
        workchain,
        shard: SHARD_FULL,
        seqno,
        root_hash,
        file_hash,
    };
    Ok((root, id))
}

impl MockChain {
    /// Builds every cell of this chain state.
    pub fn build(&self) -> BuildResult<BuiltChain> {
        let mut built_accounts = BTreeMap::new();
        let mut shard_accounts = Vec::new();
        let mut mc_accounts = Vec::new();
        for a in &self.accounts {
            let mut prev = (0u64, [0u8; 32]);
            let mut txs = Vec::new();
            for spec in &a.transactions {
                let tx = transaction_cell(&a.address, spec, prev)?;
                let hash: [u8; 32] = tx.cell_hash().into();
                prev = (spec.lt, hash);
                txs.push(BuiltTransaction {
                    lt: spec.lt,
                    hash,
                    cell: tx,
                });
            }
            let acc = account_cell(a, prev.0)?;
            let entry = (a.address, acc.clone(), prev.0, prev.1, a.balance);
            if a.address.workchain == MASTERCHAIN {
                mc_accounts.push(entry)
            } else {
                shard_accounts.push(entry)
            }
            built_accounts.insert(a.address, (acc, txs));
        }
        let shard_seqno = self.mc_seqno * 2;
        let shard_state_cell = shard_state(self, 0, shard_seqno, &shard_accounts, None)?;
        let (shard_block_cell, shard_block) = block(self, 0, shard_seqno, &shard_state_cell)?;
        let descr = cell(|b| {
            b.store_bit(false)?
                .store_u8(4, 0xb)?
                .store_u32(32, shard_seqno)?
                .store_u32(32, self.mc_seqno)?;
            b.store_u64(64, 0)?
                .store_u64(64, 0)?
                .store_slice(&shard_block.root_hash)?
                .store_slice(&shard_block.file_hash)?;
            Ok(())
        })?;
        let write_descr = |b: &mut CellBuilder| b.store_reference(&descr).map(|_| ());
        let shard_hashes = hashmap_edge(
            &[(0i32.to_be_bytes().to_vec(), &write_descr)],
            0,
            32,
            &|_| Ok(()),
        )?;
        let extra = cell(|b| {
            b.store_u16(16, 0xcc26)?
                .store_bit(true)?
                .store_reference(&shard_hashes)?;
            b.store_slice(&[0; 32])?.store_reference(&empty()?)?;
            Ok(())
        })?;
        let mc_state_cell =
            shard_state(self, MASTERCHAIN, self.mc_seqno, &mc_accounts, Some(extra))?;
        let (mc_block_cell, mc_block) = block(self, MASTERCHAIN, self.mc_seqno, &mc_state_cell)?;
        Ok(BuiltChain {
            mc_block,
            shard_block,
            mc_block_cell,
            mc_state_cell,
            shard_block_cell,
            shard_state_cell,
            accounts: built_accounts,
        })
    }
}
