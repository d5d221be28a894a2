//! Bag-of-cells helpers on top of `tonlib-core`: a strict, bounded BoC reader for untrusted
//! bytes, the standard serializer, and `addr_std` / coins field codecs.
//!
//! Why a hand-written reader: `tonlib_core::cell::BagOfCells::parse` trusts the header
//! (it pre-allocates the announced cell count and indexes cells with unchecked reference
//! numbers), so hostile bytes can make it abort or panic. [`parse_single_root`] checks every
//! count, index and length first and accepts only the plain form the reference writes
//! (`std_boc_serialize` mode 0: magic `b5ee9c72`, no index, no CRC, no cache bits, one root,
//! ordinary level-0 cells, forward references, no trailing bytes); it then builds the cells
//! with tonlib's `Cell::new`, which computes the representation hashes.

use std::sync::Arc;

use tonlib_core::cell::{ArcCell, BagOfCells, Cell, CellBuilder, CellParser, TonCellError};
use tonlib_core::{TonAddress, TonHash};

use crate::accounting::NanoTon;

/// Magic of a generic BoC.
pub const BOC_MAGIC: [u8; 4] = [0xb5, 0xee, 0x9c, 0x72];

/// BoC decoding error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BocError {
    /// Input longer than the caller's limit.
    #[error("BoC of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Input length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Input ended early.
    #[error("BoC truncated")]
    Truncated,
    /// Structure the strict reader does not accept.
    #[error("malformed BoC: {0}")]
    Malformed(&'static str),
    /// Error from tonlib-core while building or reading cells.
    #[error("cell error: {0}")]
    Cell(String),
}

