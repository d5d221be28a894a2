//! The proxy on a devnet ledger (in memory): contract deployment, reservations against the
//! client contract, `save_state` gating of vouchers, client charges, worker payouts and the
//! commission, payment notices after failures, and the books across restarts.

mod proxy_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::accounting::{ClientChainView, NanoTon, ONE_TON};
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{
    ClientContractState, ContractContext, ContractStatus, DevnetLedger, Ledger, LedgerError,
    ProxyContractState, SavedState, VoucherSettlement, WorkerContractState,
};
use cocoon_ledger::root_config::RootConfig;
use cocoon_ledger::voucher::{self, VoucherKind};
use cocoon_net::{Inbound, InboundMessage, Session};
use cocoon_node::proxy::reservation::reservation_tokens;
use cocoon_node::proxy::{ProxyHandle, ProxyPayments, ProxySettings, ProxyShared, Side};
use cocoon_wire::schema::{enums, types};
use cocoon_wire::tl::from_bytes;
use ed25519_dalek::{SigningKey, VerifyingKey};
use proxy_common::*;
use tonlib_core::TonAddress;

const WORKER_OWNER: &str = "0:5555555555555555555555555555555555555555555555555555555555555555";
/// Devnet default prices.
const PRICE: u128 = 2;
const FEE: u128 = 1;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[21; 32])
}

fn addr(text: &str) -> TonAddress {
    parse_address(text).expect("address").address
}

fn devnet() -> Arc<DevnetLedger> {
    Arc::new(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"))
}

fn ledger_settings(ledger: Arc<dyn Ledger>) -> ProxySettings {
    let mut s = ProxySettings::fake_ton_signing(key(), OWNER, CONFIG_VERSION);
    s.ledger = Some(ledger);
    s
}

/// Deploys the client contract of `OWNER` at `proxy_sc` with `balance` and a 1 TON stake.
fn open_client(ledger: &DevnetLedger, proxy_sc: &str, balance: NanoTon) -> TonAddress {
    let owner = addr(OWNER);
    ledger
        .devnet_fund(&owner, balance + ONE_TON)
        .expect("fund client");
    let sc = ledger
        .client_deploy(&owner, &addr(proxy_sc))
        .expect("client deploy");
    ledger
        .client_increase_stake(&owner, &sc, ONE_TON)
        .expect("stake");
    if balance > 0 {
        ledger.client_top_up(&owner, &sc, balance).expect("top up");
    }
    // As a cocoon-rs client with the empty secret sets it (the proxy checks auth against it).
    let empty: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"").into();
    ledger
        .client_change_secret_hash(&owner, &sc, empty)
        .expect("secret hash");
    sc
}

async fn ledger_proxy(ledger: &Arc<DevnetLedger>) -> ProxyHandle {
    ledger
        .devnet_fund(&addr(OWNER), 2 * ONE_TON)
        .expect("fund proxy owner");
    start_proxy_with(ledger_settings(ledger.clone())).await
}

fn client_payment(data: &[u8]) -> Option<types::proxy::ClientRequestPayment> {
    from_bytes::<types::proxy::ClientRequestPayment>(data).ok()
}

async fn next_client_payment(client: &mut FakeClient) -> types::proxy::ClientRequestPayment {
    loop {
        let msg = within("client payment", client.inbound.next())
            .await
            .expect("connection open");
        if let InboundMessage::Packet(data) = msg {
            if let Some(p) = client_payment(&data) {
                return p;
            }
        }
    }
}

/// The tokens a payment message's voucher covers (0 without one). The proxy signs a voucher
/// for 0 tokens too, as the reference does.
fn voucher_tokens(p: &enums::proxy::SignedPayment, kind: VoucherKind) -> u64 {
    match p {
        enums::proxy::SignedPayment::SignedPayment(s) => {
            voucher::peek_terms(&s.data, kind).expect("voucher").tokens
        }
        enums::proxy::SignedPayment::SignedPaymentEmpty(_) => 0,
    }
}

