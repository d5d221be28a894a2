//! Readers for the few TL-B structures the proofs and results need: block header, shard
//! state, masterchain state extra (shard hashes), hashmap lookup, account and transaction.
//! Every reader refuses exotic (pruned) cells where it needs real data, so a proof that
//! hides a needed part fails instead of being misread.

use thiserror::Error;
use tonlib_core::cell::{ArcCell, Cell, CellParser, TonCellError};

/// A structural problem in a cell tree from a liteserver.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TlbError {
    #[error("cell decode: {0}")]
    Cell(String),
    #[error("{0}: unexpected tag")]
    Tag(&'static str),
    #[error("{0}: needed cell is pruned or exotic")]
    Pruned(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
}

impl From<TonCellError> for TlbError {
    fn from(e: TonCellError) -> Self {
        TlbError::Cell(e.to_string())
    }
}

pub type TlbResult<T> = Result<T, TlbError>;

/// A parser over an ordinary cell; exotic cells (pruned branches, Merkle cells) are refused.
pub fn ordinary<'a>(cell: &'a Cell, what: &'static str) -> TlbResult<CellParser<'a>> {
    if cell.is_exotic() {
        return Err(TlbError::Pruned(what));
    }
    Ok(cell.parser())
}

/// Exotic cell type byte (1 pruned, 2 library, 3 Merkle proof, 4 Merkle update), if exotic.
pub fn exotic_type(cell: &Cell) -> Option<u8> {
    if cell.is_exotic() {
        cell.data().first().copied()
    } else {
        None
    }
}

pub fn tag(p: &mut CellParser, bits: usize, expected: u32, what: &'static str) -> TlbResult<()> {
    if p.load_u32(bits)? != expected {
        return Err(TlbError::Tag(what));
    }
    Ok(())
}

/// Bits needed for `#<= max` (and `#< max+1`).
pub fn bits_for(max: u32) -> usize {
    (32 - max.leading_zeros()) as usize
}

/// `VarUInteger n` with a value of at most 16 bytes.
pub fn var_uint(p: &mut CellParser, n: u32) -> TlbResult<u128> {
    let len = p.load_u32(bits_for(n - 1))? as usize;
    if len > 16 {
        return Err(TlbError::Invalid("VarUInteger longer than 16 bytes"));
    }
    let mut value = 0u128;
    for _ in 0..len {
        value = (value << 8) | u128::from(p.load_u8(8)?);
    }
    Ok(value)
}

/// `CurrencyCollection`: returns the nanoton amount; the extra-currency dict ref is consumed.
pub fn currency_collection(p: &mut CellParser) -> TlbResult<u128> {
    let grams = var_uint(p, 16)?;
    if p.load_bit()? {
        p.next_reference()?;
    }
    Ok(grams)
}

pub fn bits256(p: &mut CellParser) -> TlbResult<[u8; 32]> {
    let mut out = [0u8; 32];
    p.load_slice(&mut out)?;
    Ok(out)
}

/// `ShardIdent` converted to the 64-bit shard id used in block ids.
pub fn shard_ident(p: &mut CellParser) -> TlbResult<(i32, u64)> {
    if p.load_u8(2)? != 0 {
        return Err(TlbError::Tag("ShardIdent"));
    }
    let prefix_bits = p.load_u8(6)?;
    if prefix_bits > 60 {
        return Err(TlbError::Invalid("shard prefix longer than 60 bits"));
    }
    let workchain = p.load_i32(32)?;
    let prefix = p.load_u64(64)?;
    Ok((workchain, prefix | (1u64 << (63 - u32::from(prefix_bits)))))
}

fn key_bit(key: &[u8], index: usize) -> TlbResult<bool> {
    let byte = key
        .get(index / 8)
        .ok_or(TlbError::Invalid("hashmap key too short"))?;
    Ok(byte >> (7 - index % 8) & 1 == 1)
}

/// Reads an `HmLabel` for a node with `max` key bits left and compares it with `key` from
/// bit `pos`. Returns the label length, or `None` when the label does not match the key.
fn match_label(p: &mut CellParser, max: usize, key: &[u8], pos: usize) -> TlbResult<Option<usize>> {
    let len_bits = bits_for(max as u32);
    let (len, same_bit) = if !p.load_bit()? {
        // hml_short: unary length, then the bits.
        let mut len = 0usize;
        while p.load_bit()? {
            len += 1;
            if len > max {
                return Err(TlbError::Invalid("hashmap label longer than key"));
            }
        }
        (len, None)
    } else if !p.load_bit()? {
        (p.load_u32(len_bits)? as usize, None)
    } else {
        let bit = p.load_bit()?;
        (p.load_u32(len_bits)? as usize, Some(bit))
    };
    if len > max {
        return Err(TlbError::Invalid("hashmap label longer than key"));
    }
    let mut matches = true;
    for i in 0..len {
        let label_bit = match same_bit {
            Some(b) => b,
            None => p.load_bit()?,
        };
        if label_bit != key_bit(key, pos + i)? {
            matches = false;
        }
    }
    Ok(matches.then_some(len))
}

/// Looks `key` (of `key_bits` bits) up in a `Hashmap`/`HashmapAug` whose root edge is `root`.
/// Returns the leaf cell and the key bits its label covers; [`leaf_parser`] then positions a
/// parser at the augmentation `extra` (`HashmapAug`) or the value (`Hashmap`).
pub fn hashmap_lookup(
    root: &ArcCell,
    key: &[u8],
    key_bits: usize,
) -> TlbResult<Option<(ArcCell, usize)>> {
    let mut cell = root.clone();
    let mut pos = 0usize;
    loop {
        let next = {
            let mut p = ordinary(&cell, "hashmap node")?;
            let left = key_bits - pos;
            let Some(len) = match_label(&mut p, left, key, pos)? else {
                return Ok(None);
            };
            pos += len;
            if pos == key_bits {
                return Ok(Some((cell.clone(), left)));
            }
            let branch = usize::from(key_bit(key, pos)?);
            pos += 1;
            cell.reference(branch)?.clone()
        };
        cell = next;
    }
}

/// Re-reads a leaf found by [`hashmap_lookup`] and returns a parser just past its label.
pub fn leaf_parser<'a>(leaf: &'a Cell, key_bits_left: usize) -> TlbResult<CellParser<'a>> {
    let mut p = ordinary(leaf, "hashmap leaf")?;
    skip_label(&mut p, key_bits_left)?;
    Ok(p)
}

