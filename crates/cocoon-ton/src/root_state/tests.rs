//! Root states of every struct version, written by a test-only builder (params through
//! the ledger's `RootParams::to_cell`, dictionaries through tonlib-core's dictionary writer)
//! and parsed back; malformed and hostile inputs.

use std::collections::HashMap;
use std::sync::Arc;

use cocoon_ledger::accounting::MULTIPLIER_ONE;
use cocoon_ledger::address::devnet_placeholder_codes;
use cocoon_ledger::root_config::{
    ContractCodes, CODE_MASK_CLIENT, CODE_MASK_PROXY, CODE_MASK_WORKER,
};
use num_bigint::BigUint;
use proptest::prelude::*;
use tonlib_core::cell::{CellBuilder, TonCellError};
use tonlib_core::TonHash;

use super::*;
use crate::test_bits::Bits;

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

fn no_value(_: &mut CellBuilder, _: ()) -> Result<(), TonCellError> {
    Ok(())
}

fn net_addr_value(b: &mut CellBuilder, v: (bool, Vec<u8>)) -> Result<(), TonCellError> {
    b.store_bit(v.0)?;
    b.store_u8(7, v.1.len() as u8)?;
    b.store_slice(&v.1)?;
    Ok(())
}

fn key_value(b: &mut CellBuilder, v: (u8, u32)) -> Result<(), TonCellError> {
    b.store_u8(8, v.0)?;
    b.store_u32(32, v.1)?;
    Ok(())
}

fn hash_dict(b: &mut CellBuilder, keys: &[[u8; 32]]) {
    let map: HashMap<BigUint, ()> = keys
        .iter()
        .map(|k| (BigUint::from_bytes_be(k), ()))
        .collect();
    b.store_dict(256, no_value, map).expect("dict");
}

/// What the test builder writes.
struct Spec {
    sv: u8,
    version: u32,
    params_version: u32,
    is_test: bool,
    proxy_hashes: Vec<[u8; 32]>,
    proxies: Vec<(u32, bool, Vec<u8>)>,
    worker_hashes: Vec<[u8; 32]>,
    model_hashes: Vec<[u8; 32]>,
    public_keys: Vec<([u8; 32], u8, u32)>,
    km_address: Vec<u8>,
    verified: [Vec<[u8; 32]>; 3],
    with_codes: bool,
}

impl Spec {
    fn new(sv: u8) -> Spec {
        Spec {
            sv,
            version: 9,
            params_version: 4,
            is_test: false,
            proxy_hashes: vec![[0xc0; 32], [0x0a; 32]],
            proxies: vec![
                (1, false, b"10.0.0.1:8001".to_vec()),
                (7, false, b"10.0.0.2:9001 10.0.0.3:9002".to_vec()),
            ],
            worker_hashes: vec![[0x33; 32]],
            model_hashes: vec![[0x99; 32], [0x11; 32], [0x55; 32]],
            public_keys: vec![([0x42; 32], 1, 2_000_000_000), ([0x24; 32], 2, 5)],
            km_address: b"10.1.1.1:13001".to_vec(),
            verified: [vec![[1; 32]], vec![[3; 32], [2; 32]], vec![]],
            with_codes: true,
        }
    }

    fn params(&self) -> RootParams {
        RootParams {
            struct_version: self.sv,
            params_version: self.params_version,
            unique_id: 77,
            is_test: self.is_test,
            price_per_token: 20,
            worker_fee_per_token: 12,
            multipliers: Multipliers {
                prompt: 10_001,
                cached: 10_002,
                completion: 10_003,
                reasoning: 10_004,
            },
            proxy_delay_before_close: 600,
            client_delay_before_close: 300,
            min_proxy_stake: 15 * ONE_TON,
            min_client_stake: 2 * ONE_TON,
        }
    }

    fn data_cell(&self) -> ArcCell {
        let mut b = CellBuilder::new();
        hash_dict(&mut b, &self.proxy_hashes);
        let proxies: HashMap<BigUint, (bool, Vec<u8>)> = self
            .proxies
            .iter()
            .map(|(k, t, v)| (BigUint::from(*k), (*t, v.clone())))
            .collect();
        b.store_dict(32, net_addr_value, proxies).expect("proxies");
        b.store_u32(32, 7).expect("last seqno");
        hash_dict(&mut b, &self.worker_hashes);
        hash_dict(&mut b, &self.model_hashes);
        Arc::new(b.build().expect("data"))
    }