#[test]
fn a_poor_owner_gets_a_clear_error_and_a_funded_one_deploys_once() {
    let ledger = devnet();
    let err = ProxyShared::open(ledger_settings(ledger.clone())).expect_err("unfunded owner");
    assert!(err.contains("cocoon devnet fund"), "{err}");

    let owner = addr(OWNER);
    ledger.devnet_fund(&owner, 3 * ONE_TON).expect("fund");
    let shared = ProxyShared::open(ledger_settings(ledger.clone())).expect("deploys");
    let proxy_sc = addr(&shared.settings.proxy_sc_address);
    let state = ledger
        .proxy_state(&proxy_sc)
        .expect("deployed at the derived address");
    assert_eq!(state.status, ContractStatus::Active);
    assert_eq!(state.stake, ONE_TON, "root min_proxy_stake");
    assert_eq!(state.saved_states.len(), 1, "start-up save_state");
    assert_eq!(ledger.wallet_balance(&owner).expect("wallet"), 2 * ONE_TON);
    drop(shared);

    // A restart reuses the active contract: no second stake, a second session's save_state.
    let again = ProxyShared::open(ledger_settings(ledger.clone())).expect("reuses");
    assert_eq!(again.settings.proxy_sc_address, proxy_sc.to_hex());
    assert_eq!(ledger.wallet_balance(&owner).expect("wallet"), 2 * ONE_TON);
    let saved = ledger.proxy_state(&proxy_sc).expect("state").saved_states;
    assert_eq!(saved.len(), 2);
    assert_ne!(saved[0].session_hash, saved[1].session_hash);
    assert!(saved[1].seqno > saved[0].seqno);
}

#[tokio::test]
async fn reservations_refuse_closing_contracts_and_low_balances_with_602() {
    let ledger = devnet();
    let proxy = ledger_proxy(&ledger).await;
    let (_worker, _sc, _payments) = paying_worker(&proxy, 10).await;
    // A contract holding 150 tokens' worth (a client authorises only with a contract).
    let sc = open_client(
        &ledger,
        &proxy.shared.settings.proxy_sc_address,
        150 * PRICE,
    );
    let mut client = connect_client(&proxy).await;
    assert!(client.version >= 1, "an *Ex client");

    // It cannot reserve ~1100 tokens.
    let id = client.send_request(MODEL, 1000, 30.0).await;
    let (code, message) = client.outcome(id).await.error.expect("refused");
    assert_eq!(code, 602);
    assert!(message.contains("client balance is too low"), "{message}");
    // A small request fits (max_tokens 0: the request bytes alone, about 90 tokens).
    let id = client.send_request_with(MODEL, 1000, 0, 30.0).await;
    assert_eq!(client.outcome(id).await.error, None);

    // Once the owner asks for its refund, the contract is closing: nothing more is served.
    ledger
        .client_request_refund(&addr(OWNER), &sc)
        .expect("refund request");
    // The proxy's view of the contract is at most `client_view_max_age` (1 s) old.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let id = client.send_request_with(MODEL, 1000, 0, 30.0).await;
    let (code, message) = client.outcome(id).await.error.expect("refused");
    assert_eq!(code, 602);
    assert!(message.contains("Closing"), "{message}");
    let stats = &proxy.shared.counters;
    assert_eq!(stats.refused_balance.load(Ordering::Relaxed), 2);
    assert_eq!(
        proxy.shared.payments.lock().unwrap().reserved(OWNER),
        0,
        "released"
    );
}

#[test]
fn reservation_sizes_are_validated() {
    assert!(
        reservation_tokens(-1, 10, 1000).is_err(),
        "negative max_tokens"
    );
    assert!(
        reservation_tokens(10, 10, -1).is_err(),
        "negative max_coefficient"
    );
    assert_eq!(reservation_tokens(100, 20, 1000), Ok(120));
    assert_eq!(reservation_tokens(100, 20, 2000), Ok(240));
    // The largest values saturate instead of overflowing (and then never fit a balance).
    let huge = reservation_tokens(i32::MAX, usize::MAX, i32::MAX).expect("saturates");
    assert!(huge >= u64::from(i32::MAX as u32));
}

