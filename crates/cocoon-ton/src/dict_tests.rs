use std::collections::HashMap;
use std::sync::Arc;

use num_bigint::BigUint;
use proptest::prelude::*;
use tonlib_core::cell::{CellBuilder, TonCellError};

use super::*;

fn write_u32(b: &mut CellBuilder, v: u32) -> Result<(), TonCellError> {
    b.store_u32(32, v)?;
    Ok(())
}

/// A dictionary built by tonlib-core's (independent) dictionary writer.
fn tonlib_dict(key_bits: usize, entries: &[(BigUint, u32)]) -> ArcCell {
    let map: HashMap<BigUint, u32> = entries.iter().cloned().collect();
    let mut b = CellBuilder::new();
    b.store_dict_data(key_bits, write_u32, map).expect("dict");
    Arc::new(b.build().expect("cell"))
}

fn u32_entries(root: &Cell, max: usize) -> Result<Vec<(u32, u32)>, CellError> {
    let mut out = Vec::new();
    for_each_entry(root, 32, max, |key, value| {
        let k = u32::from_be_bytes(key.try_into().map_err(|_| layout("key size"))?);
        let v = value.load_u32(32)?;
        crate::cells::expect_end(value, "value")?;
        out.push((k, v));
        Ok(())
    })?;
    Ok(out)
}

#[test]
fn reads_tonlib_built_dicts_in_key_order() {
    let keys = [0u32, 1, 5, 1000, 0x8000_0000, u32::MAX];
    let entries: Vec<(BigUint, u32)> = keys
        .iter()
        .map(|k| (BigUint::from(*k), k.wrapping_mul(3)))
        .collect();
    let root = tonlib_dict(32, &entries);
    let got = u32_entries(&root, 100).expect("parse");
    let want: Vec<(u32, u32)> = keys.iter().map(|k| (*k, k.wrapping_mul(3))).collect();
    assert_eq!(got, want);
}

#[test]
fn reads_256_bit_keys_sorted() {
    let keys: Vec<[u8; 32]> = (0u8..40).map(|i| [i.wrapping_mul(97); 32]).collect();
    let entries: Vec<(BigUint, u32)> = keys
        .iter()
        .map(|k| (BigUint::from_bytes_be(k), 0))
        .collect();
    let root = tonlib_dict(256, &entries);
    let mut want = keys.clone();
    want.sort();
    assert_eq!(collect_keys256(Some(&root), 100).expect("parse"), want);
    assert_eq!(
        collect_keys256(None, 100).expect("none"),
        Vec::<[u8; 32]>::new()
    );
    assert!(matches!(
        collect_keys256(Some(&root), 39),
        Err(CellError::Limit { .. })
    ));
}

/// Hand-assembled single-entry dictionaries, one per label kind, for an 8-bit key.
#[test]
fn every_label_kind_is_read() {
    // hml_same$11 v=1 len=8 (4 bits: 1000), value 0xAB → key 0xFF.
    let mut b = CellBuilder::new();
    b.store_u8(2, 0b11).expect("tag");
    b.store_bit(true).expect("v");
    b.store_u8(4, 8).expect("len");
    b.store_u8(8, 0xab).expect("value");
    let same = b.build().expect("cell");
    // hml_long$10 len=8 (4 bits) bits 0x5A, value 0xCD → key 0x5A.
    let mut b = CellBuilder::new();
    b.store_u8(2, 0b10).expect("tag");
    b.store_u8(4, 8).expect("len");
    b.store_u8(8, 0x5a).expect("bits");
    b.store_u8(8, 0xcd).expect("value");
    let long = b.build().expect("cell");
    // hml_short$0 len=8 (unary 11111111 0) bits 0x0F, value 0xEF → key 0x0F.
    let mut b = CellBuilder::new();
    b.store_bit(false).expect("tag");
    b.store_u8(8, 0xff).expect("unary ones");
    b.store_bit(false).expect("unary end");
    b.store_u8(8, 0x0f).expect("bits");
    b.store_u8(8, 0xef).expect("value");
    let short = b.build().expect("cell");
    for (cell, key, value) in [
        (same, 0xffu8, 0xabu8),
        (long, 0x5a, 0xcd),
        (short, 0x0f, 0xef),
    ] {
        let mut seen = Vec::new();
        for_each_entry(&cell, 8, 4, |k, v| {
            seen.push((k.to_vec(), v.load_u8(8)?));
            Ok(())
        })
        .expect("parse");
        assert_eq!(seen, vec![(vec![key], value)]);
    }
}

