//! A `cocoon proxy` **process** on the TON backend: its config names a TON global config
//! whose two liteservers are mock liteservers on loopback TCP (in this test process), and
//! the root contract address of the contract-SIMULATING `MockChain` behind them
//! (`cocoon_ton::mock_lite` bridges the two; nothing touches TON).
//!
//! Checked: the proxy syncs (quorum of 2, proofs checked), reads the root config from the
//! root contract, deploys its proxy contract from its cocoon wallet (the stake moves out of
//! the wallet), and its save_state commits land on the contract, are read back through the
//! liteservers and are confirmed in its `/jsonstats` — as on the devnet. Also: the clear
//! errors for a missing `--wallet-code` and for `--devnet-ledger` combined with TON.

mod ton_common;

use std::time::{Duration, Instant};

use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::ledger::{ContractStatus, Ledger};
use cocoon_ledger::root_config::RootConfig;
use ed25519_dalek::SigningKey;
use serde_json::json;

use ton_common::{
    address, b64, cocoon, cocoon_wallet, free_port, json_get, logs_of, wait_until, MockTon, Node,
    Scratch,
};

const PROXY_OWNER: &str = "0:1111111111111111111111111111111111111111111111111111111111111111";
const WALLET_KEY: [u8; 32] = [1; 32];
const PROXY_KEY: [u8; 32] = [77; 32];
const DEADLINE: Duration = Duration::from_secs(60);
/// `do_not_process`, the envelope of the proxy's save_state (runners.md §6.7).
const OP_DO_NOT_PROCESS: u32 = 0x9a12_47c0;

fn proxy_config(scratch: &Scratch, ton: &MockTon, http_port: u16) -> String {
    let config = json!({
        "@type": "proxyRunner.config", "is_test": true, "is_testnet": true,
        "workers_rpc_port": free_port(), "client_rpc_port": free_port(), "http_port": http_port,
        "owner_address": PROXY_OWNER, "root_contract_address": ton.root(),
        "machine_specific_private_key": b64(&PROXY_KEY), "node_wallet_key": b64(&WALLET_KEY),
        "ton_config_filename": ton.global_config,
        "db_path": scratch.path("proxy-db"), "check_worker_hashes": false,
    });
    scratch.write_json("proxy.json", &config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_process_deploys_and_commits_through_mock_liteservers() {
    let scratch = Scratch::new("proxy");
    let ton = MockTon::start(&scratch, RootConfig::devnet_default()).await;
    let owner = address(PROXY_OWNER);
    let wallet = cocoon_wallet(WALLET_KEY, &owner);
    ton.fund(&wallet, 20 * ONE_TON);
    let chain = &ton.chain;
    ton.pump().await;

    let http_port = free_port();
    let config = proxy_config(&scratch, &ton, http_port);

    // Without --wallet-code, or with a devnet ledger: clear errors, nothing sent.
    let (ok, err) = cocoon(&["proxy", "--config", &config, "--tee", "fake"]);
    assert!(!ok && err.contains("--wallet-code"), "{err}");
    let devnet = scratch.path("devnet.json");
    let (ok, err) = cocoon(&[
        "proxy",
        "--config",
        &config,
        "--wallet-code",
        &ton.wallet_code_file,
        "--devnet-ledger",
        &devnet,
    ]);
    assert!(!ok && err.contains("--disable-ton"), "{err}");

    let proxy_args = [
        "proxy",
        "--config",
        &config,
        "--wallet-code",
        &ton.wallet_code_file,
        "--ton-refresh-interval",
        "0.3",
        "--ton-sync-timeout",
        "30",
        "--save-state-interval",
        "0.5",
        "--tee",
        "fake",
        "--worker-policy",
        "fake",
        "--admin-listen",
        "off",
    ];
    let proxy = Node::spawn(&scratch.dir, "proxy-1", &proxy_args);

    wait_until(
        "the proxy to start",
        Instant::now() + DEADLINE,
        || logs_of(&[&proxy], 60),
        || proxy.log().contains("proxy ready"),
    )
    .await;
    let snapshot = chain.engine().devnet_snapshot();
    let (proxy_sc, state) = snapshot.proxies.iter().next().expect("a proxy contract");
    assert_eq!(state.status, ContractStatus::Active);
    assert_eq!(state.owner, owner.to_hex(), "owned by owner_address");
    assert_eq!(
        state.public_key,
        SigningKey::from_bytes(&PROXY_KEY)
            .verifying_key()
            .to_bytes()
    );
    assert_eq!(
        state.stake,
        RootConfig::devnet_default().params.min_proxy_stake
    );
    // As on TON: the deploy leaves the stake at 0 and the node's `ext_proxy_increase_stake`
    // from its cocoon wallet moves the stake in (MockChain moves the amount the message names).
    assert_eq!(
        chain
            .engine()
            .wallet_balance(&wallet)
            .expect("cocoon wallet"),
        20 * ONE_TON - state.stake,
        "the stake came from the cocoon wallet"
    );
    let proxy_sc = address(proxy_sc);

    // The start-up commit came from the cocoon wallet and was read back as confirmed.
    let saves = || {
        chain
            .transactions_of(&proxy_sc)
            .iter()
            .filter_map(|t| t.in_msg.as_ref())
            .filter(|m| m.source.as_ref() == Some(&wallet))
            .filter(|m| m.body.parser().load_u32(32).ok() == Some(OP_DO_NOT_PROCESS))
            .count()
    };
    assert_eq!(saves(), 1);
    let confirmed = |at_least: u64| {
        json_get(http_port, "/jsonstats").is_some_and(|s| {
            s["smartcontract"]["save_state_confirmed_seqno"]
                .as_u64()
                .is_some_and(|c| c >= at_least)
        })
    };
    wait_until(
        "the confirmed commit in /jsonstats",
        Instant::now() + DEADLINE,
        || logs_of(&[&proxy], 60),
        || confirmed(1),
    )
    .await;

    // Restarted on the same books: the contract is reused, the next commit is above the
    // one the chain holds.
    drop(proxy);
    let proxy = Node::spawn(&scratch.dir, "proxy-2", &proxy_args);
    wait_until(
        "the restarted proxy",
        Instant::now() + DEADLINE,
        || logs_of(&[&proxy], 60),
        || proxy.log().contains("proxy ready"),
    )
    .await;
    assert!(
        proxy.log().contains("reusing the active proxy contract"),
        "{}",
        proxy.log()
    );
    assert_eq!(saves(), 2);
    wait_until(
        "the second confirmed commit",
        Instant::now() + DEADLINE,
        || logs_of(&[&proxy], 60),
        || confirmed(2),
    )
    .await;
    assert_eq!(chain.engine().devnet_snapshot().proxies.len(), 1);
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
    let received: usize = ton
        .bridge
        .servers()
        .iter()
        .map(|s| s.sent_messages().len())
        .sum();
    assert!(received >= chain.externals_accepted());
}
