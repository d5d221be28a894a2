//! Reference defect §13.14 at ledger level: the reference narrows `price_per_token` and
//! `worker_fee_per_token` to a 32-bit `int` when it snapshots the root config, corrupting
//! prices ≥ 2^31 nanoTON. Here such prices survive the root-config JSON, the params cell
//! (read back field by field) and a devnet file reopen unchanged, and charges use them
//! without narrowing.

mod common;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::devnet_placeholder_codes;
use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::{RootConfig, RootParams, CODE_MASK_CLIENT, CODE_MASK_WORKER};
use cocoon_ledger::voucher::VoucherKind;
use common::{proxy_key, voucher, wallet};
use tonlib_core::cell::{Cell, CellParser};

const BIG_PRICES: [(u64, u64); 4] = [
    (1 << 31, 1 << 31),
    ((1 << 31) + 1, 1 << 31),
    ((1 << 32) + 7, (1 << 31) + 5),
    (u64::MAX, u64::MAX - 1),
];

fn load_coins(p: &mut CellParser<'_>) -> NanoTon {
    let len = usize::from(p.load_u8(4).expect("coins length"));
    let bytes = p.load_bytes(len).expect("coins bytes");
    bytes
        .iter()
        .fold(0, |acc, b| (acc << 8) | NanoTon::from(*b))
}

/// Reads a params cell back with the §6.8 layout (test-side reader).
fn read_params(cell: &Cell) -> (RootParams, [bool; 3]) {
    let mut p = cell.parser();
    let struct_version = p.load_u8(8).expect("sv");
    let params_version = p.load_u32(32).expect("pv");
    let unique_id = p.load_u32(32).expect("id");
    let is_test = p.load_bit().expect("test");
    let price = load_coins(&mut p);
    let fee = load_coins(&mut p);
    let mut m = cocoon_ledger::accounting::Multipliers::default();
    if struct_version >= 3 {
        m.prompt = p.load_u32(32).expect("prompt");
    }
    if struct_version >= 2 {
        m.cached = p.load_u32(32).expect("cached");
    }
    if struct_version >= 3 {
        m.completion = p.load_u32(32).expect("completion");
    }
    if struct_version >= 2 {
        m.reasoning = p.load_u32(32).expect("reasoning");
    }
    let proxy_delay = p.load_u32(32).expect("proxy delay");
    let client_delay = p.load_u32(32).expect("client delay");
    let (min_proxy, min_client) = if struct_version >= 1 {
        (load_coins(&mut p), load_coins(&mut p))
    } else {
        (0, 0)
    };
    let codes = [
        p.load_bit().expect("proxy code bit"),
        p.load_bit().expect("worker code bit"),
        p.load_bit().expect("client code bit"),
    ];
    assert_eq!(p.remaining_bits(), 0, "no trailing bits");
    let params = RootParams {
        struct_version,
        params_version,
        unique_id,
        is_test,
        price_per_token: u64::try_from(price).expect("price fits u64"),
        worker_fee_per_token: u64::try_from(fee).expect("fee fits u64"),
        multipliers: m,
        proxy_delay_before_close: proxy_delay,
        client_delay_before_close: client_delay,
        min_proxy_stake: min_proxy,
        min_client_stake: min_client,
    };
    (params, codes)
}

fn big_config(price: u64, fee: u64) -> RootConfig {
    let mut config = RootConfig::devnet_default();
    config.params.price_per_token = price;
    config.params.worker_fee_per_token = fee;
    config
}

#[test]
fn prices_at_and_above_2_pow_31_survive_json_and_params_cell() {
    let codes = devnet_placeholder_codes().expect("codes");
    for (price, fee) in BIG_PRICES {
        let config = big_config(price, fee);
        let json = serde_json::to_string(&config).expect("to json");
        let back: RootConfig = serde_json::from_str(&json).expect("from json");
        assert_eq!(back, config, "JSON round trip at price {price}");
        assert_eq!(back.params.price_per_token, price);
        assert_eq!(back.params.worker_fee_per_token, fee);

        let cell = config
            .params
            .to_cell(&codes, CODE_MASK_WORKER | CODE_MASK_CLIENT)
            .expect("params cell");
        let (read, code_bits) = read_params(&cell);
        assert_eq!(
            read, config.params,
            "params cell round trip at price {price}"
        );
        assert_eq!(code_bits, [false, true, true]);
        assert_eq!(cell.references().len(), 2);
    }
}

#[test]
fn devnet_keeps_and_charges_prices_above_2_pow_31() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("devnet.json");
    let (price, fee) = ((1u64 << 32) + 7, (1u64 << 31) + 5);
    let config = big_config(price, fee);
    let key = proxy_key(0x61);
    let (proxy_owner, client_owner) = (wallet(1), wallet(2));
    let client_sc = {
        let devnet = DevnetLedger::open_or_create(&path, config.clone()).expect("create");
        devnet
            .devnet_fund(&proxy_owner, 2_000_000_000)
            .expect("fund");
        devnet
            .devnet_fund(&client_owner, 100 * NanoTon::from(price))
            .expect("fund");
        let proxy_sc = devnet
            .proxy_deploy(&proxy_owner, &key.verifying_key(), 1_000_000_000)
            .expect("proxy");
        let client_sc = devnet
            .client_deploy(&client_owner, &proxy_sc)
            .expect("client");
        devnet
            .client_top_up(&client_owner, &client_sc, 10 * NanoTon::from(price))
            .expect("top up");
        client_sc
    };
    let reopened =
        DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("reopen");
    assert_eq!(reopened.root_config().expect("config"), config);
    let charge = voucher(&key, VoucherKind::ClientCharge, 3, &client_sc, 1);
    let settled = reopened.client_charge(&client_sc, &charge).expect("charge");
    assert_eq!(settled.amount, 3 * NanoTon::from(price));
    assert!(settled.amount > NanoTon::from(u32::MAX));
    let state = reopened.client_state(&client_sc).expect("client");
    assert_eq!(state.balance, 7 * NanoTon::from(price));
    let proxy = reopened
        .proxy_state(&proxy_of(&reopened, &client_sc))
        .expect("proxy");
    // The top-up is held by the proxy contract; a charge books no commission.
    assert_eq!(proxy.funds, 1_000_000_000 + 10 * NanoTon::from(price));
    assert_eq!(proxy.commission, 0);
}

fn proxy_of(ledger: &DevnetLedger, client_sc: &tonlib_core::TonAddress) -> tonlib_core::TonAddress {
    let proxy_hex = ledger.client_state(client_sc).expect("client").proxy_sc;
    cocoon_ledger::address::parse_address(&proxy_hex)
        .expect("address")
        .address
}
