//! Test helpers: cells assembled from explicit bit strings (independent of `CellBuilder`)
//! and a hand-written single-root BoC serializer for small trees.

use std::sync::Arc;

use tonlib_core::cell::{ArcCell, Cell};
use tonlib_core::TonAddress;

/// A bit string written field by field.
#[derive(Clone, Debug, Default)]
pub struct Bits(pub String);

impl Bits {
    pub fn new() -> Bits {
        Bits(String::new())
    }
    /// `width` bits of `value`, most significant first.
    pub fn uint(mut self, value: u128, width: usize) -> Bits {
        for i in (0..width).rev() {
            let bit = if i >= 128 { 0 } else { (value >> i) & 1 };
            self.0.push(if bit == 1 { '1' } else { '0' });
        }
        self
    }
    pub fn bits(mut self, text: &str) -> Bits {
        self.0.push_str(text);
        self
    }
    pub fn bytes(mut self, bytes: &[u8]) -> Bits {
        for b in bytes {
            self = self.uint(u128::from(*b), 8);
        }
        self
    }
    /// `addr_std`: `10 0 wc:8 hash:256`.
    pub fn addr(self, a: &TonAddress) -> Bits {
        self.bits("100")
            .uint(u128::from(a.workchain as u8), 8)
            .bytes(a.hash_part.as_slice())
    }
    /// Coins: 4-bit byte count, big-endian bytes.
    pub fn coins(self, v: u128) -> Bits {
        let len = (128 - v.leading_zeros() as usize).div_ceil(8);
        self.uint(len as u128, 4).uint(v, len * 8)
    }
    pub fn bit_len(&self) -> usize {
        self.0.len()
    }
    /// Bytes, zero-padded on the right.
    pub fn data(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.0.len().div_ceil(8)];
        for (i, c) in self.0.chars().enumerate() {
            if c == '1' {
                out[i / 8] |= 0x80 >> (i % 8);
            }
        }
        out
    }
    pub fn cell(&self, refs: Vec<ArcCell>) -> Cell {
        Cell::new(self.data(), self.bit_len(), refs, false).expect("hand cell")
    }
    pub fn arc(&self, refs: Vec<ArcCell>) -> ArcCell {
        Arc::new(self.cell(refs))
    }
}

/// Standard BoC (no index, no CRC, 1-byte references) of cells given in serialization
/// order as `(bits, child indices)`; cell 0 is the root.
pub fn hand_boc(cells: &[(Bits, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (bits, refs) in cells {
        let full = bits.bit_len() / 8;
        let d2 = (bits.bit_len().div_ceil(8) + full) as u8;
        body.push(refs.len() as u8);
        body.push(d2);
        let mut data = bits.data();
        if bits.bit_len() % 8 != 0 {
            let last = data.len() - 1;
            data[last] |= 0x80 >> (bits.bit_len() % 8);
        }
        body.extend(data);
        body.extend(refs);
    }
    let off_bytes = (usize::BITS - body.len().leading_zeros()).div_ceil(8) as u8;
    let mut out = vec![0xb5, 0xee, 0x9c, 0x72, 0x01, off_bytes.max(1)];
    out.extend([cells.len() as u8, 1, 0]);
    let size = body.len().to_be_bytes();
    out.extend(&size[size.len() - usize::from(off_bytes.max(1))..]);
    out.push(0);
    out.extend(body);
    out
}
