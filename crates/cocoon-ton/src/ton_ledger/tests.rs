//! Test harness for [`TonLedger`] over the mock chain, and the tests of save_state
//! observation, wallet resends, chain failures and root refresh.

use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{Ledger, LedgerError, SavedState};
use cocoon_ledger::root_config::RootConfig;
use ed25519_dalek::SigningKey;
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::{TonAddress, TonHash};

use super::*;
use crate::mock_chain::MockChain;

pub(super) fn wallet_code() -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_slice(b"cocoon-rs test wallet code (not executable)")
        .expect("bits");
    Arc::new(b.build().expect("cell"))
}

pub(super) fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub(super) fn addr(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

pub(super) fn chain() -> Arc<MockChain> {
    Arc::new(MockChain::new(RootConfig::devnet_default()).expect("mock chain"))
}

/// A ledger with wallet key `seed` (owner `addr(seed)`), its wallet funded with `funds`.
pub(super) fn ledger(chain: &Arc<MockChain>, seed: u8, funds: u128) -> TonLedger {
    let dyn_chain: Arc<dyn ChainAccess> = chain.clone();
    let mut config = TonLedgerConfig::new(
        chain.root_address(),
        true,
        wallet_code(),
        key(seed),
        addr(seed),
    );
    config.proxy_signing_key = Some(key(seed.wrapping_add(100)));
    let ledger = TonLedger::new(dyn_chain, config).expect("ledger");
    if funds > 0 {
        chain.fund(ledger.wallet_address(), funds).expect("fund");
    }
    ledger
}

/// Runs `rounds` refresh rounds on every ledger.
pub(super) async fn settle(ledgers: &[&TonLedger], rounds: usize) {
    for _ in 0..rounds {
        for l in ledgers {
            l.refresh_now().await.expect("refresh");
        }
    }
}

/// Deploys the proxy contract of `proxy` (stake 5 TON) and waits for it.
pub(super) async fn deploy_proxy(proxy: &TonLedger) -> TonAddress {
    settle(&[proxy], 1).await;
    let wallet = proxy.wallet_address().clone();
    let proxy_key = proxy
        .shared
        .proxy_signing_key
        .as_ref()
        .expect("proxy key")
        .verifying_key();
    let sc = proxy
        .proxy_deploy(&wallet, &proxy_key, 5 * ONE_TON)
        .expect("deploy");
    settle(&[proxy], 2).await;
    sc
}

/// Retries a read/write that fails with "not synced yet" after one refresh round.
pub(super) async fn after_sync<T>(
    ledger: &TonLedger,
    mut op: impl FnMut() -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    match op() {
        Err(LedgerError::Storage(e)) if e.contains("not synced") => {
            ledger.refresh_now().await.expect("refresh");
            op()
        }
        other => other,
    }
}

#[tokio::test]
async fn reads_fail_until_the_first_round_then_serve_the_root() {
    let chain = chain();
    let l = ledger(&chain, 1, 10 * ONE_TON);
    assert!(matches!(l.root_config(), Err(LedgerError::Storage(_))));
    let report = l.refresh_now().await.expect("round");
    assert!(report.root_adopted);
    assert_eq!(l.root_config().expect("root"), RootConfig::devnet_default());
    assert_eq!(l.now(), chain.engine().now());
    assert_eq!(
        l.wallet_balance(l.wallet_address()).expect("balance"),
        10 * ONE_TON
    );
    assert_eq!(
        l.wallet_view(),
        Some(WalletView {
            seqno: 0,
            balance: 10 * ONE_TON
        })
    );
}

#[tokio::test]
async fn save_state_is_visible_only_once_observed_from_our_wallet() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let other = ledger(&chain, 2, 100 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let me = proxy.wallet_address().clone();
    let saved = SavedState {
        seqno: 7,
        session_hash: [0x5a; 32],
    };
    proxy.proxy_save_state(&me, &psc, saved).expect("submit");
    assert_eq!(proxy.pending_messages().len(), 1);
    assert!(proxy
        .proxy_state(&psc)
        .expect("state")
        .saved_states
        .is_empty());
    // Not increasing over what was submitted.
    assert!(matches!(
        proxy.proxy_save_state(&me, &psc, saved),
        Err(LedgerError::Invalid(_))
    ));
    // Round 1 sends it (the contract was read before the send): still not visible.
    let report = proxy.refresh_now().await.expect("round");
    assert_eq!(report.sent, Some((1, false)));
    assert!(proxy
        .proxy_state(&psc)
        .expect("state")
        .saved_states
        .is_empty());
    // Round 2 observes the transaction.
    let report = proxy.refresh_now().await.expect("round");
    assert_eq!(report.confirmed.len(), 1);
    assert_eq!(
        proxy.proxy_state(&psc).expect("state").saved_states,
        vec![saved]
    );
    assert!(proxy.pending_messages().is_empty());

    // A save_state sent to our contract by another wallet is not ours: ignored.
    let intruder = other.wallet_address().clone();
    after_sync(&other, || {
        other.proxy_save_state(
            &intruder,
            &psc,
            SavedState {
                seqno: 9,
                session_hash: [1; 32],
            },
        )
    })
    .await
    .expect("other submits");
    settle(&[&other], 2).await;
    settle(&[&proxy], 1).await;
    assert_eq!(
        proxy.proxy_state(&psc).expect("state").saved_states,
        vec![saved]
    );
    assert!(chain.transactions_of(&psc).iter().any(|t| t
        .in_msg
        .as_ref()
        .and_then(|m| m.source.clone())
        == Some(intruder.clone())));
}

#[tokio::test]
async fn a_dropped_external_message_is_sent_again() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let me = proxy.wallet_address().clone();
    chain.drop_next_externals(1);
    let saved = SavedState {
        seqno: 1,
        session_hash: [3; 32],
    };
    proxy.proxy_save_state(&me, &psc, saved).expect("submit");
    let seqno = proxy.wallet_view().expect("wallet").seqno;
    let first = proxy.refresh_now().await.expect("round");
    assert_eq!(first.sent, Some((seqno, false)));
    assert_eq!(chain.externals_dropped(), 1);
    let pending = proxy.pending_messages();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, MessageStatus::InFlight { seqno });
    // Within 30 s of chain time nothing is resent.
    assert_eq!(proxy.refresh_now().await.expect("round").sent, None);
    chain.advance_clock(31).expect("clock");
    let again = proxy.refresh_now().await.expect("round");
    assert_eq!(again.sent, Some((seqno, true)));
    settle(&[&proxy], 1).await;
    assert!(proxy.pending_messages().is_empty());
    assert_eq!(
        proxy.proxy_state(&psc).expect("state").saved_states,
        vec![saved]
    );
}

