//! Shared helpers of the TON-backend process tests (`ton_node.rs`, `ton_network.rs`,
//! `ton_real_contracts.rs`): a test chain served by mock liteservers on loopback
//! ([`MockTon`]: the contract-SIMULATING `cocoon_ton::mock_chain::MockChain`, or the REAL
//! contract code in `cocoon_ton::sandbox::SandboxChain`, behind two `cocoon_ton::mock_lite`
//! liteservers, pumped in the background; nothing touches TON),
//! a test-only wallet code, cocoon wallet addresses, a scratch directory, `cocoon`
//! node processes logging to files (killed on drop) and small HTTP/JSON helpers.

#![allow(dead_code)]

pub mod client_close;
pub mod network;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::root_config::RootConfig;
use cocoon_liteclient::mock::global_config_json;
use cocoon_ton::mock_chain::MockChain;
use cocoon_ton::mock_lite::{MockLiteBridge, ServedChain};
use cocoon_ton::sandbox::SandboxChain;
use cocoon_ton::wallet::CocoonWallet;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use tonlib_core::cell::{ArcCell, CellBuilder};
use tonlib_core::TonAddress;

/// How often the bridge hands sent messages to the simulated chain and pushes new blocks.
pub const PUMP_EVERY: Duration = Duration::from_millis(150);

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Standard base64 (the configs' key fields).
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A test-only cocoon wallet "code" cell: not executable, it only fixes the wallet
/// addresses (the project embeds no compiled contract code; the mock never runs code).
pub fn wallet_code() -> ArcCell {
    let mut b = CellBuilder::new();
    b.store_slice(b"cocoon-rs test wallet code (not executable)")
        .expect("bits");
    Arc::new(b.build().expect("cell"))
}

/// The cocoon wallet of `node_wallet_key` = `key` owned by `owner`, under [`wallet_code`].
pub fn cocoon_wallet(key: [u8; 32], owner: &TonAddress) -> TonAddress {
    CocoonWallet::new(
        wallet_code(),
        SigningKey::from_bytes(&key).verifying_key(),
        owner.clone(),
    )
    .expect("wallet")
    .address()
    .clone()
}

/// A raw address `0:<byte × 32>` (text form, for configs).
pub fn raw_address(byte: u8) -> String {
    format!("0:{}", hex::encode([byte; 32]))
}

/// Parses a raw or user-friendly address.
pub fn address(text: &str) -> TonAddress {
    cocoon_ledger::address::parse_address(text)
        .expect("address")
        .address
}

/// A node identity: its config's `owner_address` and `node_wallet_key`.
pub struct Party {
    pub owner: String,
    pub key: [u8; 32],
}

impl Party {
    /// Owner `0:<byte × 32>`, wallet key `<byte + 100> × 32`.
    pub fn new(byte: u8) -> Party {
        Party {
            owner: raw_address(byte),
            key: [byte.wrapping_add(100); 32],
        }
    }

    /// The owner address.
    pub fn owner(&self) -> TonAddress {
        address(&self.owner)
    }

    /// Its cocoon wallet (under [`wallet_code`]).
    pub fn wallet(&self) -> TonAddress {
        cocoon_wallet(self.key, &self.owner())
    }
}

/// A scratch directory, removed on drop unless the test failed or `COCOON_TEST_KEEP_LOGS`
/// is set (its logs stay for reading).
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("cocoon-ton-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir }
    }

    /// Writes `name` and returns its path as text.
    pub fn write(&self, name: &str, contents: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path.to_string_lossy().into_owned()
    }

    /// Writes `value` as pretty JSON to `name`.
    pub fn write_json(&self, name: &str, value: &Value) -> String {
        self.write(
            name,
            serde_json::to_string_pretty(value)
                .expect("json")
                .as_bytes(),
        )
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("COCOON_TEST_KEEP_LOGS").is_some() {
            eprintln!("logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A `cocoon` process writing stdout and stderr to `<dir>/<name>.log`; killed on drop.
pub struct Node {
    pub name: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn spawn(dir: &Path, name: &str, args: &[&str]) -> Node {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cocoon"))
            .args(args)
            .env("RUST_LOG", "info,cocoon_liteclient=warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning cocoon {name}: {e}"));
        Node {
            name: name.to_string(),
            log,
            child: Some(child),
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Kills the process and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The tails of the logs of `nodes`, for failure messages.
pub fn logs_of(nodes: &[&Node], lines: usize) -> String {
    nodes
        .iter()
        .map(|n| {
            format!(
                "--- {} log (last {lines} lines):\n{}",
                n.name,
                n.log_tail(lines)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A chain the TON process tests can run on: the contract-SIMULATING `MockChain`, or the
/// REAL contract code in `@ton/sandbox` (`cocoon_ton::sandbox::SandboxChain`).
pub trait TestChain: ServedChain + Send + Sync + 'static {
    /// The root contract address.
    fn root_address(&self) -> TonAddress;
    /// The cocoon wallet code the nodes derive their wallets with (`--wallet-code`).
    fn wallet_code(&self) -> ArcCell;
    /// Mints `nanoton` into `address` (served from the next pump).
    fn fund(&self, address: &TonAddress, nanoton: u128);
    /// The messages the chain refused, for failure messages.
    fn failures(&self) -> String;
}

impl TestChain for MockChain {
    fn root_address(&self) -> TonAddress {
        MockChain::root_address(self)
    }
    fn wallet_code(&self) -> ArcCell {
        wallet_code()
    }
    fn fund(&self, address: &TonAddress, nanoton: u128) {
        MockChain::fund(self, address, nanoton).expect("fund");
    }
    fn failures(&self) -> String {
        format!("{:?}", self.failed_messages())
    }
}

impl TestChain for SandboxChain {
    fn root_address(&self) -> TonAddress {
        SandboxChain::root_address(self)
    }
    fn wallet_code(&self) -> ArcCell {
        self.code("wallet").expect("the real wallet code")
    }
    fn fund(&self, address: &TonAddress, nanoton: u128) {
        SandboxChain::fund(self, address, nanoton).expect("fund");
    }
    fn failures(&self) -> String {
        format!("{:?}", SandboxChain::failures(self))
    }
}

/// A test chain behind two mock liteservers on loopback TCP, pumped every
/// [`PUMP_EVERY`]; the global config and the wallet code BoC written to the scratch dir.
pub struct MockTon<C: TestChain = MockChain> {
    pub chain: Arc<C>,
    pub bridge: Arc<MockLiteBridge<C>>,
    /// Path of the TON global config naming the two liteservers.
    pub global_config: String,
    /// Path of the chain's wallet code BoC (`--wallet-code`).
    pub wallet_code_file: String,
    pump: tokio::task::JoinHandle<()>,
}

impl MockTon<MockChain> {
    /// Serves `config` from the root contract at [`MockChain::root_address`].
    pub async fn start(scratch: &Scratch, config: RootConfig) -> MockTon {
        MockTon::serve(
            scratch,
            Arc::new(MockChain::new(config).expect("mock chain")),
        )
        .await
    }
}

impl<C: TestChain> MockTon<C> {
    /// Serves `chain` through two mock liteservers on loopback.
    pub async fn serve(scratch: &Scratch, chain: Arc<C>) -> MockTon<C> {
        let bridge = Arc::new(
            MockLiteBridge::new(chain.clone(), 2)
                .await
                .expect("bridge")
                .follow_wall_clock(),
        );
        let entries = bridge.serve_tcp().await.expect("serve liteservers");
        let global_config = scratch.write(
            "global.config.json",
            global_config_json(&entries).as_bytes(),
        );
        let wallet_code_file = scratch.write(
            "wallet-code.boc",
            &cocoon_ledger::boc::serialize((*chain.wallet_code()).clone()).expect("boc"),
        );
        bridge.pump().await.expect("first pump");
        let pump = bridge.spawn_pump(PUMP_EVERY);
        MockTon {
            chain,
            bridge,
            global_config,
            wallet_code_file,
            pump,
        }
    }

    /// One bridge step now: what changed on the chain (funding, say) is served by the
    /// liteservers when this returns.
    pub async fn pump(&self) {
        self.bridge.pump().await.expect("pump");
    }

    /// The root contract address (raw text, for configs).
    pub fn root(&self) -> String {
        self.chain.root_address().to_hex()
    }

    /// Mints `nanoton` into `address` (served from the next pump).
    pub fn fund(&self, address: &TonAddress, nanoton: u128) {
        self.chain.fund(address, nanoton);
    }

    /// `party`'s cocoon wallet under this chain's wallet code.
    pub fn wallet_of(&self, party: &Party) -> TonAddress {
        CocoonWallet::new(
            self.chain.wallet_code(),
            SigningKey::from_bytes(&party.key).verifying_key(),
            party.owner(),
        )
        .expect("wallet")
        .address()
        .clone()
    }
}

impl<C: TestChain> Drop for MockTon<C> {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// A wallet balance in a snapshot of the simulated chain's engine (0 when absent).
pub fn wallet_of(s: &DevnetSnapshot, a: &TonAddress) -> NanoTon {
    s.wallets.get(&a.to_hex()).copied().unwrap_or(0)
}

/// Opcodes of the messages `account` received from `from`.
pub fn ops_received(ton: &MockTon, account: &TonAddress, from: &TonAddress) -> Vec<u32> {
    ton.chain.ops_received(account, from)
}

/// A node config on the simulated TON: the TON fields every role has (test mode,
/// testnet, `party`'s owner and wallet key, the root contract, the global config) plus the
/// role's own `fields` (its `@type` among them).
pub fn node_config<C: TestChain>(ton: &MockTon<C>, party: &Party, fields: Value) -> Value {
    let mut config = serde_json::json!({
        "is_test": true, "is_testnet": true, "owner_address": party.owner,
        "node_wallet_key": b64(&party.key), "root_contract_address": ton.root(),
        "ton_config_filename": ton.global_config,
    });
    if let (Some(c), Some(f)) = (config.as_object_mut(), fields.as_object()) {
        c.extend(f.clone());
    }
    config
}

/// `GET http://127.0.0.1:port/path` as JSON (`None` unless a 200 with a JSON body).
pub fn json_get(port: u16, path: &str) -> Option<Value> {
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

/// Polls `cond` every 200 ms until it holds; past `deadline` fails with `what` and `logs()`.
pub async fn wait_until(
    what: &str,
    deadline: Instant,
    logs: impl Fn() -> String,
    mut cond: impl FnMut() -> bool,
) {
    let started = Instant::now();
    while !cond() {
        if Instant::now() >= deadline {
            panic!(
                "timed out waiting for {what} (waited {:?})\n{}",
                started.elapsed(),
                logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `cocoon args…` to completion: (success, stderr).
pub fn cocoon(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .args(args)
        .output()
        .expect("run cocoon");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
