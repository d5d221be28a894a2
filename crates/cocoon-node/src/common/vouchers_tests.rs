//! Tests of [`super::PaymentsBook`]: reordered (lower) vouchers and counters are ignored
//! and counted, never replacing what we know (runners.md §13.21).

use cocoon_ledger::ledger::ContractContext;
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use cocoon_wire::schema::{enums, types};
use ed25519_dalek::SigningKey;
use tonlib_core::TonAddress;

use super::{derive_our_contract, PaymentsBook};

const OWNER: &str = "0:2222222222222222222222222222222222222222222222222222222222222222";
const PROXY_SC: &str = "0:3333333333333333333333333333333333333333333333333333333333333333";

fn params(key: &SigningKey) -> types::proxy::Params {
    types::proxy::Params {
        flags: 3,
        proxy_public_key: key.verifying_key().to_bytes(),
        proxy_owner_address: String::new(),
        proxy_sc_address: PROXY_SC.into(),
        is_test: Some(true),
        proto_version: Some(4),
    }
}

fn address(text: &str) -> TonAddress {
    cocoon_ledger::address::parse_address(text)
        .expect("address")
        .address
}

fn payment(key: &SigningKey, target: &TonAddress, tokens: u64) -> enums::proxy::SignedPayment {
    let terms = VoucherTerms {
        kind: VoucherKind::WorkerPayout,
        qid: tokens,
        tokens,
        target: target.clone(),
    };
    let signed = voucher::sign(key, terms, &address(PROXY_SC)).expect("sign");
    enums::proxy::SignedPayment::SignedPayment(types::proxy::SignedPayment { data: signed.boc })
}

#[test]
fn lower_voucher_and_counters_are_ignored_and_counted() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let root = ContractContext::devnet(RootConfig::devnet_default().params).expect("devnet");
    let ours = derive_our_contract(
        VoucherKind::WorkerPayout,
        &address(OWNER),
        &address(PROXY_SC),
        &key.verifying_key(),
        &root,
    )
    .expect("derive");
    let book = PaymentsBook::default();
    book.connected_in("p", VoucherKind::WorkerPayout, OWNER, &params(&key), &root);

    book.offer("p", &payment(&key, &ours, 50), 50, 60);
    assert_eq!(book.voucher_tokens("p"), 50);
    assert_eq!(book.ignored_lower("p"), 0);

    // A reordered, older payment message: lower voucher, lower counters.
    book.offer("p", &payment(&key, &ours, 20), 20, 30);
    let view = book.view("p").expect("view");
    assert_eq!(view.voucher_tokens(), 50, "the higher voucher is kept");
    assert_eq!((view.db_tokens, view.max_tokens), (50, 60));
    assert_eq!(
        book.ignored_lower("p"),
        2,
        "lower counters and lower voucher"
    );
    assert_eq!(view.our_sc.as_ref(), Some(&ours));

    // Newer messages still count.
    book.offer("p", &payment(&key, &ours, 70), 70, 80);
    assert_eq!(book.voucher_tokens("p"), 70);
}

#[test]
fn equal_voucher_is_not_counted_as_lower() {
    let key = SigningKey::from_bytes(&[8; 32]);
    let root = ContractContext::devnet(RootConfig::devnet_default().params).expect("devnet");
    let ours = derive_our_contract(
        VoucherKind::WorkerPayout,
        &address(OWNER),
        &address(PROXY_SC),
        &key.verifying_key(),
        &root,
    )
    .expect("derive");
    let book = PaymentsBook::default();
    book.connected_in("p", VoucherKind::WorkerPayout, OWNER, &params(&key), &root);
    book.offer("p", &payment(&key, &ours, 5), 5, 5);
    book.offer("p", &payment(&key, &ours, 5), 5, 5);
    assert_eq!(book.ignored_lower("p"), 0);
    assert_eq!(book.voucher_tokens("p"), 5);
}

#[test]
fn root_params_change_our_contract_address() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let mut other = ContractContext::devnet(RootConfig::devnet_default().params).expect("devnet");
    other.params.params_version += 1;
    let book = PaymentsBook::default();
    book.connected("a", VoucherKind::WorkerPayout, OWNER, &params(&key));
    book.connected_in("b", VoucherKind::WorkerPayout, OWNER, &params(&key), &other);
    let (a, b) = (book.view("a").expect("a"), book.view("b").expect("b"));
    assert!(a.our_sc.is_some() && b.our_sc.is_some());
    assert_ne!(a.our_sc, b.our_sc, "params are part of the init data");
}

#[test]
fn an_unrecorded_params_version_is_not_outdated() {
    use super::contract_outdated;
    assert!(contract_outdated(1, 2));
    assert!(!contract_outdated(2, 2));
    assert!(
        !contract_outdated(3, 2),
        "a newer contract than the root read is not outdated"
    );
    assert!(
        !contract_outdated(0, 2),
        "stored before versions were recorded: current"
    );
}