#[tokio::test(start_paused = true)]
async fn chain_failures_surface_as_errors_without_hanging() {
    let chain = chain();
    let l = ledger(&chain, 1, 10 * ONE_TON);
    settle(&[&l], 1).await;
    chain.fail_next_calls(1);
    assert!(matches!(
        l.refresh_now().await,
        Err(ChainError::Unavailable(_))
    ));
    // Reads still serve the last good snapshot while it is fresh.
    assert!(l.root_config().is_ok());
    chain.set_stalled(true);
    let started = tokio::time::Instant::now();
    assert!(matches!(
        l.refresh_now().await,
        Err(ChainError::Timeout {
            what: "last_block",
            ..
        })
    ));
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    tokio::time::advance(Duration::from_secs(121)).await;
    match l.root_config() {
        Err(LedgerError::Storage(e)) => assert!(e.contains("stale"), "{e}"),
        other => panic!("expected a stale error, got {other:?}"),
    }
    chain.set_stalled(false);
    l.refresh_now().await.expect("recovered");
    assert!(l.root_config().is_ok());
}

#[tokio::test(start_paused = true)]
async fn root_refresh_adopts_only_higher_versions_of_our_network() {
    let chain = chain();
    let l = ledger(&chain, 1, 0);
    settle(&[&l], 1).await;
    let mut newer = RootConfig::devnet_default();
    newer.version = 10;
    newer.params.price_per_token = 3;
    chain.set_root_config(newer.clone()).expect("serve");
    // Not due yet: the root is re-read every 30 s.
    assert!(!l.refresh_now().await.expect("round").root_adopted);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(l.refresh_now().await.expect("round").root_adopted);
    assert_eq!(l.root_config().expect("root").params.price_per_token, 3);

    let mut older = RootConfig::devnet_default();
    older.version = 9;
    older.params.price_per_token = 4;
    chain.set_root_config(older).expect("serve");
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(!l.refresh_now().await.expect("round").root_adopted);
    assert_eq!(l.root_config().expect("root"), newer);

    let mut mainnet = newer.clone();
    mainnet.version = 11;
    mainnet.params.is_test = false;
    chain.set_root_config(mainnet).expect("serve");
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(!l.refresh_now().await.expect("round").root_adopted);
    assert_eq!(l.root_config().expect("root"), newer);
}