#[tokio::test]
async fn served_tokens_move_money_on_the_ledger() {
    let ledger = devnet();
    let proxy = ledger_proxy(&ledger).await;
    let proxy_sc = addr(&proxy.shared.settings.proxy_sc_address);
    let client_sc = open_client(&ledger, &proxy.shared.settings.proxy_sc_address, ONE_TON);
    let worker_sc = ledger
        .worker_deploy(&addr(WORKER_OWNER), &proxy_sc)
        .expect("worker deploy");
    let minted = ledger.devnet_minted();
    let owner_wallet_before = ledger.wallet_balance(&addr(OWNER)).expect("wallet");

    let tokens: u64 = 12;
    let (_worker, _sc, _payments) =
        scripted_worker(&proxy, tokens as i64, false, WORKER_OWNER).await;
    let mut client = connect_client(&proxy).await;
    for _ in 0..3 {
        let id = client.send_request(MODEL, 1000, 30.0).await;
        assert_eq!(client.outcome(id).await.error, None);
    }
    let served = 3 * tokens;
    // The loop flushes, saves state, then charges, pays and withdraws (devnet: 1-nanoTON
    // thresholds, 1–2 s cadence).
    wait_until("client charged and worker paid", || {
        ledger.client_state(&client_sc).expect("client").tokens_used == served
            && ledger.worker_state(&worker_sc).expect("worker").tokens == served
            && ledger.proxy_state(&proxy_sc).expect("proxy").commission == 0
    })
    .await;
    let client_state = ledger.client_state(&client_sc).expect("client");
    assert_eq!(client_state.balance, ONE_TON - u128::from(served) * PRICE);
    assert_eq!(
        ledger
            .wallet_balance(&addr(WORKER_OWNER))
            .expect("worker wallet"),
        u128::from(served) * FEE
    );
    let proxy_state = ledger.proxy_state(&proxy_sc).expect("proxy");
    assert_eq!(proxy_state.commission, 0, "paid out");
    assert_eq!(
        ledger.wallet_balance(&addr(OWNER)).expect("owner wallet") - owner_wallet_before,
        u128::from(served) * (PRICE - FEE),
        "commission = tokens × (price − fee)"
    );
    assert_eq!(ledger.devnet_holdings(), minted, "money conserved");

    // /jsonstats shows the money fields of runners.md §9.
    let stats: serde_json::Value =
        serde_json::from_str(&http_get(proxy.stats_addr.expect("stats"), "/jsonstats").await)
            .expect("json");
    assert_eq!(stats["smartcontract"]["address"], proxy_sc.to_hex());
    assert_eq!(stats["smartcontract"]["ready_for_withdraw"], 0);
    assert!(
        stats["status"]["wallet_balance"].as_u64().is_some(),
        "{stats}"
    );
    assert_eq!(stats["clients"][0]["used_tokens"], served);
    assert_eq!(stats["clients"][0]["tokens_to_charge"], 0);
    assert_eq!(stats["clients"][0]["reserved_tokens"], 0);
    assert_eq!(stats["workers"][0]["earned_tokens"], served);
    assert_eq!(stats["workers"][0]["unpayed_tokens"], 0);
    assert_eq!(stats["workers"][0]["sc_address"], worker_sc.to_hex());
}

/// A ledger that forwards everything except, once `drop_saves` is set, `save_state`
/// (accepted and lost, as a message that never lands).
struct LossyLedger {
    inner: Arc<DevnetLedger>,
    drop_saves: AtomicBool,
}

