//! Proxy payments on the devnet: counters settled per request, and real signed vouchers
//! (client charge / worker payout) that verify against the proxy key and the contract
//! addresses the proxy announces in its handshakes.

mod proxy_common;

use cocoon_ledger::address::{
    derive_contract_address, devnet_placeholder_codes, parse_address, ContractSpec,
};
use cocoon_ledger::ledger::devnet::devnet_root_address;
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind};
use cocoon_net::InboundMessage;
use cocoon_node::proxy::{ProxyPayments, ProxySettings, Side};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::from_bytes;
use ed25519_dalek::SigningKey;
use proxy_common::*;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn voucher_bytes(p: &enums::proxy::SignedPayment) -> Option<&[u8]> {
    match p {
        enums::proxy::SignedPayment::SignedPayment(s) => Some(&s.data),
        enums::proxy::SignedPayment::SignedPaymentEmpty(_) => None,
    }
}

fn raw_address(hex: &str) -> tonlib_core::TonAddress {
    parse_address(hex).expect("raw contract address").address
}

#[test]
fn settled_tokens_are_vouched_for_on_both_sides() {
    let mut payments = ProxyPayments::new(Some(key()), OWNER, "");
    assert!(payments.signs_vouchers());
    // Nothing to pay yet: still a signed voucher, for 0 tokens (the reference worker refuses
    // `signedPaymentEmpty` in its handshake, interop.md §3).
    let fresh = payments.snapshot(Side::Client, OWNER);
    let fresh_target = raw_address(&payments.sc_address(Side::Client, OWNER));
    let bytes = voucher_bytes(&fresh.signed_payment).expect("a voucher for 0 tokens");
    let v = voucher::verify(
        bytes,
        VoucherKind::ClientCharge,
        &fresh_target,
        &key().verifying_key(),
    )
    .expect("valid voucher");
    assert_eq!(v.terms.tokens, 0);
    assert_eq!((fresh.db_tokens, fresh.max_tokens), (0, 0));

    let worker_owner = "0:1111111111111111111111111111111111111111111111111111111111111111";
    payments.settle(OWNER, worker_owner, 10);
    payments.settle(OWNER, worker_owner, 7);
    let view = payments.counters(Side::Client, OWNER);
    // Devnet: each flush counts as committed on chain at once.
    assert_eq!(
        (
            view.tokens_max,
            view.committed_to_db,
            view.committed_to_blockchain
        ),
        (17, 17, 17)
    );

    let public = key().verifying_key();
    for (side, owner, kind) in [
        (Side::Client, OWNER, VoucherKind::ClientCharge),
        (Side::Worker, worker_owner, VoucherKind::WorkerPayout),
    ] {
        let snap = payments.snapshot(side, owner);
        assert_eq!((snap.db_tokens, snap.max_tokens), (17, 17));
        let target = raw_address(&payments.sc_address(side, owner));
        let bytes = voucher_bytes(&snap.signed_payment).expect("voucher");
        let v = voucher::verify(bytes, kind, &target, &public).expect("valid voucher");
        assert_eq!(v.terms.tokens, 17);
        // The wrong kind or another key is refused.
        let other = SigningKey::from_bytes(&[1; 32]).verifying_key();
        assert!(voucher::verify(bytes, kind, &target, &other).is_err());
    }
}