#[tokio::test(start_paused = true)]
async fn the_background_task_sends_and_confirms_by_itself() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    proxy.start_refresh();
    let me = proxy.wallet_address().clone();
    let saved = SavedState {
        seqno: 2,
        session_hash: [8; 32],
    };
    proxy.proxy_save_state(&me, &psc, saved).expect("submit");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(proxy.pending_messages().is_empty());
    assert_eq!(
        proxy.proxy_state(&psc).expect("state").saved_states,
        vec![saved]
    );
}

#[tokio::test]
async fn writes_are_checked_against_the_snapshot() {
    let chain = chain();
    let proxy = ledger(&chain, 1, 100 * ONE_TON);
    let psc = deploy_proxy(&proxy).await;
    let me = proxy.wallet_address().clone();
    let proxy_key = proxy.shared.proxy_signing_key.clone().expect("key");
    assert!(matches!(
        proxy.proxy_deploy(&me, &proxy_key.verifying_key(), 5 * ONE_TON),
        Err(LedgerError::AlreadyExists(_))
    ));
    assert!(matches!(
        proxy.proxy_payout(&addr(9), &psc),
        Err(LedgerError::Invalid(_))
    ));
    assert!(matches!(
        proxy.proxy_complete_close(&me, &psc),
        Err(LedgerError::WrongState(_))
    ));
    assert!(matches!(
        proxy.client_increase_stake(&me, &psc, ONE_TON),
        Err(LedgerError::Invalid(_))
    ));
    // Poor wallet: a deploy worth more than the balance is refused at once.
    let poor = ledger(&chain, 3, 3 * ONE_TON);
    settle(&[&poor], 1).await;
    let poor_wallet = poor.wallet_address().clone();
    assert!(matches!(
        poor.proxy_deploy(&poor_wallet, &key(4).verifying_key(), 5 * ONE_TON),
        Err(LedgerError::InsufficientFunds { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_key_manager_registration_reaches_the_root_only_with_its_key() {
    use cocoon_ledger::root_keys::KeyRegistration;
    let mut config = RootConfig::devnet_default();
    config.key_manager_public_key = key(7).verifying_key().to_bytes();
    let chain = Arc::new(MockChain::new(config).expect("mock chain"));
    let km = ledger(&chain, 3, 10 * ONE_TON);
    settle(&[&km], 1).await;
    let wallet = km.wallet_address().clone();
    let registration = |public_key: [u8; 32]| KeyRegistration {
        query_id: 5,
        public_key,
        key_type: 1,
        valid_until: 2_000_000_000,
    };
    // Signed by another key: the message lands, the root refuses it.
    let forged = registration([0x11; 32]).sign(&key(8)).expect("sign");
    km.root_add_public_key(&wallet, &forged).expect("submitted");
    settle(&[&km], 2).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    settle(&[&km], 1).await;
    assert_eq!(
        chain.failed_messages().len(),
        1,
        "the forged one is refused"
    );
    assert!(km
        .root_config()
        .expect("root")
        .registered_public_keys
        .is_empty());
    let signed = registration([0x22; 32]).sign(&key(7)).expect("sign");
    km.root_add_public_key(&wallet, &signed).expect("submitted");
    settle(&[&km], 2).await;
    // The root is re-read every 30 s.
    tokio::time::advance(Duration::from_secs(30)).await;
    settle(&[&km], 1).await;
    let root = km.root_config().expect("root");
    assert_eq!(
        root.registered_public_keys,
        vec![signed.registration.registered()]
    );
    assert_eq!(
        root.key_manager_public_key,
        key(7).verifying_key().to_bytes()
    );
}
