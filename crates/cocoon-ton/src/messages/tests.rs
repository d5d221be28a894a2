//! Golden tests: each body is built from fixed inputs, compared with a cell assembled from an
//! explicit bit string of the §6.7 layout (and, for small trees, with a hand-written BoC),
//! and its BoC hex is pinned.

use std::sync::Arc;

use cocoon_ledger::boc;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use ed25519_dalek::{Signature, SigningKey, Verifier};
use tonlib_core::cell::{ArcCell, Cell};
use tonlib_core::{TonAddress, TonHash};

use super::*;
use crate::test_bits::{hand_boc, Bits};

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}
fn wallet() -> TonAddress {
    addr(0x11)
}
fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn boc_hex(cell: &Cell) -> String {
    hex::encode(boc::serialize(cell.clone()).expect("serialize"))
}

/// Single-cell body: equal to the hand-assembled bits, to a hand-written BoC, and to the
/// pinned hex.
fn check_flat(built: Cell, bits: Bits, golden: &str) {
    assert_eq!(built, bits.cell(vec![]), "bits differ");
    let hex = boc_hex(&built);
    assert_eq!(
        hex,
        hex::encode(hand_boc(&[(bits, vec![])])),
        "hand BoC differs"
    );
    assert_eq!(hex, golden);
}

#[test]
fn proxy_save_state() {
    let hash = [0xab; 32];
    let built = proxy_save_state_body(0x0102_0304_0506_0708, 42, &hash).expect("build");
    let bits = Bits::new()
        .uint(0x9a12_47c0, 32)
        .uint(0x0102_0304_0506_0708, 64)
        .uint(0x5310_9c0f, 32)
        .uint(42, 32)
        .bytes(&hash);
    check_flat(
        built,
        bits,
        "b5ee9c720101010100360000689a1247c0010203040506070853109c0f000000\
2aababababababababababababababababababababababababababababababab\
ab",
    );
    // A negative seqno is written two's complement.
    let negative = proxy_save_state_body(0, -1, &hash).expect("build");
    let mut p = negative.parser();
    p.skip_bits(128).expect("skip");
    assert_eq!(p.load_u32(32).expect("seqno"), u32::MAX);
}

#[test]
fn proxy_payout_request() {
    let built = proxy_payout_request_body(1, &wallet()).expect("build");
    let bits = Bits::new()
        .uint(0x7610_e6eb, 32)
        .uint(1, 64)
        .addr(&wallet());
    check_flat(
        built,
        bits,
        "b5ee9c7201010101003000005b7610e6eb000000000000000180022222222222\
222222222222222222222222222222222222222222222222222230",
    );
}

#[test]
fn client_register() {
    let built = client_register_body(2, 0xdead_beef, &wallet()).expect("build");
    let bits = Bits::new()
        .uint(0xc45f_9f3b, 32)
        .uint(2, 64)
        .uint(0xdead_beef, 64)
        .addr(&wallet());
    check_flat(
        built,
        bits,
        "b5ee9c7201010101003800006bc45f9f3b000000000000000200000000deadbe\
ef80022222222222222222222222222222222222222222222222222222222222\
222230",
    );
}

#[test]
fn client_change_secret_hash() {
    let hash = [0x5a; 32];
    let built = client_change_secret_hash_body(3, &hash, &wallet()).expect("build");
    let bits = Bits::new()
        .uint(0xa935_7034, 32)
        .uint(3, 64)
        .bytes(&hash)
        .addr(&wallet());
    check_flat(
        built,
        bits,
        "b5ee9c7201010101005000009ba935703400000000000000035a5a5a5a5a5a5a\
5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a80022222222222\
222222222222222222222222222222222222222222222222222230",
    );
}

#[test]
fn client_top_up() {
    let coins = 3_000_000_000u128;
    let built = client_top_up_body(4, coins, &wallet()).expect("build");
    let bits = Bits::new()
        .uint(0xf172_e6c2, 32)
        .uint(4, 64)
        .coins(coins)
        .addr(&wallet());
    check_flat(
        built,
        bits,
        "b5ee9c72010101010034000063f172e6c200000000000000044b2d05e0080022\
22222222222222222222222222222222222222222222222222222222222223",
    );
}

#[test]
fn client_request_refund_and_withdraw() {
    let built = client_request_refund_body(5, &wallet()).expect("build");
    let bits = Bits::new()
        .uint(0xfafa_6cc1, 32)
        .uint(5, 64)
        .addr(&wallet());
    check_flat(
        built,
        bits,
        "b5ee9c7201010101003000005bfafa6cc1000000000000000580022222222222\
222222222222222222222222222222222222222222222222222230",
    );
    let built = client_withdraw_body(6, &wallet()).expect("build");
    let bits = Bits::new()
        .uint(0xda06_8e78, 32)
        .uint(6, 64)
        .addr(&wallet());
    check_flat(
        built,
        bits,
        "b5ee9c7201010101003000005bda068e78000000000000000680022222222222\
222222222222222222222222222222222222222222222222222230",
    );
}