#[test]
fn contract_addresses_follow_the_devnet_derivation() {
    let payments = ProxyPayments::new(Some(key()), OWNER, "");
    let codes = devnet_placeholder_codes().expect("codes");
    let params = RootConfig::devnet_default().params;
    let owner = parse_address(OWNER).expect("owner").address;
    let root = devnet_root_address();
    let proxy_sc = derive_contract_address(
        ContractSpec::Proxy {
            owner: &owner,
            root: &root,
        },
        &key().verifying_key(),
        &params,
        &codes,
    )
    .expect("proxy sc");
    assert_eq!(payments.proxy_sc_address(), proxy_sc.to_hex());
    let client_sc = derive_contract_address(
        ContractSpec::Client {
            owner: &owner,
            proxy_sc: &proxy_sc,
        },
        &key().verifying_key(),
        &params,
        &codes,
    )
    .expect("client sc");
    assert_eq!(payments.sc_address(Side::Client, OWNER), client_sc.to_hex());
    assert_ne!(
        payments.sc_address(Side::Client, OWNER),
        payments.sc_address(Side::Worker, OWNER)
    );
    assert_eq!(payments.sc_address(Side::Client, "not an address"), "");
}

#[test]
fn without_a_key_counters_are_kept_but_nothing_is_signed() {
    let mut payments = ProxyPayments::new(None, OWNER, "");
    assert!(!payments.signs_vouchers());
    payments.settle(OWNER, OWNER, 5);
    let snap = payments.snapshot(Side::Client, OWNER);
    assert!(voucher_bytes(&snap.signed_payment).is_none());
    assert_eq!(snap.max_tokens, 5);
    assert_eq!(payments.proxy_sc_address(), "");
}

#[tokio::test]
async fn finished_requests_pay_both_sides_with_valid_vouchers() {
    let settings = ProxySettings::fake_ton_signing(key(), OWNER, CONFIG_VERSION);
    let proxy = start_proxy_with(settings).await;
    let public = key().verifying_key();
    let (_worker, worker_sc, mut worker_payments) = paying_worker(&proxy, 12).await;
    assert!(!worker_sc.is_empty(), "worker contract address announced");

    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 4000, 100.0).await;
    let out = client.outcome(id).await;
    assert_eq!(out.error, None);

    // The client's payment notice follows the final answer.
    let notice = loop {
        let msg = within("client payment", client.inbound.next())
            .await
            .expect("connection open");
        let InboundMessage::Packet(data) = msg else {
            continue;
        };
        if let Ok(p) = from_bytes::<types::proxy::ClientRequestPayment>(&data) {
            break p;
        }
    };
    assert_eq!(notice.request_id, id);
    assert_eq!(
        (notice.request_tokens, notice.db_tokens, notice.max_tokens),
        (12, 12, 12)
    );
    let client_sc = raw_address(&proxy.shared.sc_address(Side::Client, OWNER));
    let bytes = voucher_bytes(&notice.signed_payment).expect("client voucher");
    let v = voucher::verify(bytes, VoucherKind::ClientCharge, &client_sc, &public)
        .expect("client voucher verifies");
    assert_eq!(v.terms.tokens, 12);

    let paid = within("worker payment", worker_payments.recv())
        .await
        .expect("worker payment");
    assert_eq!(paid.request_client_owner, OWNER);
    assert_eq!((paid.request_tokens, paid.max_tokens), (12, 12));
    let bytes = voucher_bytes(&paid.signed_payment).expect("worker voucher");
    let v = voucher::verify(
        bytes,
        VoucherKind::WorkerPayout,
        &raw_address(&worker_sc),
        &public,
    )
    .expect("worker voucher verifies");
    assert_eq!(v.terms.tokens, 12);

    // Payment status answers carry the same counters and a valid voucher.
    let enums::client::PaymentStatus::PaymentStatus(status) = client
        .session
        .call(&functions::client::UpdatePaymentStatus {}, WAIT)
        .await
        .expect("payment status");
    assert_eq!((status.db_tokens, status.max_tokens), (12, 12));
    let bytes = voucher_bytes(&status.signed_payment).expect("status voucher");
    voucher::verify(bytes, VoucherKind::ClientCharge, &client_sc, &public)
        .expect("status voucher verifies");

    // /jsonstats shows the devnet counters per owner.
    let stats: serde_json::Value =
        serde_json::from_str(&http_get(proxy.stats_addr.expect("stats"), "/jsonstats").await)
            .expect("json");
    let payments = &stats["payments"];
    assert_eq!(payments["network"], "fake-ton");
    assert_eq!(payments["clients"][0]["owner_address"], OWNER);
    assert_eq!(payments["clients"][0]["tokens_committed_to_blockchain"], 12);
    assert_eq!(payments["workers"][0]["tokens_max"], 12);
}

