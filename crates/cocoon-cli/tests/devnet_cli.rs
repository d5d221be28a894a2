//! `cocoon devnet status|fund|advance-time|close` over a devnet ledger file, through the
//! binary; the file is shared with this test process's own `DevnetLedger`, and with other
//! `cocoon` processes running at the same time.

use std::path::{Path, PathBuf};
use std::process::Command;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::devnet::DEVNET_GENESIS_TIME;
use cocoon_ledger::ledger::{ContractStatus, DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use serde_json::Value;

const WALLET: &str = "0:4444444444444444444444444444444444444444444444444444444444444444";

fn cocoon(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .args(args)
        .output()
        .expect("run cocoon");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ledger_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn fund_and_advance_time_show_up_in_status() {
    let dir = std::env::temp_dir().join(format!("cocoon-devnet-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let ledger = ledger_arg(&dir.join("devnet.json"));

    let (ok, _, err) = cocoon(&["devnet", "status", "--ledger", &ledger]);
    assert!(!ok && err.contains("no devnet ledger"), "{err}");

    let (ok, out, err) = cocoon(&[
        "devnet",
        "fund",
        "--ledger",
        &ledger,
        "--wallet",
        WALLET,
        "--nanoton",
        "7000000000",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("devnet: funded"), "{out}");
    let (ok, _, err) = cocoon(&[
        "devnet",
        "advance-time",
        "--ledger",
        &ledger,
        "--seconds",
        "90",
    ]);
    assert!(ok, "{err}");

    let (ok, out, err) = cocoon(&["devnet", "status", "--ledger", &ledger, "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).expect("status json");
    assert_eq!(status["network"], "devnet");
    assert_eq!(status["minted_nanoton"], 7_000_000_000u64);
    assert_eq!(
        status["clock"],
        cocoon_ledger::ledger::devnet::DEVNET_GENESIS_TIME + 90
    );
    let accounts = status["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 1, "{status}");
    assert_eq!(accounts[0]["role"], "wallet");
    assert_eq!(accounts[0]["address"], WALLET);
    assert_eq!(accounts[0]["balance_nanoton"], 7_000_000_000u64);

    let (ok, out, _) = cocoon(&["devnet", "status", "--ledger", &ledger]);
    assert!(
        ok && out.starts_with("devnet ledger") && out.contains(WALLET),
        "{out}"
    );

    let (ok, _, err) = cocoon(&[
        "devnet",
        "fund",
        "--ledger",
        &ledger,
        "--wallet",
        "not-an-address",
        "--nanoton",
        "1",
    ]);
    assert!(!ok && err.contains("invalid TON address"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cocoon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// The Ed25519 base point: a valid public key (a devnet proxy key; nothing is signed here).
const PROXY_PUBLIC_KEY: [u8; 32] = {
    let mut key = [0x66; 32];
    key[0] = 0x58;
    key
};

fn raw(byte: u8) -> String {
    format!("0:{}", format!("{byte:02x}").repeat(32))
}

fn parse(text: &str) -> cocoon_ledger::address::FriendlyAddress {
    parse_address(text).expect("address")
}

/// Deploys a proxy (stake 1 TON), a client (balance 3 TON with the 1 TON stake inside it:
/// the proxy contract holds 4 TON) and a worker.
fn deploy_network(ledger: &DevnetLedger) -> (String, String, String) {
    let (proxy_owner, client_owner, worker_owner) = (
        parse(&raw(0x51)).address,
        parse(&raw(0x52)).address,
        parse(&raw(0x53)).address,
    );
    ledger.devnet_fund(&proxy_owner, 2 * ONE_TON).expect("fund");
    ledger
        .devnet_fund(&client_owner, 5 * ONE_TON)
        .expect("fund");
    let key = TryFrom::try_from(&PROXY_PUBLIC_KEY[..]).expect("public key");
    let proxy_sc = ledger
        .proxy_deploy(&proxy_owner, &key, ONE_TON)
        .expect("proxy");
    let client_sc = ledger
        .client_deploy(&client_owner, &proxy_sc)
        .expect("client");
    ledger
        .client_top_up(&client_owner, &client_sc, 3 * ONE_TON)
        .expect("top up");
    let worker_sc = ledger
        .worker_deploy(&worker_owner, &proxy_sc)
        .expect("worker");
    (proxy_sc.to_hex(), client_sc.to_hex(), worker_sc.to_hex())
}

#[test]
fn close_client_and_proxy_contracts_as_their_owners() {
    let dir = fresh_dir("devnet-close");
    let path = dir.join("devnet.json");
    let ledger_file = ledger_arg(&path);
    let devnet = DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("devnet");
    let (proxy_sc, client_sc, worker_sc) = deploy_network(&devnet);
    let client_owner = parse(&raw(0x52)).address;
    let close = |contract: &str, advance: bool| {
        let mut args = vec![
            "devnet",
            "close",
            "--ledger",
            &ledger_file,
            "--contract",
            contract,
        ];
        if advance {
            args.push("--advance-time");
        }
        cocoon(&args)
    };

    // First call requests the refund; the client delay (300 s) keeps the funds locked.
    let (ok, out, err) = close(&client_sc, false);
    assert!(ok, "{err}");
    assert!(
        out.contains("acting as client contract") && out.contains(&raw(0x52)),
        "{out}"
    );
    let unlock = DEVNET_GENESIS_TIME + 300;
    assert!(out.contains(&format!("locked until {unlock}")), "{out}");
    // The money above the stake came back at once (contracts.md §3.1.7).
    assert!(
        out.contains(&format!(
            "returned {} nanoTON above its stake at once",
            2 * ONE_TON
        )),
        "{out}"
    );
    assert_eq!(
        devnet.wallet_balance(&client_owner).expect("wallet"),
        4 * ONE_TON
    );
    assert!(
        out.contains(&format!(
            "cocoon devnet close --ledger {ledger_file} --contract {client_sc} --advance-time"
        )),
        "{out}"
    );
    // This process's own ledger instance sees what the other process wrote.
    let client = parse(&client_sc).address;
    let state = devnet.client_state(&client).expect("client");
    assert_eq!(
        (state.status, state.unlock_ts),
        (ContractStatus::Closing, unlock)
    );

    // Still locked: an error naming the unlock time and the command that finishes.
    let (ok, _, err) = close(&client_sc, false);
    assert!(
        !ok && err.contains(&format!("locked until {unlock}")) && err.contains("--advance-time"),
        "{err}"
    );

    // --advance-time moves the clock just past the unlock time (the contract wants a second
    // refund request strictly after it), which closes it: a forced refund of the 1 TON
    // left, capped by the proxy's 1 TON stake.
    let (ok, out, err) = close(&client_sc, true);
    assert!(ok, "{err}");
    let returned: NanoTon = ONE_TON;
    assert!(
        out.contains(&format!(
            "returned {returned} nanoTON (a forced refund of the balance {ONE_TON}, capped by the proxy's stake)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("owner wallet {}", raw(0x52))),
        "{out}"
    );
    assert_eq!(devnet.now(), unlock + 1);
    assert_eq!(
        devnet.wallet_balance(&client_owner).expect("wallet"),
        5 * ONE_TON
    );
    assert_eq!(
        devnet.client_state(&client).expect("client").status,
        ContractStatus::Closed
    );

    let (ok, _, err) = close(&client_sc, true);
    assert!(!ok && err.contains("already closed"), "{err}");
    let (ok, _, err) = close(&worker_sc, true);
    assert!(!ok && err.contains("worker contract"), "{err}");
    let (ok, _, err) = close(&raw(0x77), true);
    assert!(!ok && err.contains("unknown contract"), "{err}");
    let (ok, _, err) = close("garbage", true);
    assert!(!ok && err.contains("invalid TON address"), "{err}");

    // A proxy contract closes in one go with --advance-time (delay 600 s).
    let (ok, out, err) = close(&proxy_sc, true);
    assert!(ok, "{err}");
    assert!(out.contains("clock advanced by 600 s"), "{out}");
    assert!(
        out.contains(&format!(
            "returned {ONE_TON} nanoTON (everything it held: stake 0, commission 0 and unrefunded client money)"
        )),
        "{out}"
    );
    assert_eq!(
        devnet
            .wallet_balance(&parse(&raw(0x51)).address)
            .expect("wallet"),
        2 * ONE_TON
    );
    assert_eq!(devnet.devnet_holdings(), devnet.devnet_minted());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_json_lists_every_account_with_role_balance_and_tokens() {
    let dir = fresh_dir("devnet-status");
    let path = dir.join("devnet.json");
    let devnet = DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("devnet");
    let (proxy_sc, client_sc, worker_sc) = deploy_network(&devnet);
    let (ok, out, err) = cocoon(&["devnet", "status", "--ledger", &ledger_arg(&path), "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).expect("status json");
    let accounts = status["accounts"].as_array().expect("accounts");
    let find = |address: &str| {
        accounts
            .iter()
            .find(|a| a["address"] == address)
            .unwrap_or_else(|| panic!("{address} missing from {status}"))
    };
    for (byte, balance) in [(0x51, ONE_TON), (0x52, 2 * ONE_TON)] {
        let wallet = find(&raw(byte));
        assert_eq!(wallet["role"], "wallet");
        assert_eq!(wallet["balance_nanoton"], balance as u64);
    }
    let proxy = find(&proxy_sc);
    assert_eq!(
        (proxy["role"].as_str(), proxy["status"].as_str()),
        (Some("proxy"), Some("Active"))
    );
    // The proxy contract holds its stake and the client's money.
    assert_eq!(proxy["balance_nanoton"], 4 * ONE_TON as u64);
    let client = find(&client_sc);
    assert_eq!(client["role"], "client");
    assert_eq!(client["balance_nanoton"], 3 * ONE_TON as u64);
    assert_eq!(client["stake_nanoton"], ONE_TON as u64);
    assert_eq!(client["tokens_used"], 0);
    let worker = find(&worker_sc);
    assert_eq!(worker["role"], "worker");
    assert_eq!(
        (
            worker["balance_nanoton"].as_u64(),
            worker["tokens_paid"].as_u64()
        ),
        (Some(0), Some(0))
    );
    // Wallets (the worker owner has none yet: it was never paid) + 3 contracts.
    assert_eq!(accounts.len(), 5, "{status}");
    assert_eq!(status["minted_nanoton"], 7 * ONE_TON as u64);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_cocoon_processes_never_lose_an_update() {
    const PROCESSES: u64 = 8;
    let dir = fresh_dir("devnet-concurrent");
    let ledger = ledger_arg(&dir.join("devnet.json"));
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let wallet = raw(if i % 2 == 0 { 0x61 } else { 0x62 });
            Command::new(env!("CARGO_BIN_EXE_cocoon"))
                .args([
                    "devnet",
                    "fund",
                    "--ledger",
                    &ledger,
                    "--wallet",
                    &wallet,
                    "--nanoton",
                    "1000",
                ])
                .spawn()
                .expect("spawn cocoon")
        })
        .chain((0..PROCESSES).map(|_| {
            Command::new(env!("CARGO_BIN_EXE_cocoon"))
                .args([
                    "devnet",
                    "advance-time",
                    "--ledger",
                    &ledger,
                    "--seconds",
                    "5",
                ])
                .spawn()
                .expect("spawn cocoon")
        }))
        .collect();
    for mut child in children {
        assert!(child.wait().expect("wait").success());
    }
    let (ok, out, err) = cocoon(&["devnet", "status", "--ledger", &ledger, "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).expect("status json");
    assert_eq!(status["minted_nanoton"], PROCESSES * 1000);
    assert_eq!(status["clock"], DEVNET_GENESIS_TIME + PROCESSES * 5);
    assert_eq!(status["generation"], 2 * PROCESSES);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bump_params_outdates_every_contract_and_sets_new_prices() {
    let dir = fresh_dir("devnet-bump");
    let path = dir.join("devnet.json");
    let ledger = DevnetLedger::open_or_create(&path, RootConfig::devnet_default()).expect("open");
    let (proxy_sc, client_sc, _) = deploy_network(&ledger);
    let arg = ledger_arg(&path);
    let (ok, _, err) = cocoon(&[
        "devnet",
        "bump-params",
        "--ledger",
        &arg,
        "--price-per-token",
        "3",
        "--worker-fee-per-token",
        "4",
    ]);
    assert!(!ok, "a worker fee above the price is refused");
    assert!(err.contains("devnet bump-params"), "{err}");
    let (ok, out, err) = cocoon(&[
        "devnet",
        "bump-params",
        "--ledger",
        &arg,
        "--price-per-token",
        "3",
        "--worker-fee-per-token",
        "2",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("params_version is now 2"), "{out}");
    let root = ledger.root_config().expect("root");
    assert_eq!(
        (
            root.params.params_version,
            root.params.price_per_token,
            root.params.worker_fee_per_token
        ),
        (2, 3, 2)
    );
    let (ok, out, err) = cocoon(&["devnet", "status", "--ledger", &arg, "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["params_version"], 2);
    let accounts = status["accounts"].as_array().expect("accounts");
    let of = |address: &str| {
        accounts
            .iter()
            .find(|a| a["address"] == address)
            .cloned()
            .expect("account")
    };
    assert_eq!(
        of(&proxy_sc)["params_version"],
        1,
        "outdated proxy contract"
    );
    assert_eq!(
        of(&client_sc)["params_version"],
        1,
        "outdated client contract"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cocoon devnet status` without `--ledger` reads the ledger a running `cocoon up`
/// announced (`$COCOON_UP_REGISTRY/<pid>`; this test process stands in for it), and says
/// to pass `--ledger` when no live process announced one.
#[test]
fn status_without_ledger_finds_the_running_up() {
    let dir = std::env::temp_dir().join(format!("cocoon-devnet-running-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).expect("dir");
    let status = || {
        let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
            .args(["devnet", "status", "--json"])
            .env("COCOON_UP_REGISTRY", &registry)
            .output()
            .expect("run cocoon");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = status();
    assert!(!ok && err.contains("--ledger"), "{err}");

    let ledger = dir.join("devnet.json");
    let (ok, _, err) = cocoon(&[
        "devnet",
        "fund",
        "--ledger",
        &ledger_arg(&ledger),
        "--wallet",
        WALLET,
        "--nanoton",
        "1234",
    ]);
    assert!(ok, "{err}");
    let announcement = registry.join(std::process::id().to_string());
    std::fs::write(&announcement, ledger.to_string_lossy().as_bytes()).expect("announce");
    let (ok, out, err) = status();
    assert!(ok, "{err}");
    let json: Value = serde_json::from_str(&out).expect("json");
    assert!(out.contains("1234"), "{json}");

    // Once the announcing process is gone, its announcement is ignored and removed.
    let mut gone = Command::new("true").spawn().expect("spawn");
    gone.wait().expect("wait");
    std::fs::rename(&announcement, registry.join(gone.id().to_string())).expect("rename");
    let (ok, _, err) = status();
    assert!(!ok && err.contains("no running `cocoon up`"), "{err}");
    assert!(!registry.join(gone.id().to_string()).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