impl Ledger for LossyLedger {
    fn now(&self) -> u64 {
        self.inner.now()
    }
    fn root_config(&self) -> Result<RootConfig, LedgerError> {
        self.inner.root_config()
    }
    fn network(&self) -> &'static str {
        self.inner.network()
    }
    fn funding_hint(&self, wallet: &str, nanoton: NanoTon) -> String {
        self.inner.funding_hint(wallet, nanoton)
    }
    fn contract_context(&self) -> Result<ContractContext, LedgerError> {
        self.inner.contract_context()
    }
    fn wallet_balance(&self, w: &TonAddress) -> Result<NanoTon, LedgerError> {
        self.inner.wallet_balance(w)
    }
    fn proxy_deploy(
        &self,
        o: &TonAddress,
        k: &VerifyingKey,
        s: NanoTon,
    ) -> Result<TonAddress, LedgerError> {
        self.inner.proxy_deploy(o, k, s)
    }
    fn proxy_state(&self, sc: &TonAddress) -> Result<ProxyContractState, LedgerError> {
        self.inner.proxy_state(sc)
    }
    fn proxy_save_state(
        &self,
        s: &TonAddress,
        sc: &TonAddress,
        saved: SavedState,
    ) -> Result<(), LedgerError> {
        if self.drop_saves.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.proxy_save_state(s, sc, saved)
    }
    fn proxy_payout(&self, s: &TonAddress, sc: &TonAddress) -> Result<NanoTon, LedgerError> {
        self.inner.proxy_payout(s, sc)
    }
    fn proxy_request_close(&self, s: &TonAddress, sc: &TonAddress) -> Result<u64, LedgerError> {
        self.inner.proxy_request_close(s, sc)
    }
    fn proxy_complete_close(
        &self,
        s: &TonAddress,
        sc: &TonAddress,
    ) -> Result<NanoTon, LedgerError> {
        self.inner.proxy_complete_close(s, sc)
    }
    fn client_deploy(&self, o: &TonAddress, p: &TonAddress) -> Result<TonAddress, LedgerError> {
        self.inner.client_deploy(o, p)
    }
    fn client_state(&self, sc: &TonAddress) -> Result<ClientContractState, LedgerError> {
        self.inner.client_state(sc)
    }
    fn client_top_up(
        &self,
        s: &TonAddress,
        sc: &TonAddress,
        a: NanoTon,
    ) -> Result<(), LedgerError> {
        self.inner.client_top_up(s, sc, a)
    }
    fn client_increase_stake(
        &self,
        s: &TonAddress,
        sc: &TonAddress,
        a: NanoTon,
    ) -> Result<(), LedgerError> {
        self.inner.client_increase_stake(s, sc, a)
    }
    fn client_change_secret_hash(
        &self,
        s: &TonAddress,
        sc: &TonAddress,
        h: [u8; 32],
    ) -> Result<(), LedgerError> {
        self.inner.client_change_secret_hash(s, sc, h)
    }
    fn client_register(&self, s: &TonAddress, sc: &TonAddress, n: u64) -> Result<(), LedgerError> {
        self.inner.client_register(s, sc, n)
    }
    fn client_charge(&self, sc: &TonAddress, v: &[u8]) -> Result<VoucherSettlement, LedgerError> {
        self.inner.client_charge(sc, v)
    }
    fn client_grant_refund(
        &self,
        sc: &TonAddress,
        v: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.inner.client_grant_refund(sc, v)
    }
    fn client_request_refund(&self, s: &TonAddress, sc: &TonAddress) -> Result<u64, LedgerError> {
        self.inner.client_request_refund(s, sc)
    }
    fn client_withdraw(&self, s: &TonAddress, sc: &TonAddress) -> Result<NanoTon, LedgerError> {
        self.inner.client_withdraw(s, sc)
    }
    fn worker_deploy(&self, o: &TonAddress, p: &TonAddress) -> Result<TonAddress, LedgerError> {
        self.inner.worker_deploy(o, p)
    }
    fn worker_state(&self, sc: &TonAddress) -> Result<WorkerContractState, LedgerError> {
        self.inner.worker_state(sc)
    }
    fn worker_payout(&self, sc: &TonAddress, v: &[u8]) -> Result<VoucherSettlement, LedgerError> {
        self.inner.worker_payout(sc, v)
    }
    fn worker_last_payout(
        &self,
        sc: &TonAddress,
        v: &[u8],
    ) -> Result<VoucherSettlement, LedgerError> {
        self.inner.worker_last_payout(sc, v)
    }
}

/// Issue 13: a client contract in Closing gets its final charge and refund from the proxy
/// (`ext_client_grant_refund_signed`, as the reference proxy does) once its tokens are
/// committed — not, after the unlock time, a forced refund that the real proxy contract
/// pays from its stake.
#[tokio::test]
async fn a_closing_client_is_refunded_by_the_proxy_not_from_its_stake() {
    let ledger = devnet();
    let proxy = ledger_proxy(&ledger).await;
    let proxy_sc = addr(&proxy.shared.settings.proxy_sc_address);
    let client_sc = open_client(&ledger, &proxy.shared.settings.proxy_sc_address, ONE_TON);
    let tokens: u64 = 12;
    let (_worker, _sc, _payments) =
        scripted_worker(&proxy, tokens as i64, false, WORKER_OWNER).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 1000, 30.0).await;
    assert_eq!(client.outcome(id).await.error, None);
    let owner_before = ledger.wallet_balance(&addr(OWNER)).expect("wallet");
    let stake_before = ledger.proxy_state(&proxy_sc).expect("proxy").stake;

    // The owner asks for its refund: Closing, unlocked only after the close delay (300 s).
    ledger
        .client_request_refund(&addr(OWNER), &client_sc)
        .expect("refund request");
    wait_until("the proxy's final refund closes the contract", || {
        ledger.client_state(&client_sc).expect("client").status == ContractStatus::Closed
    })
    .await;
    let closed = ledger.client_state(&client_sc).expect("client");
    assert_eq!(
        closed.tokens_used, tokens,
        "the final charge covers every token"
    );
    let refunded = ledger.wallet_balance(&addr(OWNER)).expect("wallet") - owner_before;
    // The whole balance left comes back (the stake is a figure inside it, as on TON).
    assert_eq!(
        refunded,
        ONE_TON - u128::from(tokens) * PRICE,
        "what was left came back to the owner"
    );
    assert_eq!(
        ledger.proxy_state(&proxy_sc).expect("proxy").stake,
        stake_before,
        "the proxy's stake is untouched"
    );
}