fn proxy_params_of(payments: &ProxyPayments, key: &SigningKey) -> types::proxy::Params {
    types::proxy::Params {
        flags: 3,
        proxy_public_key: key.verifying_key().to_bytes(),
        proxy_owner_address: OWNER.into(),
        proxy_sc_address: payments.proxy_sc_address(),
        is_test: Some(true),
        proto_version: Some(4),
    }
}

#[test]
fn receivers_keep_the_highest_valid_voucher_and_refuse_forged_ones() {
    use cocoon_node::common::vouchers::PaymentsBook;
    let worker_owner = "0:2222222222222222222222222222222222222222222222222222222222222222";
    let mut proxy = ProxyPayments::new(Some(key()), OWNER, "");
    let book = PaymentsBook::default();
    book.connected(
        "proxy-a",
        VoucherKind::WorkerPayout,
        worker_owner,
        &proxy_params_of(&proxy, &key()),
    );
    proxy.settle(OWNER, worker_owner, 9);
    let low = proxy.snapshot(Side::Worker, worker_owner);
    proxy.settle(OWNER, worker_owner, 4);
    let high = proxy.snapshot(Side::Worker, worker_owner);
    book.offer(
        "proxy-a",
        &high.signed_payment,
        high.db_tokens,
        high.max_tokens,
    );
    book.offer(
        "proxy-a",
        &low.signed_payment,
        low.db_tokens,
        low.max_tokens,
    );
    assert_eq!(
        book.voucher_tokens("proxy-a"),
        13,
        "the lower one does not replace it"
    );

    // A voucher signed by another key (a forger impersonating the proxy) is refused.
    let mut forger = ProxyPayments::new(Some(SigningKey::from_bytes(&[9; 32])), OWNER, "");
    forger.settle(OWNER, worker_owner, 1000);
    let forged = forger.snapshot(Side::Worker, worker_owner);
    book.offer("proxy-a", &forged.signed_payment, 0, 0);
    // A client voucher is not a worker payout.
    let client = proxy.snapshot(Side::Client, OWNER);
    book.offer("proxy-a", &client.signed_payment, 0, 0);
    assert_eq!(book.voucher_tokens("proxy-a"), 13);
    let stats = book.to_json();
    assert_eq!(stats["proxy-a"]["vouchers_rejected"], 2, "{stats}");
    assert_eq!(stats["proxy-a"]["vouchers_accepted"], 1, "{stats}");
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cocoon-proxy-books-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn counters_survive_a_restart_through_the_books() {
    use cocoon_node::proxy::books::ProxyBooks;
    let dir = scratch_dir("restart");
    let worker_owner = "0:3333333333333333333333333333333333333333333333333333333333333333";
    {
        let mut payments = ProxyPayments::new(Some(key()), OWNER, "");
        payments.attach_books(ProxyBooks::open(&dir, key()).expect("create books"));
        payments.settle(OWNER, worker_owner, 10);
        payments.settle(OWNER, worker_owner, 5);
    }
    let mut payments = ProxyPayments::new(Some(key()), OWNER, "");
    payments.attach_books(ProxyBooks::open(&dir, key()).expect("reopen books"));
    let view = payments.counters(Side::Worker, worker_owner);
    assert_eq!(
        (
            view.tokens_max,
            view.committed_to_db,
            view.committed_to_blockchain
        ),
        (15, 15, 15)
    );
    let snap = payments.snapshot(Side::Client, OWNER);
    let target = raw_address(&payments.sc_address(Side::Client, OWNER));
    let bytes = voucher_bytes(&snap.signed_payment).expect("voucher after restart");
    let v = voucher::verify(
        bytes,
        VoucherKind::ClientCharge,
        &target,
        &key().verifying_key(),
    )
    .expect("valid");
    assert_eq!(v.terms.tokens, 15);
    // And they keep growing from there.
    payments.settle(OWNER, worker_owner, 1);
    assert_eq!(payments.counters(Side::Client, OWNER).committed_to_db, 16);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_proxy_refuses_to_start_on_books_it_cannot_verify() {
    use cocoon_node::proxy::ProxyShared;
    let dir = scratch_dir("tamper");
    let mut settings = ProxySettings::fake_ton_signing(key(), OWNER, CONFIG_VERSION);
    settings.db_path = Some(dir.clone());
    let shared = ProxyShared::open(settings.clone()).expect("fresh books");
    shared.payments.lock().unwrap().settle(OWNER, OWNER, 3);
    drop(shared);
    // Books sealed by another key do not verify.
    let mut other = ProxySettings::fake_ton_signing(SigningKey::from_bytes(&[3; 32]), OWNER, 3);
    other.db_path = Some(dir.clone());
    let err = ProxyShared::open(other).expect_err("foreign books refused");
    assert!(err.contains("refusing to start"), "{err}");
    // The right key still opens them (edits of single rows are covered by the
    // cocoon-ledger books tests).
    ProxyShared::open(settings).expect("own books reopen");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 13: while the proxy contract holds less than the workers are owed, no worker
/// voucher above the one already signed is signed (it would bounce, using the voucher up);
/// clients' vouchers are unaffected; released, the worker's voucher catches up.
#[test]
fn held_worker_vouchers_never_rise_until_released() {
    let mut payments = ProxyPayments::new(Some(key()), OWNER, "");
    let worker_owner = "0:1111111111111111111111111111111111111111111111111111111111111111";
    let tokens_of = |p: &mut ProxyPayments, side: Side, owner: &str, kind: VoucherKind| {
        let snap = p.snapshot(side, owner);
        let bytes = voucher_bytes(&snap.signed_payment)
            .expect("voucher")
            .to_vec();
        voucher::peek_terms(&bytes, kind).expect("terms").tokens
    };
    payments.settle(OWNER, worker_owner, 10);
    assert_eq!(
        tokens_of(
            &mut payments,
            Side::Worker,
            worker_owner,
            VoucherKind::WorkerPayout
        ),
        10
    );
    assert_eq!(payments.tokens_owed_to_workers(), 10);

    assert!(payments.hold_worker_vouchers(true), "changed");
    assert!(!payments.hold_worker_vouchers(true), "already held");
    payments.settle(OWNER, worker_owner, 5);
    assert_eq!(payments.tokens_owed_to_workers(), 15);
    assert_eq!(
        tokens_of(
            &mut payments,
            Side::Worker,
            worker_owner,
            VoucherKind::WorkerPayout
        ),
        10,
        "held at the voucher already signed"
    );
    assert_eq!(
        tokens_of(
            &mut payments,
            Side::Client,
            OWNER,
            VoucherKind::ClientCharge
        ),
        15,
        "clients are charged as usual"
    );
    // A worker first seen while held gets no more than its contract has paid (0 here).
    let newcomer = "0:2222222222222222222222222222222222222222222222222222222222222222";
    payments.settle(OWNER, newcomer, 4);
    assert_eq!(
        tokens_of(
            &mut payments,
            Side::Worker,
            newcomer,
            VoucherKind::WorkerPayout
        ),
        0
    );

    assert!(payments.hold_worker_vouchers(false));
    assert_eq!(
        tokens_of(
            &mut payments,
            Side::Worker,
            worker_owner,
            VoucherKind::WorkerPayout
        ),
        15
    );
    assert_eq!(
        tokens_of(
            &mut payments,
            Side::Worker,
            newcomer,
            VoucherKind::WorkerPayout
        ),
        4
    );
}
