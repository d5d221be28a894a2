//! Bounded bag-of-cells decoding for bytes that come from a liteserver.
//!
//! `tonlib-core`'s BoC parser trusts its input more than we may: it preallocates by the
//! declared cell count, indexes its cell table by declared reference/root indices, and builds
//! cells whose depth is limited only by the input (a very deep chain would overflow the stack
//! when dropped). [`parse_boc`] first walks the serialized structure itself, checking counts,
//! indices, reference order and depth against fixed limits, and only then hands the bytes to
//! `tonlib-core`, which computes the (level-aware) cell hashes the proofs rely on.

use thiserror::Error;
use tonlib_core::cell::{ArcCell, BagOfCells};

const GENERIC_BOC_MAGIC: u32 = 0xb5ee_9c72;
/// Most cells accepted in one BoC from a liteserver.
pub const MAX_BOC_CELLS: usize = 200_000;
/// Deepest cell tree accepted (TON's own limit on cell depth).
pub const MAX_CELL_DEPTH: u32 = 1024;

/// Why a BoC was refused.
#[derive(Debug, Error)]
pub enum BocError {
    #[error("BoC ends early")]
    Truncated,
    #[error("BoC structure invalid: {0}")]
    Invalid(&'static str),
    #[error("BoC has {0} cells, more than allowed")]
    TooManyCells(usize),
    #[error("BoC cell tree deeper than {MAX_CELL_DEPTH}")]
    TooDeep,
    #[error("BoC has {got} roots, expected {expected}")]
    RootCount { expected: usize, got: usize },
    #[error("BoC rejected by cell decoder: {0}")]
    Cells(String),
}

struct ByteCursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteCursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BocError> {
        let end = self.pos.checked_add(n).ok_or(BocError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(BocError::Truncated)?;
        self.pos = end;
        Ok(out)
    }
    fn byte(&mut self) -> Result<u8, BocError> {
        self.take(1)?.first().copied().ok_or(BocError::Truncated)
    }
    fn uint(&mut self, n: usize) -> Result<usize, BocError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
    }
}

/// Walks the serialized BoC and checks it against the limits; returns the root count.
fn check_structure(bytes: &[u8]) -> Result<usize, BocError> {
    let mut c = ByteCursor { buf: bytes, pos: 0 };
    if c.uint(4)? != GENERIC_BOC_MAGIC as usize {
        return Err(BocError::Invalid("unknown magic"));
    }
    let flags = c.byte()?;
    let has_idx = flags & 0x80 != 0;
    let size = usize::from(flags & 0x07);
    if !(1..=4).contains(&size) {
        return Err(BocError::Invalid("reference size out of range"));
    }
    let off_bytes = usize::from(c.byte()?);
    if !(1..=8).contains(&off_bytes) {
        return Err(BocError::Invalid("offset size out of range"));
    }
    let cells = c.uint(size)?;
    let roots = c.uint(size)?;
    let _absent = c.uint(size)?;
    let _total_size = c.uint(off_bytes)?;
    // Each cell takes at least two descriptor bytes.
    if cells > MAX_BOC_CELLS || cells > bytes.len() / 2 {
        return Err(BocError::TooManyCells(cells));
    }
    if roots == 0 || roots > cells {
        return Err(BocError::Invalid("root count out of range"));
    }
    for _ in 0..roots {
        if c.uint(size)? >= cells {
            return Err(BocError::Invalid("root index out of range"));
        }
    }
    if has_idx {
        c.take(cells.checked_mul(off_bytes).ok_or(BocError::Truncated)?)?;
    }
    let mut refs: Vec<[usize; 4]> = Vec::with_capacity(cells);
    let mut ref_counts: Vec<u8> = Vec::with_capacity(cells);
    for index in 0..cells {
        let d1 = c.byte()?;
        let d2 = c.byte()?;
        let ref_count = d1 & 0x07;
        if ref_count > 4 {
            return Err(BocError::Invalid("cell with more than 4 references"));
        }
        if d1 & 0x10 != 0 {
            let level_mask = u32::from(d1 >> 5);
            let hash_count = level_mask.count_ones() as usize + 1;
            c.take(hash_count * 34)?;
        }
        c.take(usize::from(d2 >> 1) + usize::from(d2 & 1))?;
        let mut cell_refs = [0usize; 4];
        for slot in cell_refs.iter_mut().take(usize::from(ref_count)) {
            let target = c.uint(size)?;
            if target <= index || target >= cells {
                return Err(BocError::Invalid("reference not to a later cell"));
            }
            *slot = target;
        }
        refs.push(cell_refs);
        ref_counts.push(ref_count);
    }
    // Depth, computed from the last cell backwards (references only point forward).
    let mut depth = vec![0u32; cells];
    for index in (0..cells).rev() {
        let count = usize::from(ref_counts.get(index).copied().unwrap_or(0));
        let children = refs.get(index).map(|r| &r[..count]).unwrap_or(&[]);
        let mut d = 0u32;
        for child in children {
            d = d.max(depth.get(*child).copied().unwrap_or(0) + 1);
        }
        if d > MAX_CELL_DEPTH {
            return Err(BocError::TooDeep);
        }
        if let Some(slot) = depth.get_mut(index) {
            *slot = d;
        }
    }
    Ok(roots)
}