#[test]
fn malformed_nodes_are_rejected() {
    // Label longer than the key (same, len 9 > 8).
    let mut b = CellBuilder::new();
    b.store_u8(2, 0b11).expect("tag");
    b.store_bit(false).expect("v");
    b.store_u8(4, 9).expect("len");
    let too_long = b.build().expect("cell");
    assert!(for_each_entry(&too_long, 8, 4, |_, _| Ok(())).is_err());
    // A fork (empty short label, key bits left) with one reference.
    let leaf = Arc::new(CellBuilder::new().build().expect("leaf"));
    let mut b = CellBuilder::new();
    b.store_u8(2, 0).expect("empty short label");
    b.store_reference(&leaf).expect("ref");
    let one_ref = b.build().expect("cell");
    assert!(for_each_entry(&one_ref, 8, 4, |_, _| Ok(())).is_err());
    // Truncated label.
    let empty = CellBuilder::new().build().expect("cell");
    assert!(for_each_entry(&empty, 8, 4, |_, _| Ok(())).is_err());
}

/// A DAG whose every fork points twice at the same child describes 2^64 entries in 65
/// cells; the reader stops at the entry cap instead of walking it.
#[test]
fn shared_subtrees_hit_the_entry_cap() {
    let mut b = CellBuilder::new();
    b.store_u8(2, 0).expect("empty label");
    let mut node = Arc::new(b.build().expect("leaf"));
    for _ in 0..64 {
        let mut b = CellBuilder::new();
        b.store_u8(2, 0).expect("empty label");
        b.store_reference(&node).expect("left");
        b.store_reference(&node).expect("right");
        node = Arc::new(b.build().expect("fork"));
    }
    let result = for_each_entry(&node, 64, 1000, |_, _| Ok(()));
    assert!(matches!(result, Err(CellError::Limit { .. })), "{result:?}");
}

fn arbitrary_tree(depth: u32) -> impl Strategy<Value = ArcCell> {
    let leaf = proptest::collection::vec(any::<bool>(), 0..80).prop_map(|bits| {
        let mut b = CellBuilder::new();
        for bit in bits {
            b.store_bit(bit).expect("bit");
        }
        Arc::new(b.build().expect("cell"))
    });
    leaf.prop_recursive(depth, 64, 4, |inner| {
        (
            proptest::collection::vec(any::<bool>(), 0..40),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(bits, refs)| {
                let mut b = CellBuilder::new();
                for bit in bits {
                    b.store_bit(bit).expect("bit");
                }
                for r in &refs {
                    b.store_reference(r).expect("ref");
                }
                Arc::new(b.build().expect("cell"))
            })
    })
}

proptest! {
    #[test]
    fn arbitrary_cells_never_panic(root in arbitrary_tree(6), key_bits in 0usize..40) {
        let _ = for_each_entry(&root, key_bits, 64, |_, v| {
            let _ = v.load_u8(3);
            Ok(())
        });
    }

    #[test]
    fn tonlib_dicts_round_trip(keys in proptest::collection::btree_set(any::<u32>(), 1..50)) {
        let entries: Vec<(BigUint, u32)> = keys.iter().map(|k| (BigUint::from(*k), !*k)).collect();
        let root = tonlib_dict(32, &entries);
        let got = u32_entries(&root, 64).expect("parse");
        let want: Vec<(u32, u32)> = keys.iter().map(|k| (*k, !*k)).collect();
        prop_assert_eq!(got, want);
    }
}