impl From<TonCellError> for BocError {
    fn from(e: TonCellError) -> Self {
        BocError::Cell(e.to_string())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BocError> {
        let end = self.pos.checked_add(n).ok_or(BocError::Truncated)?;
        let out = self.bytes.get(self.pos..end).ok_or(BocError::Truncated)?;
        self.pos = end;
        Ok(out)
    }
    fn byte(&mut self) -> Result<u8, BocError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn uint(&mut self, width: usize) -> Result<usize, BocError> {
        let mut value = 0usize;
        for b in self.take(width)? {
            value = value
                .checked_mul(256)
                .ok_or(BocError::Malformed("integer overflow"))?
                | usize::from(*b);
        }
        Ok(value)
    }
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
}

struct RawCell {
    data: Vec<u8>,
    bit_len: usize,
    refs: Vec<usize>,
}

/// Parses a single-root BoC of at most `max_len` bytes and `max_cells` cells.
pub fn parse_single_root(
    bytes: &[u8],
    max_len: usize,
    max_cells: usize,
) -> Result<ArcCell, BocError> {
    if bytes.len() > max_len {
        return Err(BocError::TooLong {
            len: bytes.len(),
            max: max_len,
        });
    }
    let flags = bytes.get(4).copied().unwrap_or(0);
    if flags & 0x18 != 0 {
        return Err(BocError::Malformed("unknown BoC flags"));
    }
    let has_index = flags & 0x80 != 0;
    // The reference's code BoCs carry a CRC32-C of everything before it.
    let bytes = if flags & 0x40 != 0 {
        let split = bytes
            .len()
            .checked_sub(4)
            .ok_or(BocError::Malformed("truncated checksum"))?;
        let (body, sum) = bytes.split_at(split);
        if crc32c(body).to_le_bytes() != sum {
            return Err(BocError::Malformed("CRC32-C mismatch"));
        }
        body
    } else {
        bytes
    };
    let mut r = Reader { bytes, pos: 0 };
    if r.take(4)? != BOC_MAGIC {
        return Err(BocError::Malformed("bad magic"));
    }
    r.byte()?;
    let size = usize::from(flags & 7);
    if !(1..=4).contains(&size) {
        return Err(BocError::Malformed("bad reference size"));
    }
    let off_bytes = usize::from(r.byte()?);
    if !(1..=8).contains(&off_bytes) {
        return Err(BocError::Malformed("bad offset size"));
    }
    let cells = r.uint(size)?;
    let roots = r.uint(size)?;
    let absent = r.uint(size)?;
    if cells == 0 || cells > max_cells {
        return Err(BocError::Malformed("cell count out of range"));
    }
    if roots != 1 || absent != 0 {
        return Err(BocError::Malformed(
            "exactly one root and no absent cells expected",
        ));
    }
    let total_size = r.uint(off_bytes)?;
    let root = r.uint(size)?;
    if root >= cells {
        return Err(BocError::Malformed("root index out of range"));
    }
    if has_index {
        // The offset index only speeds up random access; the cells are read in order.
        let index_len = cells
            .checked_mul(off_bytes)
            .ok_or(BocError::Malformed("index too large"))?;
        r.take(index_len)?;
    }
    if total_size != r.remaining() {
        return Err(BocError::Malformed(
            "cell data size does not match the input",
        ));
    }
    let mut raw = Vec::with_capacity(cells);
    for index in 0..cells {
        let d1 = r.byte()?;
        let d2 = r.byte()?;
        let ref_count = usize::from(d1 & 7);
        if d1 & 0xf8 != 0 || ref_count > 4 {
            return Err(BocError::Malformed(
                "only ordinary level-0 cells without stored hashes",
            ));
        }
        let data_len = usize::from(d2 / 2 + d2 % 2);
        let mut data = r.take(data_len)?.to_vec();
        let bit_len = if d2 % 2 == 1 {
            let last = data
                .last_mut()
                .ok_or(BocError::Malformed("empty padded cell"))?;
            if *last == 0 {
                return Err(BocError::Malformed("padding marker missing"));
            }
            let pad = last.trailing_zeros() as usize;
            *last &= !(1u8 << pad);
            data_len * 8 - pad - 1
        } else {
            data_len * 8
        };
        if bit_len > 1023 {
            return Err(BocError::Malformed("cell longer than 1023 bits"));
        }
        let mut refs = Vec::with_capacity(ref_count);
        for _ in 0..ref_count {
            let target = r.uint(size)?;
            if target <= index || target >= cells {
                return Err(BocError::Malformed("reference index out of order or range"));
            }
            refs.push(target);
        }
        raw.push(RawCell {
            data,
            bit_len,
            refs,
        });
    }
    if r.remaining() != 0 {
        return Err(BocError::Malformed("trailing bytes"));
    }
    let mut built: Vec<Option<ArcCell>> = vec![None; cells];
    for (index, cell) in raw.into_iter().enumerate().rev() {
        let mut children = Vec::with_capacity(cell.refs.len());
        for target in cell.refs {
            let child = built
                .get(target)
                .and_then(Option::clone)
                .ok_or(BocError::Malformed("dangling reference"))?;
            children.push(child);
        }
        let made = Cell::new(cell.data, cell.bit_len, children, false)?;
        if let Some(slot) = built.get_mut(index) {
            *slot = Some(Arc::new(made));
        }
    }
    built
        .get(root)
        .and_then(Option::clone)
        .ok_or(BocError::Malformed("root missing"))
}

/// CRC32-C (Castagnoli, reflected), as BoC checksums use it.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Standard BoC serialization of one root (mode 0: no index, no CRC).
pub fn serialize(root: Cell) -> Result<Vec<u8>, BocError> {
    Ok(BagOfCells::from_root(root).serialize(false)?)
}

/// Writes `addr_std$10 anycast:0 workchain:int8 address:bits256`.
pub fn store_addr_std(builder: &mut CellBuilder, address: &TonAddress) -> Result<(), BocError> {
    let workchain = i8::try_from(address.workchain)
        .map_err(|_| BocError::Malformed("workchain out of int8 range"))?;
    builder.store_u8(2, 0b10)?;
    builder.store_bit(false)?;
    builder.store_i8(8, workchain)?;
    builder.store_slice(address.hash_part.as_slice())?;
    Ok(())
}

/// Reads an `addr_std` without anycast.
pub fn load_addr_std(parser: &mut CellParser<'_>) -> Result<TonAddress, BocError> {
    if parser.load_u8(2)? != 0b10 {
        return Err(BocError::Malformed("address is not addr_std"));
    }
    if parser.load_bit()? {
        return Err(BocError::Malformed("anycast addresses are not accepted"));
    }
    let workchain = parser.load_i8(8)?;
    let mut hash = [0u8; 32];
    parser.load_slice(&mut hash)?;
    Ok(TonAddress::new(i32::from(workchain), TonHash::from(hash)))
}

/// Writes coins as `VarUInteger 16` (4-bit byte length, big-endian value).
pub fn store_coins(builder: &mut CellBuilder, amount: NanoTon) -> Result<(), BocError> {
    let bytes = amount.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    if significant.len() > 15 {
        return Err(BocError::Malformed("coins do not fit VarUInteger 16"));
    }
    builder.store_u8(4, significant.len() as u8)?;
    builder.store_slice(significant)?;
    Ok(())
}

/// The representation hash of a cell as bytes.
pub fn cell_hash(cell: &Cell) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(cell.cell_hash().as_slice());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let mut inner = CellBuilder::new();
        inner.store_u32(32, 0xdead_beef).expect("fits");
        let inner = inner.build().expect("inner");
        let mut outer = CellBuilder::new();
        outer.store_u8(5, 0b10101).expect("fits");
        outer.store_reference(&Arc::new(inner)).expect("ref");
        serialize(outer.build().expect("outer")).expect("serialize")
    }

    #[test]
    fn strict_reader_round_trips_tonlib_output() {
        let bytes = sample();
        let root = parse_single_root(&bytes, 1024, 4).expect("parse");
        assert_eq!(root.bit_len(), 5);
        assert_eq!(root.references().len(), 1);
        assert_eq!(serialize(Cell::clone(&root)).expect("again"), bytes);
    }

    #[test]
    fn strict_reader_enforces_limits() {
        let bytes = sample();
        assert!(matches!(
            parse_single_root(&bytes, 4, 4),
            Err(BocError::TooLong { .. })
        ));
        assert!(parse_single_root(&bytes, 1024, 1).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(parse_single_root(&trailing, 1024, 4).is_err());
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn checksummed_boc_is_read_and_a_bad_checksum_refused() {
        let plain = sample();
        let root = parse_single_root(&plain, 1024, 4).expect("plain");
        let with_crc = tonlib_core::cell::BagOfCells::from_root(Cell::clone(&root))
            .serialize(true)
            .expect("crc boc");
        assert_ne!(with_crc, plain);
        let again = parse_single_root(&with_crc, 1024, 4).expect("crc parse");
        assert_eq!(again.cell_hash(), root.cell_hash());
        let mut bad = with_crc.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(parse_single_root(&bad, 1024, 4).is_err());
    }

    #[test]
    fn coins_encoding_is_var_uint16() {
        let mut b = CellBuilder::new();
        store_coins(&mut b, 0).expect("zero");
        store_coins(&mut b, 0x0102).expect("two bytes");
        let cell = b.build().expect("cell");
        assert_eq!(cell.bit_len(), 4 + 4 + 16);
        assert_eq!(cell.data(), &[0x02, 0x01, 0x02]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_single_root(&bytes, 512, 8);
        }

        #[test]
        fn mutated_valid_boc_never_panics(pos in 0usize..64, value in any::<u8>(), cut in 0usize..64) {
            let mut bytes = sample();
            if let Some(b) = bytes.get_mut(pos) { *b = value; }
            bytes.truncate(bytes.len().saturating_sub(cut));
            let _ = parse_single_root(&bytes, 512, 8);
        }
    }
}
