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

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cocoon_ledger::accounting::ONE_TON;
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{ContractStatus, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_liteclient::mock::global_config_json;
use cocoon_ton::mock_chain::MockChain;
use cocoon_ton::mock_lite::MockLiteBridge;
use cocoon_ton::wallet::CocoonWallet;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tonlib_core::cell::{ArcCell, CellBuilder};

const PROXY_OWNER: &str = "0:1111111111111111111111111111111111111111111111111111111111111111";
const WALLET_KEY: [u8; 32] = [1; 32];
const PROXY_KEY: [u8; 32] = [77; 32];
const DEADLINE: Duration = Duration::from_secs(60);
/// `do_not_process`, the envelope of the proxy's save_state (runners.md §6.7).
const OP_DO_NOT_PROCESS: u32 = 0x9a12_47c0;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wallet_code() -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_slice(b"cocoon-rs test wallet code (not executable)")
        .expect("bits");
    Arc::new(b.build().expect("cell"))
}

struct Run {
    dir: PathBuf,
    child: Option<Child>,
}

impl Run {
    fn new(name: &str) -> Run {
        let dir = std::env::temp_dir().join(format!("cocoon-ton-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        Run { dir, child: None }
    }

    fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path.to_string_lossy().into_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn json_get(port: u16, path: &str) -> Option<Value> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") || head.to_ascii_lowercase().contains("chunked") {
        return None;
    }
    serde_json::from_str(body).ok()
}

fn proxy_config(run: &Run, ton_config: &str, root: &str, http_port: u16) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let config = json!({
        "@type": "proxyRunner.config", "is_test": true, "is_testnet": true,
        "workers_rpc_port": free_port(), "client_rpc_port": free_port(), "http_port": http_port,
        "owner_address": PROXY_OWNER, "root_contract_address": root,
        "machine_specific_private_key": b64(&PROXY_KEY), "node_wallet_key": b64(&WALLET_KEY),
        "ton_config_filename": ton_config,
        "db_path": run.dir.join("proxy-db").to_string_lossy(), "check_worker_hashes": false,
    });
    run.write(
        "proxy.json",
        serde_json::to_string_pretty(&config)
            .expect("json")
            .as_bytes(),
    )
}

async fn wait_for(what: &str, run: &Run, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > DEADLINE {
            panic!(
                "timed out waiting for {what}\n--- proxy log:\n{}",
                run.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn cocoon(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .args(args)
        .output()
        .expect("run cocoon");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_process_deploys_and_commits_through_mock_liteservers() {
    let run = Run::new("proxy");
    let chain = Arc::new(MockChain::new(RootConfig::devnet_default()).expect("mock chain"));
    let bridge = Arc::new(
        MockLiteBridge::new(chain.clone(), 2)
            .await
            .expect("bridge")
            .follow_wall_clock(),
    );
    let entries = bridge.serve_tcp().await.expect("serve");
    let ton_config = run.write(
        "global.config.json",
        global_config_json(&entries).as_bytes(),
    );
    let code = wallet_code();
    let code_file = run.write(
        "wallet-code.boc",
        &cocoon_ledger::boc::serialize((*code).clone()).expect("boc"),
    );
    let owner = parse_address(PROXY_OWNER).expect("owner").address;
    let wallet = CocoonWallet::new(
        code,
        SigningKey::from_bytes(&WALLET_KEY).verifying_key(),
        owner.clone(),
    )
    .expect("wallet")
    .address()
    .clone();
    chain.fund(&wallet, 20 * ONE_TON).expect("fund");
    // The simulation's engine takes a proxy's stake from the contract owner's wallet (on
    // TON it comes with the deploy message from the cocoon wallet; MockChain does not
    // simulate message values), so the owner holds the stake too.
    chain.fund(&owner, 3 * ONE_TON).expect("fund owner");
    bridge.pump().await.expect("pump");
    let pump = bridge.spawn_pump(Duration::from_millis(150));

    let http_port = free_port();
    let root = chain.root_address().to_hex();
    let config = proxy_config(&run, &ton_config, &root, http_port);

    // Without --wallet-code, or with a devnet ledger: clear errors, nothing sent.
    let (ok, err) = cocoon(&["proxy", "--config", &config, "--tee", "fake"]);
    assert!(!ok && err.contains("--wallet-code"), "{err}");
    let devnet = run.dir.join("devnet.json").to_string_lossy().into_owned();
    let (ok, err) = cocoon(&[
        "proxy",
        "--config",
        &config,
        "--wallet-code",
        &code_file,
        "--devnet-ledger",
        &devnet,
    ]);
    assert!(!ok && err.contains("--disable-ton"), "{err}");

    let proxy_args = [
        "proxy",
        "--config",
        &config,
        "--wallet-code",
        &code_file,
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
    ];
    let spawn = |run: &Run, name: &str| {
        let log = std::fs::File::create(run.dir.join(name)).expect("log");
        Command::new(env!("CARGO_BIN_EXE_cocoon"))
            .args(proxy_args)
            .env("RUST_LOG", "info,cocoon_liteclient=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn cocoon proxy")
    };
    let mut run = run;
    run.child = Some(spawn(&run, "proxy.log"));

    wait_for("the proxy to start", &run, || {
        run.log().contains("proxy ready")
    })
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
    assert_eq!(
        chain.engine().wallet_balance(&owner).expect("owner"),
        3 * ONE_TON - state.stake,
        "the stake is locked in the contract"
    );
    let proxy_sc = parse_address(proxy_sc).expect("proxy sc").address;

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
    wait_for("the confirmed commit in /jsonstats", &run, || confirmed(1)).await;

    // Restarted on the same books: the contract is reused, the next commit is above the
    // one the chain holds.
    if let Some(mut child) = run.child.take() {
        child.kill().expect("kill");
        let _ = child.wait();
    }
    std::fs::rename(run.dir.join("proxy.log"), run.dir.join("proxy-1.log")).expect("rename");
    run.child = Some(spawn(&run, "proxy.log"));
    wait_for("the restarted proxy", &run, || {
        run.log().contains("proxy ready")
    })
    .await;
    assert!(
        run.log().contains("reusing the active proxy contract"),
        "{}",
        run.log()
    );
    assert_eq!(saves(), 2);
    wait_for("the second confirmed commit", &run, || confirmed(2)).await;
    assert_eq!(chain.engine().devnet_snapshot().proxies.len(), 1);
    assert!(
        chain.failed_messages().is_empty(),
        "{:?}",
        chain.failed_messages()
    );
    let received: usize = bridge
        .servers()
        .iter()
        .map(|s| s.sent_messages().len())
        .sum();
    assert!(received >= chain.externals_accepted());
    pump.abort();
}