#[tokio::test]
async fn vouchers_wait_until_save_state_is_read_back() {
    let inner = devnet();
    inner
        .devnet_fund(&addr(OWNER), 2 * ONE_TON)
        .expect("fund proxy owner");
    let lossy = Arc::new(LossyLedger {
        inner: inner.clone(),
        drop_saves: AtomicBool::new(false),
    });
    let proxy = start_proxy_with(ledger_settings(lossy.clone())).await;
    let client_sc = open_client(&inner, &proxy.shared.settings.proxy_sc_address, ONE_TON);
    lossy.drop_saves.store(true, Ordering::SeqCst);

    let (_worker, _sc, mut worker_payments) = paying_worker(&proxy, 7).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 1000, 30.0).await;
    assert_eq!(client.outcome(id).await.error, None);
    let notice = next_client_payment(&mut client).await;
    assert_eq!((notice.request_tokens, notice.max_tokens), (7, 7));
    assert_eq!(
        voucher_tokens(&notice.signed_payment, VoucherKind::ClientCharge),
        0,
        "nothing confirmed yet"
    );
    let paid = within("worker notice", worker_payments.recv())
        .await
        .expect("worker notice");
    assert_eq!(
        voucher_tokens(&paid.signed_payment, VoucherKind::WorkerPayout),
        0
    );

    // Flushed to the books and "sent", but the ledger never shows it: no voucher, no charge.
    let confirmed_before = proxy.shared.commit_to_chain_now().expect("commit step");
    let counters = proxy
        .shared
        .payments
        .lock()
        .unwrap()
        .counters(Side::Client, OWNER);
    assert_eq!(
        (counters.committed_to_db, counters.committed_to_blockchain),
        (7, 0)
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        inner.client_state(&client_sc).expect("client").tokens_used,
        0
    );

    // Once save_state lands and is read back, the counters are confirmed and charged.
    lossy.drop_saves.store(false, Ordering::SeqCst);
    let confirmed = proxy.shared.commit_to_chain_now().expect("commit step");
    assert!(confirmed > confirmed_before);
    let snap = proxy
        .shared
        .payments
        .lock()
        .unwrap()
        .snapshot(Side::Client, OWNER);
    assert_eq!(snap.blockchain_tokens, 7);
    assert_eq!(
        voucher_tokens(&snap.signed_payment, VoucherKind::ClientCharge),
        7
    );
    wait_until("client charged", || {
        inner.client_state(&client_sc).expect("client").tokens_used == 7
    })
    .await;
}

#[tokio::test]
async fn failed_requests_still_send_payment_notices() {
    let proxy = start_proxy_with(ProxySettings::fake_ton_signing(
        key(),
        OWNER,
        CONFIG_VERSION,
    ))
    .await;
    let (_worker, _sc, mut worker_payments) = scripted_worker(&proxy, 5, true, OWNER).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 1000, 30.0).await;
    let (code, _) = client.outcome(id).await.error.expect("the worker's error");
    assert_eq!(code, 602);
    let notice = next_client_payment(&mut client).await;
    assert_eq!(notice.request_id, id);
    assert_eq!((notice.request_tokens, notice.max_tokens), (5, 5));
    let paid = within("worker notice", worker_payments.recv())
        .await
        .expect("worker notice after a failure");
    assert_eq!((paid.request_tokens, paid.max_tokens), (5, 5));
    assert_eq!(
        voucher_tokens(&paid.signed_payment, VoucherKind::WorkerPayout),
        5,
        "fake TON: confirmed at once"
    );
}