    fn key_manager_cell(&self) -> ArcCell {
        let mut b = CellBuilder::new();
        let keys: HashMap<BigUint, (u8, u32)> = self
            .public_keys
            .iter()
            .map(|(k, t, e)| (BigUint::from_bytes_be(k), (*t, *e)))
            .collect();
        b.store_dict(256, key_value, keys).expect("keys");
        b.store_slice(&[0xaa; 32]).expect("km key");
        b.store_slice(&[0xbb; 32]).expect("km image");
        net_addr_value(&mut b, (false, self.km_address.clone())).expect("addr");
        Arc::new(b.build().expect("km"))
    }

    fn verified_cell(&self) -> ArcCell {
        let mut b = CellBuilder::new();
        for list in &self.verified {
            hash_dict(&mut b, list);
        }
        Arc::new(b.build().expect("verified"))
    }

    fn root_cell(&self) -> Cell {
        let codes = devnet_placeholder_codes().expect("codes");
        let mask = if self.with_codes {
            CODE_MASK_PROXY | CODE_MASK_WORKER | CODE_MASK_CLIENT
        } else {
            0
        };
        let params = Arc::new(self.params().to_cell(&codes, mask).expect("params"));
        let mut b = CellBuilder::new();
        crate::cells::store_addr(&mut b, &addr(0x77)).expect("owner");
        b.store_reference(&self.data_cell()).expect("data");
        b.store_reference(&params).expect("params");
        b.store_u32(32, self.version).expect("version");
        if self.sv >= 4 {
            b.store_reference(&self.key_manager_cell()).expect("km");
        }
        if self.sv >= 5 {
            b.store_reference(&self.verified_cell()).expect("verified");
        }
        b.build().expect("root")
    }
}

fn sorted(mut v: Vec<[u8; 32]>) -> Vec<[u8; 32]> {
    v.sort();
    v
}

#[test]
fn every_struct_version_parses_back() {
    let codes: ContractCodes = devnet_placeholder_codes().expect("codes");
    for sv in 0..=5u8 {
        let spec = Spec::new(sv);
        let state = parse_root_state(&spec.root_cell()).expect("parse");
        let c = &state.config;
        assert_eq!(c.version, 9);
        let mut want = spec.params();
        if sv < 3 {
            want.multipliers.prompt = DEFAULT_MULTIPLIER;
            want.multipliers.completion = DEFAULT_MULTIPLIER;
        }
        if sv < 2 {
            want.multipliers.cached = DEFAULT_MULTIPLIER;
            want.multipliers.reasoning = DEFAULT_MULTIPLIER;
        }
        if sv < 1 {
            want.min_proxy_stake = ONE_TON;
            want.min_client_stake = ONE_TON;
        }
        assert_eq!(c.params, want, "sv {sv}");
        assert_eq!(i64::from(DEFAULT_MULTIPLIER), MULTIPLIER_ONE);
        assert_eq!(c.proxy_hashes, sorted(spec.proxy_hashes.clone()));
        assert_eq!(c.worker_hashes, sorted(spec.worker_hashes.clone()));
        assert_eq!(c.model_hashes, sorted(spec.model_hashes.clone()));
        assert_eq!(
            c.registered_proxies,
            vec![
                RegisteredProxy {
                    seqno: 1,
                    worker_address: "10.0.0.1:8001".into(),
                    client_address: "10.0.0.1:8001".into(),
                },
                RegisteredProxy {
                    seqno: 7,
                    worker_address: "10.0.0.2:9001".into(),
                    client_address: "10.0.0.3:9002".into(),
                },
            ]
        );
        assert_eq!(c.last_proxy_seqno, 7);
        assert_eq!(state.owner, addr(0x77));
        assert_eq!(state.skipped_proxies, 0);
        let got = state.codes.contract_codes().expect("codes");
        assert_eq!(got.proxy, codes.proxy);
        assert_eq!(got.worker, codes.worker);
        assert_eq!(got.client, codes.client);
        if sv >= 4 {
            assert_eq!(
                c.registered_public_keys,
                vec![
                    RegisteredPublicKey {
                        public_key: [0x24; 32],
                        key_type: 2,
                        expire_at: 5
                    },
                    RegisteredPublicKey {
                        public_key: [0x42; 32],
                        key_type: 1,
                        expire_at: 2_000_000_000
                    },
                ]
            );
            assert_eq!(c.key_manager_address.as_deref(), Some("10.1.1.1:13001"));
            assert_eq!(state.config.key_manager_public_key, [0xaa; 32]);
            assert_eq!(state.config.key_manager_image_hash, [0xbb; 32]);
        } else {
            assert!(c.registered_public_keys.is_empty());
            assert_eq!(c.key_manager_address, None);
            assert_eq!(state.config.key_manager_public_key, [0; 32]);
        }
        if sv >= 5 {
            assert_eq!(state.verified_proxy_keys, vec![[1; 32]]);
            assert_eq!(state.verified_worker_keys, vec![[2; 32], [3; 32]]);
            assert!(state.verified_key_manager_keys.is_empty());
        } else {
            assert!(state.verified_worker_keys.is_empty());
        }
        // The same through the bounded BoC entry point.
        let bytes = boc::serialize(spec.root_cell()).expect("boc");
        assert_eq!(parse_root_state_boc(&bytes).expect("boc parse"), state);
    }
}

