//! The proxy leaving an outdated contract on a devnet ledger (runners.md §8): requests are
//! served on the first contract, the root `params_version` is raised, the proxy commits,
//! moves its counters into an old-contract record of its books and restarts in-process on a
//! newly deployed contract; the old contract is closed step by step (close request, final
//! client refund, worker last payout, close completion after the delay), every nanoTON
//! accounted for, and new requests are served on the new contracts.

mod proxy_common;

use std::sync::Arc;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{ContractStatus, DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_node::proxy::{ProxyHandle, ProxySettings};
use ed25519_dalek::SigningKey;
use proxy_common::*;
use tonlib_core::TonAddress;

const WORKER_OWNER: &str = "0:6666666666666666666666666666666666666666666666666666666666666666";
/// Devnet default prices (the old contracts').
const PRICE: u128 = 2;
const FEE: u128 = 1;

fn addr(text: &str) -> TonAddress {
    parse_address(text).expect("address").address
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cocoon-proxy-close-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Deploys, stakes (1 TON) and tops up the client contract of `OWNER` at `proxy_sc`.
fn open_client(ledger: &DevnetLedger, proxy_sc: &TonAddress, balance: NanoTon) -> TonAddress {
    let owner = addr(OWNER);
    ledger
        .devnet_fund(&owner, balance + ONE_TON)
        .expect("fund client");
    let sc = ledger
        .client_deploy(&owner, proxy_sc)
        .expect("client deploy");
    ledger
        .client_increase_stake(&owner, &sc, ONE_TON)
        .expect("stake");
    ledger.client_top_up(&owner, &sc, balance).expect("top up");
    let empty: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"").into();
    ledger
        .client_change_secret_hash(&owner, &sc, empty)
        .expect("secret hash");
    sc
}

fn proxy_sc_of(proxy: &ProxyHandle) -> TonAddress {
    addr(&proxy.current().settings.proxy_sc_address)
}

async fn serve(proxy: &ProxyHandle, requests: usize) {
    let mut client = connect_client(proxy).await;
    for _ in 0..requests {
        let id = client.send_request(MODEL, 1000, 30.0).await;
        assert_eq!(client.outcome(id).await.error, None);
    }
}

#[tokio::test]
async fn a_params_bump_redeploys_and_closes_the_old_contract_with_money_conserved() {
    let ledger = Arc::new(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"));
    ledger
        .devnet_fund(&addr(OWNER), 3 * ONE_TON)
        .expect("fund proxy owner");
    let dir = scratch_dir("bump");
    let mut settings =
        ProxySettings::fake_ton_signing(SigningKey::from_bytes(&[23; 32]), OWNER, CONFIG_VERSION);
    settings.ledger = Some(ledger.clone());
    settings.db_path = Some(dir.clone());
    let proxy = start_proxy_with(settings).await;
    let old_proxy = proxy_sc_of(&proxy);
    let old_client = open_client(&ledger, &old_proxy, ONE_TON);
    let old_worker = ledger
        .worker_deploy(&addr(WORKER_OWNER), &old_proxy)
        .expect("worker deploy");

    // Served on the old contracts.
    let tokens: i64 = 15;
    let served = 3 * tokens as u64;
    let (_w, _, _) = scripted_worker(&proxy, tokens, false, WORKER_OWNER).await;
    serve(&proxy, 3).await;

    // The root raises params_version (and the prices: the old contracts keep theirs).
    let mut bumped = ledger.root_config().expect("root");
    bumped.params.params_version += 1;
    bumped.params.price_per_token = 4;
    bumped.params.worker_fee_per_token = 3;
    ledger.devnet_set_config(bumped).expect("bump");

    wait_until("the proxy restarted on a new contract", || {
        proxy_sc_of(&proxy) != old_proxy
    })
    .await;
    let new_proxy = proxy_sc_of(&proxy);
    let state = ledger.proxy_state(&new_proxy).expect("new proxy contract");
    assert_eq!(
        (state.status, state.params_version),
        (ContractStatus::Active, 2)
    );

    // The old contract: close request, the client's final refund, the worker's last payout.
    wait_until("old client refunded and old worker paid", || {
        ledger.client_state(&old_client).expect("client").status == ContractStatus::Closed
            && ledger.worker_state(&old_worker).expect("worker").status == ContractStatus::Closed
    })
    .await;
    let client = ledger.client_state(&old_client).expect("client");
    assert_eq!(
        (client.tokens_used, client.balance),
        (served, 0),
        "charged exactly what was served, the rest returned"
    );
    assert_eq!(
        ledger.worker_state(&old_worker).expect("worker").tokens,
        served
    );
    assert_eq!(
        ledger
            .wallet_balance(&addr(WORKER_OWNER))
            .expect("worker wallet"),
        u128::from(served) * FEE,
        "old worker paid at the old fee"
    );
    let old = ledger.proxy_state(&old_proxy).expect("old proxy");
    assert_eq!(old.status, ContractStatus::Closing);
    wait_until("/jsonstats shows the old contract closing", || {
        proxy.current().money.as_ref().is_some_and(|m| {
            m.view()
                .old_contracts
                .first()
                .is_some_and(|o| o.step == "Closing")
        })
    })
    .await;
    let stats: serde_json::Value =
        serde_json::from_str(&http_get(proxy.stats_addr.expect("stats"), "/jsonstats").await)
            .expect("json");
    assert_eq!(stats["smartcontract"]["address"], new_proxy.to_hex());
    let old_view = &stats["smartcontract"]["old_contracts"][0];
    assert_eq!(old_view["proxy_sc"], old_proxy.to_hex());
    assert_eq!(old_view["step"], "Closing");
    assert_eq!(
        (
            old_view["clients_left"].as_u64(),
            old_view["workers_left"].as_u64()
        ),
        (Some(0), Some(0))
    );

    // After the close delay: the close completion returns the stake (and what is left).
    ledger
        .devnet_advance_clock(
            u64::from(RootConfig::devnet_default().params.proxy_delay_before_close) + 2,
        )
        .expect("clock");
    wait_until("old proxy contract closed", || {
        ledger.proxy_state(&old_proxy).expect("old proxy").status == ContractStatus::Closed
    })
    .await;
    let old = ledger.proxy_state(&old_proxy).expect("old proxy");
    assert_eq!((old.stake, old.commission, old.funds), (0, 0, 0));
    assert_eq!(
        ledger.devnet_holdings(),
        ledger.devnet_minted(),
        "money conserved"
    );
    // Everything minted for OWNER (proxy and client owner here) is back with OWNER except
    // what the worker earned and what the new proxy contract holds.
    let in_new_proxy = {
        let p = ledger.proxy_state(&new_proxy).expect("new proxy");
        p.funds
    };
    assert_eq!(
        ledger.wallet_balance(&addr(OWNER)).expect("owner wallet"),
        ledger.devnet_minted() - u128::from(served) * FEE - in_new_proxy
    );
    assert!(u128::from(served) * PRICE > 0);

    // New requests on the new contracts (the client and worker reconnect and deploy there).
    let new_client = open_client(&ledger, &new_proxy, ONE_TON);
    let new_worker = ledger
        .worker_deploy(&addr(WORKER_OWNER), &new_proxy)
        .expect("new worker deploy");
    let (_w2, _, _) = scripted_worker(&proxy, tokens, false, WORKER_OWNER).await;
    serve(&proxy, 2).await;
    let served_new = 2 * tokens as u64;
    wait_until("new client charged and new worker paid", || {
        ledger
            .client_state(&new_client)
            .expect("client")
            .tokens_used
            == served_new
            && ledger.worker_state(&new_worker).expect("worker").tokens == served_new
    })
    .await;
    assert_eq!(
        ledger.client_state(&new_client).expect("client").balance,
        ONE_TON - u128::from(served_new) * 4,
        "new price"
    );
    assert_eq!(ledger.devnet_holdings(), ledger.devnet_minted());
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_old_contract_close_resumes_from_the_books_after_a_crash() {
    use cocoon_ledger::books::OldContractStep;
    use cocoon_node::proxy::ProxyShared;

    let ledger = Arc::new(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"));
    ledger
        .devnet_fund(&addr(OWNER), 3 * ONE_TON)
        .expect("fund proxy owner");
    let dir = scratch_dir("resume");
    let mut settings =
        ProxySettings::fake_ton_signing(SigningKey::from_bytes(&[24; 32]), OWNER, CONFIG_VERSION);
    settings.ledger = Some(ledger.clone());
    settings.db_path = Some(dir.clone());
    let tick = |shared: &ProxyShared| {
        let money = shared.money.as_ref().expect("money");
        money.tick(&shared.payments);
        money.restart_requested()
    };
    let old_records = |shared: &ProxyShared| shared.payments.lock().unwrap().old_contracts();

    let (old_proxy, old_client, old_worker) = {
        let shared = ProxyShared::open(settings.clone()).expect("first start");
        let old_proxy = addr(&shared.settings.proxy_sc_address);
        let client = open_client(&ledger, &old_proxy, ONE_TON);
        let worker = ledger
            .worker_deploy(&addr(WORKER_OWNER), &old_proxy)
            .expect("worker");
        shared
            .payments
            .lock()
            .unwrap()
            .settle(OWNER, WORKER_OWNER, 40);
        let mut bumped = ledger.root_config().expect("root");
        bumped.params.params_version += 1;
        ledger.devnet_set_config(bumped).expect("bump");
        assert!(tick(&shared), "the bump retires the contract");
        assert!(tick(&shared), "and nothing more happens on it");
        (old_proxy, client, worker)
    };
    // Restart: the record is in the books; one step (close request, observed) and a crash.
    {
        let shared = ProxyShared::open(settings.clone()).expect("restart");
        assert_ne!(addr(&shared.settings.proxy_sc_address), old_proxy);
        let records = old_records(&shared).expect("records");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].step, OldContractStep::NotStarted);
        assert_eq!(
            (records[0].clients[0].tokens, records[0].workers[0].tokens),
            (40, 40),
            "the unflushed usage was committed before retiring"
        );
        assert!(!tick(&shared));
        assert_eq!(
            ledger.proxy_state(&old_proxy).expect("old").status,
            ContractStatus::Closing
        );
        assert_eq!(
            old_records(&shared).expect("records")[0].step,
            OldContractStep::StartedClients
        );
    }
    // After the crash: resumes at StartedClients, refunds, pays, waits for the delay.
    let shared = ProxyShared::open(settings.clone()).expect("after the crash");
    assert_eq!(
        old_records(&shared).expect("records")[0].step,
        OldContractStep::StartedClients
    );
    for _ in 0..6 {
        tick(&shared);
    }
    let client = ledger.client_state(&old_client).expect("client");
    assert_eq!(
        (client.status, client.tokens_used),
        (ContractStatus::Closed, 40)
    );
    let worker = ledger.worker_state(&old_worker).expect("worker");
    assert_eq!((worker.status, worker.tokens), (ContractStatus::Closed, 40));
    let record = old_records(&shared).expect("records");
    assert_eq!(record[0].step, OldContractStep::Closing);
    assert!(record[0].clients.is_empty() && record[0].workers.is_empty());
    assert_eq!(
        ledger.proxy_state(&old_proxy).expect("old").status,
        ContractStatus::Closing,
        "not before close_at"
    );
    ledger
        .devnet_advance_clock(
            u64::from(RootConfig::devnet_default().params.proxy_delay_before_close) + 2,
        )
        .expect("clock");
    tick(&shared);
    assert_eq!(
        ledger.proxy_state(&old_proxy).expect("old").status,
        ContractStatus::Closed
    );
    assert!(
        old_records(&shared).expect("records").is_empty(),
        "record deleted"
    );
    assert_eq!(ledger.devnet_holdings(), ledger.devnet_minted());
    drop(shared);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn books_of_an_earlier_contract_are_not_carried_to_the_new_one() {
    use cocoon_node::proxy::{ProxyShared, Side};

    let ledger = Arc::new(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"));
    ledger
        .devnet_fund(&addr(OWNER), 3 * ONE_TON)
        .expect("fund proxy owner");
    let dir = scratch_dir("down");
    let mut settings =
        ProxySettings::fake_ton_signing(SigningKey::from_bytes(&[25; 32]), OWNER, CONFIG_VERSION);
    settings.ledger = Some(ledger.clone());
    settings.db_path = Some(dir.clone());
    let (old_proxy, old_client) = {
        let shared = ProxyShared::open(settings.clone()).expect("first start");
        let old_proxy = addr(&shared.settings.proxy_sc_address);
        let client = open_client(&ledger, &old_proxy, ONE_TON);
        shared
            .payments
            .lock()
            .unwrap()
            .settle(OWNER, WORKER_OWNER, 30);
        shared.flush_payments();
        (old_proxy, client)
    };
    // The params change while the proxy is down.
    let mut bumped = ledger.root_config().expect("root");
    bumped.params.params_version += 1;
    ledger.devnet_set_config(bumped).expect("bump");
    let shared = ProxyShared::open(settings).expect("start on the new params");
    let new_proxy = addr(&shared.settings.proxy_sc_address);
    assert_ne!(new_proxy, old_proxy);
    let counters = shared
        .payments
        .lock()
        .unwrap()
        .counters(Side::Client, OWNER);
    assert_eq!(counters.tokens_max, 0, "the old usage is not charged again");
    let records = shared
        .payments
        .lock()
        .unwrap()
        .old_contracts()
        .expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].proxy_sc, old_proxy.to_hex());
    assert_eq!(records[0].clients[0].tokens, 30);
    let money = shared.money.as_ref().expect("money");
    for _ in 0..4 {
        money.tick(&shared.payments);
    }
    let client = ledger.client_state(&old_client).expect("client");
    assert_eq!(
        (client.status, client.tokens_used),
        (ContractStatus::Closed, 30)
    );
    drop(shared);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `POST path` on the proxy's HTTP port; the response status line and body.
#[tokio::test]
async fn an_operator_disable_closes_the_contract_and_serves_nobody_until_the_params_change() {
    use cocoon_wire::schema::functions;

    let ledger = Arc::new(DevnetLedger::in_memory(RootConfig::devnet_default()).expect("devnet"));
    ledger
        .devnet_fund(&addr(OWNER), 3 * ONE_TON)
        .expect("fund proxy owner");
    let dir = scratch_dir("disable");
    let mut settings =
        ProxySettings::fake_ton_signing(SigningKey::from_bytes(&[26; 32]), OWNER, CONFIG_VERSION);
    settings.ledger = Some(ledger.clone());
    settings.db_path = Some(dir.clone());
    let proxy = start_proxy_with(settings).await;
    let old_proxy = proxy_sc_of(&proxy);
    let old_client = open_client(&ledger, &old_proxy, ONE_TON);
    let old_worker = ledger
        .worker_deploy(&addr(WORKER_OWNER), &old_proxy)
        .expect("worker deploy");
    let tokens: i64 = 11;
    let (_w, _, _) = scripted_worker(&proxy, tokens, false, WORKER_OWNER).await;
    serve(&proxy, 2).await;

    let (status, answer) = admin_post(&proxy, ADMIN_TOKEN, "/request/disable").await;
    assert_eq!(status, 200, "{answer}");
    wait_until("the proxy restarted disabled", || {
        proxy.current().money.as_ref().is_some_and(|m| m.disabled())
    })
    .await;
    assert_eq!(proxy_sc_of(&proxy), old_proxy, "no new contract");
    wait_until("old client refunded and old worker paid", || {
        ledger.client_state(&old_client).expect("client").status == ContractStatus::Closed
            && ledger.worker_state(&old_worker).expect("worker").status == ContractStatus::Closed
    })
    .await;
    assert_eq!(
        ledger
            .client_state(&old_client)
            .expect("client")
            .tokens_used,
        2 * tokens as u64
    );
    // Disabled: a client is refused.
    let (session, _inbound) = dial(proxy.clients_addr.expect("clients port")).await;
    let connect = functions::client::ConnectToProxy {
        params: client_params(1, 4),
        min_config_version: CONFIG_VERSION,
    };
    assert!(
        session.call(&connect, WAIT).await.is_err(),
        "refused while disabled"
    );
    let (status, again) = admin_post(&proxy, ADMIN_TOKEN, "/request/disable").await;
    assert_eq!(status, 400, "{again}");

    ledger
        .devnet_advance_clock(
            u64::from(RootConfig::devnet_default().params.proxy_delay_before_close) + 2,
        )
        .expect("clock");
    wait_until("old proxy contract closed", || {
        ledger.proxy_state(&old_proxy).expect("old proxy").status == ContractStatus::Closed
    })
    .await;

    // The root params change: the proxy deploys a new contract and serves again.
    let mut bumped = ledger.root_config().expect("root");
    bumped.params.params_version += 1;
    ledger.devnet_set_config(bumped).expect("bump");
    wait_until("serving on a new contract", || {
        proxy_sc_of(&proxy) != old_proxy
            && proxy
                .current()
                .money
                .as_ref()
                .is_some_and(|m| !m.disabled())
    })
    .await;
    let new_proxy = proxy_sc_of(&proxy);
    open_client(&ledger, &new_proxy, ONE_TON);
    ledger
        .worker_deploy(&addr(WORKER_OWNER), &new_proxy)
        .expect("new worker deploy");
    let (_w2, _, _) = scripted_worker(&proxy, tokens, false, WORKER_OWNER).await;
    serve(&proxy, 1).await;
    assert_eq!(ledger.devnet_holdings(), ledger.devnet_minted());
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}