#[tokio::test]
async fn usage_beyond_the_reservation_is_neither_charged_nor_credited() {
    let ledger = devnet();
    let proxy = ledger_proxy(&ledger).await;
    open_client(&ledger, &proxy.shared.settings.proxy_sc_address, ONE_TON);
    let (_worker, _sc, mut worker_payments) = paying_worker(&proxy, 1_000_000).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request_with(MODEL, 1000, 10, 30.0).await;
    assert_eq!(client.outcome(id).await.error, None);
    let reserved = reservation_tokens(10, http_request().len(), 1000).expect("size");
    let notice = next_client_payment(&mut client).await;
    assert_eq!(notice.request_tokens, reserved as i64);
    assert_eq!(notice.max_tokens, reserved as i64);
    let paid = within("worker notice", worker_payments.recv())
        .await
        .expect("worker notice");
    assert_eq!(
        paid.max_tokens, reserved as i64,
        "the worker is credited the same"
    );
    assert_eq!(
        proxy
            .shared
            .counters
            .unbilled_tokens
            .load(Ordering::Relaxed),
        1_000_000 - reserved
    );
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cocoon-proxy-ledger-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_restored_client_keeps_its_stored_stake() {
    use cocoon_node::proxy::books::ProxyBooks;
    use cocoon_node::proxy::payments::ClientChain;
    let dir = scratch_dir("stake");
    let view = ClientChainView {
        balance: 3 * ONE_TON,
        stake: 7 * ONE_TON,
        sc_tokens_used: 11,
    };
    {
        let mut payments = ProxyPayments::new(Some(key()), OWNER, "");
        payments.attach_books(ProxyBooks::open(&dir, key()).expect("books"));
        payments.set_client_chain(OWNER, ClientChain::restored(view));
        payments.settle(OWNER, WORKER_OWNER, 4);
    }
    let mut payments = ProxyPayments::new(Some(key()), OWNER, "");
    payments.attach_books(ProxyBooks::open(&dir, key()).expect("reopen"));
    let restored = payments.client_chain(OWNER).expect("restored view");
    assert_eq!(
        restored.view, view,
        "the stored stake, not a 1 TON default (§13.12)"
    );
    assert_eq!(
        restored.fetched_at, None,
        "stale until read from the ledger"
    );
    assert_eq!(payments.counters(Side::Client, OWNER).tokens_max, 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restored_counters_are_confirmed_by_the_start_up_save_state() {
    let ledger = devnet();
    ledger.devnet_fund(&addr(OWNER), 2 * ONE_TON).expect("fund");
    let dir = scratch_dir("restart");
    let mut settings = ledger_settings(ledger.clone());
    settings.db_path = Some(dir.clone());
    {
        let shared = ProxyShared::open(settings.clone()).expect("first start");
        shared
            .payments
            .lock()
            .unwrap()
            .settle(OWNER, WORKER_OWNER, 9);
        // Crash before any further commit: the books never saw these 9 tokens.
    }
    {
        let shared = ProxyShared::open(settings.clone()).expect("second start");
        let c = shared
            .payments
            .lock()
            .unwrap()
            .counters(Side::Client, OWNER);
        assert_eq!(c.tokens_max, 0, "unflushed usage is lost, never invented");
        shared
            .payments
            .lock()
            .unwrap()
            .settle(OWNER, WORKER_OWNER, 5);
        shared.flush_payments();
        let c = shared
            .payments
            .lock()
            .unwrap()
            .counters(Side::Client, OWNER);
        assert_eq!((c.committed_to_db, c.committed_to_blockchain), (5, 0));
    }
    let shared = ProxyShared::open(settings).expect("third start");
    let c = shared
        .payments
        .lock()
        .unwrap()
        .counters(Side::Worker, WORKER_OWNER);
    assert_eq!(
        (c.tokens_max, c.committed_to_db, c.committed_to_blockchain),
        (5, 5, 5),
        "confirmed by this session's start-up save_state"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GET on the proxy's HTTP port: status and body.
#[tokio::test]
async fn money_controls_are_on_the_admin_port_behind_the_access_hash_and_need_a_ledger() {
    let ledger = devnet();
    ledger
        .devnet_fund(&addr(OWNER), 2 * ONE_TON)
        .expect("fund proxy owner");
    let mut settings = ledger_settings(ledger.clone());
    settings.http_access_hash = "let-me-in".into();
    // Nothing due automatically: every threshold out of reach.
    settings.money.client_charge_threshold = NanoTon::MAX;
    settings.money.worker_payout_threshold = NanoTon::MAX;
    settings.money.commission_payout_threshold = NanoTon::MAX;
    let proxy = start_proxy_with(settings).await;
    let stats = proxy.stats_addr.expect("stats");
    let admin = proxy.admin_addr.expect("admin");
    let proxy_sc = addr(&proxy.shared.settings.proxy_sc_address);
    let client_sc = open_client(&ledger, &proxy.shared.settings.proxy_sc_address, ONE_TON);
    let worker_sc = ledger
        .worker_deploy(&addr(WORKER_OWNER), &proxy_sc)
        .expect("worker deploy");
    let (_worker, _sc, _payments) = scripted_worker(&proxy, 20, false, WORKER_OWNER).await;
    let mut client = connect_client(&proxy).await;
    let id = client.send_request(MODEL, 1000, 30.0).await;
    assert_eq!(client.outcome(id).await.error, None);
    proxy.shared.commit_to_chain_now().expect("commit");

    // The stats port serves no control, even with the hash.
    let charge = format!("/request/charge?client={OWNER}");
    let on_stats = format!("{charge}&access_hash=let-me-in");
    for method in ["GET", "POST"] {
        let (status, _, _) = http_call(stats, method, &on_stats, &[]).await;
        assert!(
            status == 404 || status == 405,
            "{method} on stats: {status}"
        );
    }
    // The admin port: POST only, the hash required.
    let (status, _, _) = http_call(admin, "GET", &on_stats, &[]).await;
    assert_eq!(status, 405);
    assert_eq!(http_call(admin, "POST", &charge, &[]).await.0, 401);
    assert_eq!(admin_post(&proxy, "wrong", &charge).await.0, 403);
    let (status, _, body) = http_call(admin, "POST", &on_stats, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ledger.client_state(&client_sc).expect("client").tokens_used,
        20
    );
    let payout = format!("/request/payout?worker={WORKER_OWNER}");
    let (status, body) = admin_post(&proxy, "let-me-in", &payout).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ledger.worker_state(&worker_sc).expect("worker").tokens, 20);
    let (status, body) = admin_post(&proxy, "let-me-in", "/request/withdraw").await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["result"]["nanoton"], 20 * (PRICE - FEE) as u64);
    // The stats pages need the hash too (the reference's semantics).
    assert_eq!(http_call(stats, "GET", "/jsonstats", &[]).await.0, 403);
    let (status, _, _) = http_call(stats, "GET", "/jsonstats?access_hash=let-me-in", &[]).await;
    assert_eq!(status, 200);

    // Without a ledger the controls say so.
    let plain = start_proxy().await;
    let (status, body) = admin_post(&plain, ADMIN_TOKEN, "/request/withdraw").await;
    assert_eq!(status, 409, "{body}");
}

#[test]
fn books_older_than_the_ledgers_last_save_state_are_refused() {
    let ledger = devnet();
    ledger.devnet_fund(&addr(OWNER), 2 * ONE_TON).expect("fund");
    let dir = scratch_dir("rollback");
    let mut settings = ledger_settings(ledger.clone());
    settings.db_path = Some(dir.clone());
    let shared = ProxyShared::open(settings.clone()).expect("first start");
    let proxy_sc = addr(&shared.settings.proxy_sc_address);
    drop(shared);
    // The chain saw a seqno these books never reached (they were restored from an old copy).
    ledger
        .proxy_save_state(
            &addr(OWNER),
            &proxy_sc,
            SavedState {
                seqno: 1000,
                session_hash: [9; 32],
            },
        )
        .expect("save_state");
    let err = ProxyShared::open(settings).expect_err("rolled-back books");
    assert!(err.contains("rolled back"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `client.connectToProxy` as [`OWNER`]; the session and the auth the proxy offers.
async fn connect_as_owner(
    proxy: &ProxyHandle,
) -> (Session, Inbound, enums::client::ProxyConnectionAuth) {
    let (session, inbound) = dial(proxy.clients_addr.expect("clients port")).await;
    let connect = cocoon_wire::schema::functions::client::ConnectToProxy {
        params: client_params(1, 4),
        min_config_version: CONFIG_VERSION,
    };
    let enums::client::ConnectedToProxy::ConnectedToProxy(connected) =
        session.call(&connect, WAIT).await.expect("connect");
    (session, inbound, connected.auth)
}

/// With a ledger a client authorises against its contract's secret hash: someone who
/// names an owner whose contract holds another secret is refused.
#[tokio::test]
async fn short_auth_is_checked_against_the_client_contracts_secret_hash() {
    let ledger = devnet();
    let proxy = ledger_proxy(&ledger).await;
    let sc = open_client(
        &ledger,
        &proxy.shared.settings.proxy_sc_address,
        100 * PRICE,
    );
    let secret_hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"s3cret").into();
    ledger
        .client_change_secret_hash(&addr(OWNER), &sc, secret_hash)
        .expect("set secret");
    let short_auth = |data: &'static [u8]| async {
        let (session, _inbound, auth) = connect_as_owner(&proxy).await;
        let enums::client::ProxyConnectionAuth::ProxyConnectionAuthShort(short) = auth else {
            panic!("short auth expected for a known contract, got {auth:?}")
        };
        assert_eq!(
            short.secret_hash, secret_hash,
            "announces the contract's hash"
        );
        assert_ne!(short.nonce, 0, "a nonce for long auth all the same");
        let call = cocoon_wire::schema::functions::client::AuthorizeWithProxyShort {
            data: data.to_vec(),
        };
        session.call(&call, WAIT).await.map(|_| ())
    };
    let wrong = short_auth(b"").await.expect_err("wrong secret");
    assert!(wrong.to_string().contains("sha256 mismatch"), "{wrong}");
    short_auth(b"s3cret").await.expect("the contract's secret");
}

/// Long auth (runners.md §3.2): a client without a contract is offered it; the proxy answers
/// `authorizeWithProxyLong` only once the owner's `owner_client_register` with the offered
/// nonce reached the proxy contract — not before, not for another nonce, and nobody but
/// the owner can send it. Short auth without a contract is refused.
#[tokio::test]
async fn long_auth_waits_for_the_owners_registration_with_the_nonce() {
    let ledger = devnet();
    let proxy = ledger_proxy(&ledger).await;
    let proxy_sc = addr(&proxy.shared.settings.proxy_sc_address);

    let (session, _inbound, auth) = connect_as_owner(&proxy).await;
    assert!(
        matches!(
            auth,
            enums::client::ProxyConnectionAuth::ProxyConnectionAuthLong(_)
        ),
        "no contract yet: long auth offered, got {auth:?}"
    );
    let short = cocoon_wire::schema::functions::client::AuthorizeWithProxyShort { data: vec![] };
    let refused = session.call(&short, WAIT).await.expect_err("short auth");
    assert!(
        refused.to_string().contains("no client contract"),
        "{refused}"
    );

    let (session, _inbound, auth) = connect_as_owner(&proxy).await;
    let enums::client::ProxyConnectionAuth::ProxyConnectionAuthLong(long) = auth else {
        panic!("long auth expected, got {auth:?}")
    };
    let nonce = long.nonce as u64;
    let sc = open_client(
        &ledger,
        &proxy.shared.settings.proxy_sc_address,
        100 * PRICE,
    );
    let pending = tokio::spawn(async move {
        let call = cocoon_wire::schema::functions::client::AuthorizeWithProxyLong {};
        session.call(&call, Duration::from_secs(60)).await
    });
    // Nothing registered, another nonce, or a stranger's attempt: still waiting.
    ledger
        .client_register(&addr(OWNER), &sc, nonce.wrapping_add(1))
        .expect("register another nonce");
    let stranger = addr(&cocoon_ledger::address::random_friendly_address());
    assert!(matches!(
        ledger.client_register(&stranger, &sc, nonce),
        Err(LedgerError::NotOwner(_))
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !pending.is_finished(),
        "long auth must wait for the registration"
    );
    assert!(ledger
        .proxy_state(&proxy_sc)
        .expect("proxy")
        .registration(nonce, &addr(OWNER))
        .is_none());

    ledger
        .client_register(&addr(OWNER), &sc, nonce)
        .expect("register");
    let answer = tokio::time::timeout(WAIT, pending)
        .await
        .expect("answered soon after the registration")
        .expect("task")
        .expect("long auth accepted");
    let enums::client::AuthorizationWithProxy::AuthorizationWithProxySuccess(_) = answer else {
        panic!("success expected, got {answer:?}")
    };
}