#[test]
fn empty_dicts_no_codes_and_no_key_manager() {
    let mut spec = Spec::new(5);
    spec.proxy_hashes.clear();
    spec.proxies.clear();
    spec.worker_hashes.clear();
    spec.model_hashes.clear();
    spec.public_keys.clear();
    spec.km_address.clear();
    spec.verified = [vec![], vec![], vec![]];
    spec.with_codes = false;
    let state = parse_root_state(&spec.root_cell()).expect("parse");
    assert!(state.config.registered_proxies.is_empty());
    assert!(state.config.proxy_hashes.is_empty());
    assert_eq!(state.config.key_manager_address, None);
    assert_eq!(state.codes, RootCodes::default());
    assert!(state.codes.contract_codes().is_none());
}

#[test]
fn bad_proxy_entries_are_skipped() {
    let mut spec = Spec::new(3);
    spec.proxies = vec![
        (1, true, b"10.0.0.1:1".to_vec()),
        (2, false, b"not-an-ip:80".to_vec()),
        (3, false, b"10.0.0.1".to_vec()),
        (4, false, vec![0xff, 0xfe]),
        (5, false, b"10.0.0.1:1 10.0.0.2".to_vec()),
        (6, false, b"[10.0.0.6:66]".to_vec()),
    ];
    let state = parse_root_state(&spec.root_cell()).expect("parse");
    assert_eq!(state.skipped_proxies, 5);
    assert_eq!(
        state.config.registered_proxies,
        vec![RegisteredProxy {
            seqno: 6,
            worker_address: "10.0.0.6:66".into(),
            client_address: "10.0.0.6:66".into(),
        }]
    );
}

