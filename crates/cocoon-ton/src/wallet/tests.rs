use std::sync::Arc;

use cocoon_ledger::accounting::ONE_TON;
use ed25519_dalek::{Signature, Verifier};
use tonlib_core::TonHash;

use super::*;
use crate::test_bits::Bits;

fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

/// A stand-in code cell for tests (ASCII text, not wallet code).
fn test_code() -> ArcCell {
    Bits::new().bytes(b"test stand-in wallet code").arc(vec![])
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[8u8; 32])
}

fn wallet() -> CocoonWallet {
    CocoonWallet::new(test_code(), key().verifying_key(), addr(0x55)).expect("wallet")
}

fn msg(dest: u8, value: NanoTon) -> OutgoingMessage {
    OutgoingMessage {
        dest: addr(dest),
        value,
        state_init: None,
        body: Some(Bits::new().uint(0xabcd, 32).arc(vec![])),
    }
}

#[test]
fn data_cell_and_address_follow_the_layout() {
    let w = wallet();
    let data = Bits::new()
        .uint(0, 32)
        .uint(0, 32)
        .bytes(key().verifying_key().as_bytes())
        .uint(0, 32)
        .addr(&addr(0x55));
    assert_eq!(
        wallet_data_cell(&key().verifying_key(), &addr(0x55)).expect("data"),
        data.cell(vec![])
    );
    // tonlib-core's own StateInit derivation gives the same address.
    let tonlib = TonAddress::derive(0, test_code(), data.arc(vec![])).expect("derive");
    assert_eq!(w.address(), &tonlib);
    assert_eq!(parse_wallet_seqno(&data.cell(vec![])).expect("seqno"), 0);
    let deployed = Bits::new().uint(41, 32).bits("1").cell(vec![]);
    assert_eq!(parse_wallet_seqno(&deployed).expect("seqno"), 41);
    assert!(parse_wallet_seqno(&Bits::new().uint(1, 31).cell(vec![])).is_err());
}

#[test]
fn signed_body_matches_the_layout_and_verifies() {
    let w = wallet();
    let messages = [msg(0x22, 1), msg(0x33, 700_000_000)];
    let body = w
        .signed_body(&key(), 3, 1_700_003_600, &messages)
        .expect("sign");
    let internals: Vec<ArcCell> = messages
        .iter()
        .map(|m| Arc::new(internal_message_cell(m).expect("internal")))
        .collect();
    let fields = Bits::new()
        .uint(0, 32)
        .uint(1_700_003_600, 32)
        .uint(3, 32)
        .uint(1, 8)
        .uint(0, 8);
    let unsigned = fields.cell(internals.clone());
    let mut p = body.parser();
    let mut signature = [0u8; 64];
    p.load_slice(&mut signature).expect("signature");
    key()
        .verifying_key()
        .verify(
            &boc::cell_hash(&unsigned),
            &Signature::from_bytes(&signature),
        )
        .expect("signature over the unsigned cell");
    let signed = Bits::new().bytes(&signature).bits(&fields.0);
    assert_eq!(body, signed.cell(internals));
}

#[test]
fn external_message_golden() {
    let w = wallet();
    let body = Arc::new(
        w.signed_body(&key(), 0, 1_700_003_600, &[msg(0x22, 1)])
            .expect("sign"),
    );
    let first = w.external_message(&body, 0).expect("external");
    assert_eq!(
        first.references().len(),
        2,
        "StateInit and body while seqno = 0"
    );
    let bits = Bits::new()
        .bits("1000")
        .addr(w.address())
        .coins(0)
        .bits("111");
    assert_eq!(first, bits.cell(vec![w.state_init().clone(), body.clone()]));
    let later = w.external_message(&body, 1).expect("external");
    assert_eq!(later.references().len(), 1);
    assert_eq!(
        hex::encode(boc::serialize(first).expect("boc")),
        "b5ee9c72010207010001210002458800bc085b406054247a1bc31de1c7fb75b2\
b2061bde00d330154973c001393df95a1e01020201340304019a4c65e5f8c449\
d01dea3141388fe521389c6efa03683cce6204593a2e7f7d666f49d154128fa8\
275ea14e2bab1dad4cc7bebd9fe61b7ac6f742a5e2270435c10f000000006553\
ff10000000000105003274657374207374616e642d696e2077616c6c65742063\
6f6465009b00000000000000001398f62c6d1a457c51ba6a4b5f3dbd2f69fca9\
3216218dc8997e416bd17d93ca00000000800aaaaaaaaaaaaaaaaaaaaaaaaaaa\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab001626200111111111111111111\
1111111111111111111111111111111111111111111111080800000000000000\
0000000000010600080000abcd"
    );
}

#[test]
fn signing_is_refused_for_bad_inputs() {
    let w = wallet();
    let five: Vec<OutgoingMessage> = (0..5).map(|i| msg(i, ONE_TON)).collect();
    assert_eq!(
        w.signed_body(&key(), 0, 1, &five),
        Err(WalletError::MessageCount(5))
    );
    assert_eq!(
        w.signed_body(&key(), 0, 1, &[]),
        Err(WalletError::MessageCount(0))
    );
    let stranger = SigningKey::from_bytes(&[9u8; 32]);
    assert_eq!(
        w.signed_body(&stranger, 0, 1, &[msg(1, 1)]),
        Err(WalletError::KeyMismatch)
    );
    assert!(WalletSender::new(wallet(), stranger).is_err());
}

#[path = "sender_tests.rs"]
mod sender_tests;