/// Parses a BoC from an untrusted source into its root cells, after the structural checks.
pub fn parse_boc(bytes: &[u8]) -> Result<Vec<ArcCell>, BocError> {
    let roots = check_structure(bytes)?;
    let boc = BagOfCells::parse(bytes).map_err(|e| BocError::Cells(e.to_string()))?;
    if boc.roots.len() != roots {
        return Err(BocError::RootCount {
            expected: roots,
            got: boc.roots.len(),
        });
    }
    Ok(boc.roots)
}

/// Parses a BoC that must have exactly `expected` roots.
pub fn parse_boc_roots(bytes: &[u8], expected: usize) -> Result<Vec<ArcCell>, BocError> {
    let roots = parse_boc(bytes)?;
    if roots.len() != expected {
        return Err(BocError::RootCount {
            expected,
            got: roots.len(),
        });
    }
    Ok(roots)
}

/// Parses a single-root BoC.
pub fn parse_single_root(bytes: &[u8]) -> Result<ArcCell, BocError> {
    parse_boc_roots(bytes, 1)?.pop().ok_or(BocError::RootCount {
        expected: 1,
        got: 0,
    })
}

/// Serializes cells as a BoC (no index, with CRC32C), the form liteservers accept.
pub fn serialize_boc(roots: &[ArcCell]) -> Result<Vec<u8>, BocError> {
    BagOfCells::new(roots)
        .serialize(true)
        .map_err(|e| BocError::Cells(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonlib_core::cell::CellBuilder;

    fn chain(len: usize) -> ArcCell {
        let mut cell = CellBuilder::new()
            .store_u8(8, 1)
            .and_then(|b| b.build())
            .map(|c| c.to_arc());
        for i in 0..len {
            let inner = cell.expect("build");
            cell = CellBuilder::new()
                .store_u32(32, i as u32)
                .and_then(|b| b.store_reference(&inner))
                .and_then(|b| b.build())
                .map(|c| c.to_arc());
        }
        cell.expect("build")
    }

    #[test]
    fn round_trip_and_every_truncation_fails() {
        let root = chain(5);
        let bytes = serialize_boc(std::slice::from_ref(&root)).expect("serialize");
        let parsed = parse_single_root(&bytes).expect("parse");
        assert_eq!(parsed.cell_hash(), root.cell_hash());
        for cut in 0..bytes.len() - 4 {
            assert!(parse_boc(&bytes[..cut]).is_err(), "prefix {cut} parsed");
        }
        assert!(matches!(
            parse_boc_roots(&bytes, 2),
            Err(BocError::RootCount {
                expected: 2,
                got: 1
            })
        ));
    }

    #[test]
    fn too_deep_and_hostile_headers_are_refused() {
        let deep = serialize_boc(&[chain(1100)]).expect("serialize");
        assert!(matches!(parse_boc(&deep), Err(BocError::TooDeep)));
        let ok = serialize_boc(&[chain(1000)]).expect("serialize");
        assert!(parse_boc(&ok).is_ok());
        // Claimed 2^32-1 cells in a tiny buffer.
        let mut huge = vec![0xb5, 0xee, 0x9c, 0x72, 0x04, 0x01, 0xff, 0xff, 0xff, 0xff];
        huge.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(parse_boc(&huge), Err(BocError::TooManyCells(_))));
        // Root index past the end, and a reference backwards.
        let mut bad_root = bytes_of_one_cell();
        bad_root[10] = 5;
        assert!(parse_boc(&bad_root).is_err());
        assert!(parse_boc(&[]).is_err());
        let mut fuzz = ok.clone();
        for i in 0..fuzz.len().min(200) {
            fuzz[i] ^= 0x5a;
            let _ = parse_boc(&fuzz);
            fuzz[i] ^= 0x5a;
        }
    }

    fn bytes_of_one_cell() -> Vec<u8> {
        let cell = CellBuilder::new()
            .store_u8(8, 7)
            .and_then(|b| b.build())
            .expect("build")
            .to_arc();
        let bytes = serialize_boc(&[cell]).expect("serialize");
        assert!(parse_boc(&bytes).is_ok());
        bytes
    }
}
