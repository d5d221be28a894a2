//! A bounded reader of TL-B `Hashmap n X` dictionaries (the root's proxy list, hash lists
//! and key lists) for untrusted cells.
//!
//! Layout (public TON TL-B): an edge is a label then, when key bits remain, a fork with
//! exactly two references (left = next bit 0, right = next bit 1) and no data; when no key
//! bits remain, the rest of the cell is the value. Labels:
//! `hml_short$0 len:(Unary) bits`, `hml_long$10 len:(#<= m) bits`, `hml_same$11 v:Bit
//! len:(#<= m)`, where `#<= m` takes as many bits as `m` has.
//!
//! Why not tonlib-core's dictionary parser: it does not bound the label lengths by the
//! remaining key bits and visits shared subtrees again, so a small hostile DAG can make it
//! loop for ~2^256 steps. Here every label is checked against the remaining key length,
//! recursion depth is bounded by the key length, and the number of visited nodes is capped.
//! Entries are visited in ascending unsigned key order (the reference's iteration order).

use tonlib_core::cell::{ArcCell, Cell, CellParser};

use crate::cells::{layout, CellError};

/// Calls `visit(key, value)` for every entry of the `Hashmap key_bits X` rooted at `root`
/// (the referenced cell of a `HashmapE`), in ascending key order. `key` holds the key bits
/// big-endian, left-aligned in `ceil(key_bits / 8)` bytes; `value` is positioned after the
/// leaf's label. Fails on any malformed node, when more than `max_entries` entries are
/// present, or when `visit` fails. Returns the number of entries.
pub fn for_each_entry<F>(
    root: &Cell,
    key_bits: usize,
    max_entries: usize,
    mut visit: F,
) -> Result<usize, CellError>
where
    F: FnMut(&[u8], &mut CellParser<'_>) -> Result<(), CellError>,
{
    if key_bits > 1023 {
        return Err(layout("dictionary keys longer than 1023 bits"));
    }
    let mut walk = Walk {
        key_bits,
        max_entries,
        entries: 0,
        // A tree with `max_entries` leaves has fewer than twice as many nodes.
        nodes_left: max_entries.saturating_mul(2).saturating_add(1),
        prefix: Vec::with_capacity(key_bits),
        visit: &mut visit,
    };
    walk.edge(root, key_bits)?;
    Ok(walk.entries)
}

/// Collects the keys of a `Hashmap key_bits X` (values ignored), ascending.
pub fn collect_keys(
    root: &Cell,
    key_bits: usize,
    max_entries: usize,
) -> Result<Vec<Vec<u8>>, CellError> {
    let mut keys = Vec::new();
    for_each_entry(root, key_bits, max_entries, |key, _| {
        keys.push(key.to_vec());
        Ok(())
    })?;
    Ok(keys)
}

/// Collects the 256-bit keys of an optional `HashmapE 256 X` root (values ignored), ascending.
pub fn collect_keys256(
    root: Option<&ArcCell>,
    max_entries: usize,
) -> Result<Vec<[u8; 32]>, CellError> {
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for_each_entry(root, 256, max_entries, |key, _| {
        let mut out = [0u8; 32];
        if key.len() != 32 {
            return Err(layout("256-bit key of the wrong size"));
        }
        out.copy_from_slice(key);
        keys.push(out);
        Ok(())
    })?;
    Ok(keys)
}

struct Walk<'v, F> {
    key_bits: usize,
    max_entries: usize,
    entries: usize,
    nodes_left: usize,
    prefix: Vec<bool>,
    visit: &'v mut F,
}

/// Bits needed to write any number in `0..=m` (`#<= m`).
fn len_bits(m: usize) -> usize {
    (usize::BITS - m.leading_zeros()) as usize
}

fn load_len(p: &mut CellParser<'_>, bits: usize) -> Result<usize, CellError> {
    let mut value = 0usize;
    for _ in 0..bits {
        value = (value << 1) | usize::from(p.load_bit()?);
    }
    Ok(value)
}

impl<F> Walk<'_, F>
where
    F: FnMut(&[u8], &mut CellParser<'_>) -> Result<(), CellError>,
{
    /// Reads the edge stored in `cell`, with `n` key bits still to come.
    fn edge(&mut self, cell: &Cell, n: usize) -> Result<(), CellError> {
        self.nodes_left = self.nodes_left.checked_sub(1).ok_or(CellError::Limit {
            what: "dictionary nodes",
            limit: self.max_entries.saturating_mul(2).saturating_add(1),
        })?;
        let mut p = cell.parser();
        let label_len = self.label(&mut p, n)?;
        let rest = n - label_len;
        if rest == 0 {
            self.entries += 1;
            if self.entries > self.max_entries {
                return Err(CellError::Limit {
                    what: "dictionary entries",
                    limit: self.max_entries,
                });
            }
            let key = pack_bits(&self.prefix, self.key_bits);
            (self.visit)(&key, &mut p)?;
        } else {
            if p.remaining_bits() != 0 || p.remaining_refs() != 2 {
                return Err(layout("dictionary fork must hold exactly two references"));
            }
            let left = p.next_reference()?;
            let right = p.next_reference()?;
            for (bit, child) in [(false, left), (true, right)] {
                self.prefix.push(bit);
                self.edge(&child, rest - 1)?;
                self.prefix.pop();
            }
        }
        self.prefix.truncate(self.prefix.len() - label_len);
        Ok(())
    }

    /// Reads a label of at most `m` bits, appends it to the prefix, returns its length.
    fn label(&mut self, p: &mut CellParser<'_>, m: usize) -> Result<usize, CellError> {
        if !p.load_bit()? {
            // hml_short: unary length, then the bits.
            let mut len = 0usize;
            while p.load_bit()? {
                len += 1;
                if len > m {
                    return Err(layout("dictionary label longer than the key"));
                }
            }
            for _ in 0..len {
                let bit = p.load_bit()?;
                self.prefix.push(bit);
            }
            return Ok(len);
        }
        let same = p.load_bit()?;
        if same {
            let value = p.load_bit()?;
            let len = load_len(p, len_bits(m))?;
            if len > m {
                return Err(layout("dictionary label longer than the key"));
            }
            self.prefix.extend(std::iter::repeat_n(value, len));
            Ok(len)
        } else {
            let len = load_len(p, len_bits(m))?;
            if len > m {
                return Err(layout("dictionary label longer than the key"));
            }
            for _ in 0..len {
                let bit = p.load_bit()?;
                self.prefix.push(bit);
            }
            Ok(len)
        }
    }
}

fn pack_bits(bits: &[bool], key_bits: usize) -> Vec<u8> {
    let mut out = vec![0u8; key_bits.div_ceil(8)];
    for (i, bit) in bits.iter().enumerate() {
        if *bit {
            if let Some(byte) = out.get_mut(i / 8) {
                *byte |= 0x80 >> (i % 8);
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "dict_tests.rs"]
mod tests;