/// A wrapped signed body, checked against bits: outer `op | qid | excess | sig | ^inner`,
/// with the signature verifying over the hand-assembled inner cell.
fn check_wrapped(built: &Cell, op: u32, qid: u64, excess: &TonAddress, inner_bits: Bits) {
    let inner = inner_bits.arc(vec![]);
    let hash = boc::cell_hash(&inner);
    let mut p = built.parser();
    p.skip_bits(96 + 267).expect("skip");
    let mut signature = [0u8; 64];
    p.load_slice(&mut signature).expect("signature");
    key()
        .verifying_key()
        .verify(&hash, &Signature::from_bytes(&signature))
        .expect("signature over the inner hash");
    let outer = Bits::new()
        .uint(u128::from(op), 32)
        .uint(u128::from(qid), 64)
        .addr(excess)
        .bytes(&signature);
    assert_eq!(built, &outer.cell(vec![inner.clone()]));
    let hex = boc_hex(built);
    assert_eq!(
        hex,
        hex::encode(hand_boc(&[(outer, vec![1]), (inner_bits, vec![])]))
    );
}

#[test]
fn signed_vouchers_match_the_ledger_and_the_layout() {
    let client_sc = addr(0x33);
    for (kind, op) in [
        (VoucherKind::ClientCharge, op::EXT_CLIENT_CHARGE_SIGNED),
        (
            VoucherKind::ClientGrantRefund,
            op::EXT_CLIENT_GRANT_REFUND_SIGNED,
        ),
        (
            VoucherKind::WorkerPayout,
            op::EXT_WORKER_PAYOUT_REQUEST_SIGNED,
        ),
    ] {
        let terms = VoucherTerms {
            kind,
            qid: 7,
            tokens: 1000,
            target: client_sc.clone(),
        };
        let built = signed_voucher_body(&key(), &terms, &wallet()).expect("build");
        let inner = Bits::new()
            .uint(u128::from(op), 32)
            .uint(7, 64)
            .uint(1000, 64)
            .addr(&client_sc);
        check_wrapped(&built, op, 7, &wallet(), inner);
        let ledger = voucher::sign(&key(), terms, &wallet()).expect("ledger voucher");
        assert_eq!(boc::serialize(built).expect("boc"), ledger.boc);
    }
    let terms = VoucherTerms {
        kind: VoucherKind::ClientCharge,
        qid: 7,
        tokens: 1000,
        target: client_sc,
    };
    let built = signed_voucher_body(&key(), &terms, &wallet()).expect("build");
    assert_eq!(
        boc_hex(&built),
        "b5ee9c720101020100a90001dbbb63ff93000000000000000780022222222222\
222222222222222222222222222222222222222222222222222227bf9fd40309\
37c7c6728215b99998ec8fe50f3b5bedbf3e0604c3ec210520831412095f7747\
1dd18458402ec826a1b3072f5438f89898234ef248fe9510c0605001006bbb63\
ff93000000000000000700000000000003e88006666666666666666666666666\
6666666666666666666666666666666666666670"
    );
}

#[test]
fn repacked_voucher_replaces_only_the_excess_address() {
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: 9,
        tokens: 55,
        target: addr(0x44),
    };
    let from_proxy = voucher::sign(&key(), terms.clone(), &addr(0x99)).expect("sign");
    let repacked = repacked_voucher_body(&from_proxy.boc, VoucherKind::WorkerPayout, &wallet())
        .expect("repack");
    let direct = signed_voucher_body(&key(), &terms, &wallet()).expect("direct");
    assert_eq!(repacked, direct);
    assert!(repacked_voucher_body(&from_proxy.boc, VoucherKind::ClientCharge, &wallet()).is_err());
    assert!(repacked_voucher_body(b"garbage", VoucherKind::WorkerPayout, &wallet()).is_err());
}

#[test]
fn worker_last_payout() {
    let worker_sc = addr(0x44);
    let built = worker_last_payout_body(&key(), 10, 77, &worker_sc, &wallet()).expect("build");
    let inner = Bits::new()
        .uint(0xf5f2_6a36, 32)
        .uint(10, 64)
        .uint(77, 64)
        .addr(&worker_sc);
    check_wrapped(&built, 0xf5f2_6a36, 10, &wallet(), inner);
    // The ledger's signed form of the same terms is the same cell, and verifies.
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerLastPayout,
        qid: 10,
        tokens: 77,
        target: worker_sc.clone(),
    };
    let signed = voucher::sign(&key(), terms, &wallet()).expect("sign");
    assert_eq!(signed.boc, boc::serialize(built).expect("boc"));
    let checked = voucher::verify(
        &signed.boc,
        VoucherKind::WorkerLastPayout,
        &worker_sc,
        &key().verifying_key(),
    )
    .expect("verify");
    assert_eq!(checked.terms.tokens, 77);
}