#[test]
fn malformed_roots_are_errors() {
    // Struct version 6.
    assert!(parse_root_state(&Spec::new(6).root_cell()).is_err());
    // Unparsable key manager address.
    let mut spec = Spec::new(4);
    spec.km_address = b"km.example:1".to_vec();
    assert!(parse_root_state(&spec.root_cell()).is_err());
    // A registered key value with an extra byte.
    let mut b = CellBuilder::new();
    let keys: HashMap<BigUint, (u8, u32)> = [(BigUint::from(1u8), (1u8, 2u32))].into();
    b.store_dict(
        256,
        |b, v: (u8, u32)| {
            key_value(b, v)?;
            b.store_u8(8, 0)?;
            Ok(())
        },
        keys,
    )
    .expect("keys");
    b.store_slice(&[0; 64]).expect("km fields");
    net_addr_value(&mut b, (false, vec![])).expect("addr");
    let km = Arc::new(b.build().expect("km"));
    let spec = Spec::new(4);
    let good = spec.root_cell();
    let mut refs = good.references().to_vec();
    refs[2] = km;
    let bad = Cell::new(good.data().to_vec(), good.bit_len(), refs, false).expect("cell");
    assert!(parse_root_state(&bad).is_err());
    // An extra reference on the root, or a missing one.
    let mut refs = good.references().to_vec();
    refs.push(refs[0].clone());
    let extra = Cell::new(good.data().to_vec(), good.bit_len(), refs, false).expect("cell");
    assert!(parse_root_state(&extra).is_err());
    let short = Cell::new(
        good.data().to_vec(),
        good.bit_len(),
        good.references()[..2].to_vec(),
        false,
    )
    .expect("cell");
    assert!(parse_root_state(&short).is_err());
    // A price wider than 64 bits.
    let params = Bits::new()
        .uint(0, 8)
        .uint(1, 32)
        .uint(1, 32)
        .bits("0")
        .coins(1u128 << 70)
        .coins(1)
        .uint(600, 32)
        .uint(300, 32)
        .bits("000")
        .arc(vec![]);
    let root = Bits::new()
        .addr(&addr(1))
        .uint(1, 32)
        .cell(vec![spec.data_cell(), params]);
    assert!(parse_root_state(&root).is_err());
}

#[test]
fn oversized_and_deep_bocs_are_rejected() {
    assert!(matches!(
        parse_root_state_boc(&vec![0u8; MAX_ROOT_BOC_BYTES + 1]),
        Err(CellError::Boc(_))
    ));
    // A chain deeper than the limit (each cell refers to the next).
    let mut cell = Arc::new(Bits::new().bits("1").cell(vec![]));
    for _ in 0..usize::from(MAX_ROOT_DEPTH) + 10 {
        cell = Arc::new(Bits::new().bits("1").cell(vec![cell]));
    }
    let bytes = boc::serialize(Cell::clone(&cell)).expect("boc");
    assert!(matches!(
        parse_root_state_boc(&bytes),
        Err(CellError::Limit {
            what: "root cell depth",
            ..
        })
    ));
}

#[test]
fn tracker_adopts_only_higher_versions() {
    let mut tracker = RootTracker::new(false);
    let state = |version: u32, params_version: u32| {
        let mut spec = Spec::new(5);
        spec.version = version;
        spec.params_version = params_version;
        parse_root_state(&spec.root_cell()).expect("parse")
    };
    assert_eq!(
        tracker.offer(state(5, 1)),
        Ok(Adoption::Adopted {
            params_changed: false
        })
    );
    assert_eq!(
        tracker.offer(state(5, 2)),
        Ok(Adoption::Ignored {
            current: 5,
            offered: 5
        })
    );
    assert_eq!(
        tracker.offer(state(4, 2)),
        Ok(Adoption::Ignored {
            current: 5,
            offered: 4
        })
    );
    assert_eq!(
        tracker.offer(state(6, 1)),
        Ok(Adoption::Adopted {
            params_changed: false
        })
    );
    assert_eq!(
        tracker.offer(state(7, 2)),
        Ok(Adoption::Adopted {
            params_changed: true
        })
    );
    assert_eq!(tracker.current().map(|s| s.config.version), Some(7));
    let mut spec = Spec::new(5);
    spec.is_test = true;
    spec.version = 100;
    let test_root = parse_root_state(&spec.root_cell()).expect("parse");
    assert_eq!(
        tracker.offer(test_root),
        Err(TestFlagMismatch {
            root: true,
            node: false
        })
    );
    assert_eq!(tracker.current().map(|s| s.config.version), Some(7));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_root_bocs_never_panic(
        sv in 0u8..=5,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in 0usize..32,
    ) {
        let mut bytes = boc::serialize(Spec::new(sv).root_cell()).expect("boc");
        let len = bytes.len();
        for (pos, value) in edits {
            bytes[pos % len] = value;
        }
        bytes.truncate(len.saturating_sub(cut));
        let _ = parse_root_state_boc(&bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_root_state_boc(&bytes);
    }
}
