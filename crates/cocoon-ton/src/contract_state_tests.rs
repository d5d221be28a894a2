use std::sync::Arc;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::address::{
    client_data_cell, devnet_placeholder_codes, proxy_data_cell, worker_data_cell,
};
use cocoon_ledger::root_config::RootConfig;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tonlib_core::TonHash;

use super::*;
use crate::test_bits::Bits;

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

fn params_cell() -> tonlib_core::cell::ArcCell {
    Bits::new().bytes(b"params").arc(vec![])
}

#[test]
fn init_data_cells_parse_as_fresh_contracts() {
    let params = RootConfig::devnet_default().params;
    let codes = devnet_placeholder_codes().expect("codes");
    let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
    let (owner, proxy_sc, root) = (addr(1), addr(2), addr(3));

    let client =
        parse_client_state(&client_data_cell(&owner, &proxy_sc, &key, &params, &codes).expect("c"))
            .expect("client");
    assert_eq!(
        client,
        ClientContractState {
            owner: owner.to_hex(),
            proxy_sc: proxy_sc.to_hex(),
            status: ContractStatus::Active,
            balance: 0,
            stake: params.min_client_stake,
            tokens_used: 0,
            unlock_ts: 0,
            secret_hash: [0; 32],
            params_version: params.params_version,
        }
    );
    let worker =
        parse_worker_state(&worker_data_cell(&owner, &proxy_sc, &key, &params, &codes).expect("w"))
            .expect("worker");
    assert_eq!(
        worker,
        WorkerContractState {
            owner: owner.to_hex(),
            proxy_sc: proxy_sc.to_hex(),
            status: ContractStatus::Active,
            tokens: 0,
            params_version: params.params_version,
            payouts_bounced: 0,
        }
    );
    let proxy =
        parse_proxy_state(&proxy_data_cell(&owner, &key, &root, &params, &codes).expect("p"))
            .expect("proxy");
    assert_eq!(proxy.root, root);
    assert_eq!(proxy.state.owner, owner.to_hex());
    assert_eq!(&proxy.state.public_key, key.as_bytes());
    assert_eq!(proxy.state.status, ContractStatus::Active);
    assert_eq!((proxy.state.stake, proxy.state.commission), (0, 0));
    assert_eq!(proxy.state.params_version, params.params_version);
}

#[test]
fn live_states_parse_every_field() {
    let identity = Bits::new()
        .addr(&addr(1))
        .addr(&addr(2))
        .bytes(&[9; 32])
        .arc(vec![]);
    let client = Bits::new()
        .uint(1, 2)
        .coins(7 * ONE_TON)
        .coins(ONE_TON)
        .uint(123_456, 64)
        .uint(1_700_000_300, 32)
        .bytes(&[0x5a; 32])
        .cell(vec![identity.clone(), params_cell()]);
    let parsed = parse_client_state(&client).expect("client");
    assert_eq!(parsed.status, ContractStatus::Closing);
    assert_eq!((parsed.balance, parsed.stake), (7 * ONE_TON, ONE_TON));
    assert_eq!(
        (parsed.tokens_used, parsed.unlock_ts),
        (123_456, 1_700_000_300)
    );
    assert_eq!(parsed.secret_hash, [0x5a; 32]);

    let worker = Bits::new()
        .addr(&addr(1))
        .addr(&addr(2))
        .bytes(&[9; 32])
        .uint(2, 2)
        .uint(99, 64)
        .cell(vec![params_cell()]);
    let parsed = parse_worker_state(&worker).expect("worker");
    assert_eq!((parsed.status, parsed.tokens), (ContractStatus::Closed, 99));
    // `params` = struct_version 'p', then params_version "aram" (big-endian).
    assert_eq!(parsed.params_version, u32::from_be_bytes(*b"aram"));

    let proxy = Bits::new()
        .addr(&addr(1))
        .bytes(&[9; 32])
        .addr(&addr(3))
        .uint(3, 2)
        .coins(12 * ONE_TON)
        .coins(20 * ONE_TON)
        .uint(1_700_000_600, 32)
        .cell(vec![params_cell()]);
    let parsed = parse_proxy_state(&proxy).expect("proxy");
    assert_eq!(parsed.state.status, ContractStatus::Closed);
    assert_eq!(parsed.state.commission, 12 * ONE_TON);
    assert_eq!(parsed.state.stake, 20 * ONE_TON);
    assert_eq!(parsed.state.unlock_ts, 1_700_000_600);
    assert_eq!(parsed.state.funds, 0);
    assert!(parsed.state.saved_states.is_empty());

    // Trailing data or a missing reference is an error.
    let trailing = Bits::new()
        .addr(&addr(1))
        .addr(&addr(2))
        .bytes(&[9; 32])
        .uint(0, 2)
        .uint(0, 64)
        .bits("1")
        .cell(vec![params_cell()]);
    assert!(parse_worker_state(&trailing).is_err());
    let no_identity = Bits::new()
        .uint(0, 2)
        .coins(0)
        .coins(0)
        .uint(0, 64)
        .uint(0, 32)
        .bytes(&[0; 32])
        .cell(vec![params_cell()]);
    assert!(parse_client_state(&no_identity).is_err());
    assert_eq!(contract_status(0), ContractStatus::Active);
}

proptest! {
    #[test]
    fn arbitrary_cells_never_panic(
        bits in proptest::collection::vec(any::<bool>(), 0..1023),
        refs in 0usize..4,
    ) {
        let text: String = bits.iter().map(|b| if *b { '1' } else { '0' }).collect();
        let children: Vec<_> = (0..refs)
            .map(|i| Arc::new(Bits(text.chars().skip(i * 100).take(600).collect()).cell(vec![])))
            .collect();
        let cell = Bits(text).cell(children);
        let _ = parse_client_state(&cell);
        let _ = parse_worker_state(&cell);
        let _ = parse_proxy_state(&cell);
    }
}