fn skip_label(p: &mut CellParser, max: usize) -> TlbResult<usize> {
    let len_bits = bits_for(max as u32);
    let len = if !p.load_bit()? {
        let mut len = 0usize;
        while p.load_bit()? {
            len += 1;
            if len > max {
                return Err(TlbError::Invalid("hashmap label longer than key"));
            }
        }
        p.skip_bits(len)?;
        len
    } else if !p.load_bit()? {
        let len = p.load_u32(len_bits)? as usize;
        p.skip_bits(len)?;
        len
    } else {
        p.load_bit()?;
        p.load_u32(len_bits)? as usize
    };
    if len > max {
        return Err(TlbError::Invalid("hashmap label longer than key"));
    }
    Ok(len)
}

/// Collects the values of a `Hashmap n ^X` (each leaf holds one reference), in key order.
/// Used for a transaction's out_msgs (n = 15), so recursion depth is at most 16.
pub fn hashmap_ref_values(
    root: &ArcCell,
    key_bits: usize,
    out: &mut Vec<ArcCell>,
    limit: usize,
) -> TlbResult<()> {
    let mut p = ordinary(root, "hashmap node")?;
    let len = skip_label(&mut p, key_bits)?;
    let left = key_bits - len;
    if left == 0 {
        if out.len() >= limit {
            return Err(TlbError::Invalid("too many hashmap entries"));
        }
        out.push(p.next_reference()?);
        return Ok(());
    }
    let (l, r) = (p.next_reference()?, p.next_reference()?);
    hashmap_ref_values(&l, left - 1, out, limit)?;
    hashmap_ref_values(&r, left - 1, out, limit)
}

/// `MsgAddressInt`: only `addr_std` without anycast is accepted (all accounts we read).
pub fn std_address(p: &mut CellParser) -> TlbResult<(i32, [u8; 32])> {
    if p.load_u8(2)? != 0b10 {
        return Err(TlbError::Tag("MsgAddressInt (addr_std expected)"));
    }
    if p.load_bit()? {
        return Err(TlbError::Invalid("anycast addresses are not supported"));
    }
    let workchain = i32::from(p.load_i8(8)?);
    Ok((workchain, bits256(p)?))
}