#[test]
fn proxy_close_request_and_complete() {
    let proxy_sc = addr(0x22);
    for (step, op) in [
        (ProxyCloseStep::Request, 0x636a_4391u32),
        (ProxyCloseStep::Complete, 0xe511_abc7),
    ] {
        let built = proxy_close_body(&key(), step, 11, &proxy_sc, &wallet()).expect("build");
        let inner = Bits::new()
            .uint(u128::from(op), 32)
            .uint(11, 64)
            .addr(&proxy_sc);
        check_wrapped(&built, op, 11, &wallet(), inner);
    }
}

#[test]
fn root_add_public_key_signed() {
    let public_key = [0x66; 32];
    let signed = cocoon_ledger::root_keys::KeyRegistration {
        query_id: 12,
        public_key,
        key_type: 1,
        valid_until: 2_000_000_000,
    }
    .sign(&key())
    .expect("sign");
    let built = root_add_public_key_body(&signed, &wallet()).expect("build");
    let inner = Bits::new()
        .uint(0x9e0e_1821, 32)
        .uint(12, 64)
        .bytes(&public_key)
        .uint(1, 8)
        .uint(2_000_000_000, 32);
    check_wrapped(&built, 0x9e0e_1821, 12, &wallet(), inner);
}

fn body_cell() -> ArcCell {
    Arc::new(client_withdraw_body(6, &wallet()).expect("body"))
}

#[test]
fn internal_message_with_body() {
    let msg = OutgoingMessage {
        dest: addr(0x33),
        value: 700_000_000,
        state_init: None,
        body: Some(body_cell()),
    };
    assert_eq!(msg.send_mode(), 0);
    let built = internal_message_cell(&msg).expect("build");
    let bits = Bits::new()
        .bits("011000")
        .addr(&addr(0x33))
        .coins(700_000_000)
        .uint(0, 1 + 4 + 4 + 64 + 32)
        .bits("0")
        .bits("1");
    assert_eq!(built, bits.cell(vec![body_cell()]));
    assert_eq!(
        boc_hex(&built),
        "b5ee9c7201010201006700016862001999999999999999999999999999999999\
999999999999999999999999999999a14dc93800000000000000000000000000\
0101005bda068e78000000000000000680022222222222222222222222222222\
222222222222222222222222222222222230"
    );
}

#[test]
fn internal_message_deploy_without_body() {
    let init = Bits::new().bits("00110").arc(vec![
        Bits::new().bytes(b"code").arc(vec![]),
        Bits::new().bytes(b"data").arc(vec![]),
    ]);
    let msg = OutgoingMessage {
        dest: addr(0x33),
        value: 1,
        state_init: Some(init.clone()),
        body: None,
    };
    assert_eq!(msg.send_mode(), 1);
    let built = internal_message_cell(&msg).expect("build");
    let bits = Bits::new()
        .bits("010000")
        .addr(&addr(0x33))
        .coins(1)
        .uint(0, 1 + 4 + 4 + 64 + 32)
        .bits("11")
        .bits("0");
    assert_eq!(built, bits.cell(vec![init]));
}

#[test]
fn deploy_message_targets_the_derived_address() {
    let code = Bits::new().bytes(b"code").arc(vec![]);
    let data = Bits::new().bytes(b"data").arc(vec![]);
    let msg = deploy_message(&code, &data, value::DEPLOY_CLIENT).expect("deploy");
    let tonlib = TonAddress::derive(0, code.clone(), data.clone()).expect("derive");
    assert_eq!(msg.dest, tonlib);
    assert_eq!(msg.value, 800_000_000);
    assert_eq!(msg.body, None);
    let init = Bits::new().bits("00110").cell(vec![code, data]);
    assert_eq!(msg.state_init.as_deref(), Some(&init));
}

#[test]
fn external_message_with_and_without_state_init() {
    let body = body_cell();
    let dest = addr(0x11);
    let plain = external_message_cell(&dest, None, &body).expect("build");
    let bits = Bits::new()
        .bits("10")
        .bits("00")
        .addr(&dest)
        .coins(0)
        .bits("0")
        .bits("1");
    assert_eq!(plain, bits.cell(vec![body.clone()]));
    assert_eq!(
        boc_hex(&plain),
        hex::encode(hand_boc(&[
            (bits, vec![1]),
            (
                Bits::new()
                    .uint(0xda06_8e78, 32)
                    .uint(6, 64)
                    .addr(&wallet()),
                vec![]
            )
        ]))
    );
    let init = Bits::new().bits("00110").arc(vec![
        Bits::new().bytes(b"code").arc(vec![]),
        Bits::new().bytes(b"data").arc(vec![]),
    ]);
    let with_init = external_message_cell(&dest, Some(&init), &body).expect("build");
    let bits = Bits::new()
        .bits("10")
        .bits("00")
        .addr(&dest)
        .coins(0)
        .bits("11")
        .bits("1");
    assert_eq!(with_init, bits.cell(vec![init, body]));
}
