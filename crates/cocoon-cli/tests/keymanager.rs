//! `cocoon keymanager` as a process on a **devnet** ledger file, asked for keys by a test
//! dialer with the simulated (fake) TEE:
//! * it generates a key and registers it on the devnet root (signature checked against the
//!   root's key_manager_public_key);
//! * a caller whose image hash is on the root's proxy list gets every live key;
//! * the same caller asking as a worker (its hash is not on the worker list) gets 602, an
//!   unknown query 601;
//! * killed with SIGKILL right after, and restarted on the same `db_path`, it serves the
//!   same keys and registers nothing twice.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_net::QueryError;
use cocoon_node::common::dial::{dial_proxy, DialConfig, TeeMode};
use cocoon_wire::schema::{enums, functions};
use ed25519_dalek::SigningKey;

const KM_OWNER: &str = "0:4444444444444444444444444444444444444444444444444444444444444444";
const MACHINE_KEY: [u8; 32] = [21; 32];
const WAIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

struct Km {
    child: Child,
    log: std::path::PathBuf,
}

impl Km {
    fn spawn(dir: &Path, rpc_port: u16, run: u32) -> Km {
        let log = dir.join(format!("km-{run}.log"));
        let file = std::fs::File::create(&log).expect("log");
        let args = [
            "keymanager",
            "--config",
            "km.json",
            "--disable-ton",
            "root.json",
            "--devnet-ledger",
            "devnet.json",
            "--tee",
            "fake",
            "--pow-difficulty",
            "4",
            "--admin-listen",
            "off",
        ];
        let child = Command::new(env!("CARGO_BIN_EXE_cocoon"))
            .current_dir(dir)
            .args(args)
            .args(["--rpc-listen", &format!("127.0.0.1:{rpc_port}")])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn cocoon keymanager");
        Km { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Km {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_configs(dir: &Path) {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let km = serde_json::json!({
        "@type": "keyStorageRunner.config",
        "is_test": true,
        "is_testnet": true,
        "check_hashes": true,
        "add_default_key": true,
        "rpc_port": 0,
        "http_port": free_port(),
        "owner_address": KM_OWNER,
        "machine_specific_private_key": b64(&MACHINE_KEY),
        "db_path": dir.join("km-db").display().to_string(),
    });
    std::fs::write(dir.join("km.json"), km.to_string()).expect("km.json");
    std::fs::write(dir.join("root.json"), "{}").expect("root.json");
    let mut root = RootConfig::devnet_default();
    // The fake TEE's peers carry the image hash of all-zero measurements: allowed as a
    // proxy, not as a worker.
    root.proxy_hashes = vec![cocoon_tee::image_hash::ZERO_MEASUREMENTS_IMAGE_HASH];
    root.key_manager_public_key = SigningKey::from_bytes(&MACHINE_KEY)
        .verifying_key()
        .to_bytes();
    DevnetLedger::open_or_create(&dir.join("devnet.json"), root).expect("devnet");
}

fn registered(ledger: &DevnetLedger) -> Vec<[u8; 32]> {
    let mut keys: Vec<[u8; 32]> = ledger
        .root_config()
        .expect("root")
        .registered_public_keys
        .iter()
        .map(|k| k.public_key)
        .collect();
    keys.sort();
    keys
}

fn wait_registered(ledger: &DevnetLedger, km: &Km, at_least: usize) -> Vec<[u8; 32]> {
    let start = Instant::now();
    loop {
        let keys = registered(ledger);
        if keys.len() >= at_least {
            return keys;
        }
        assert!(
            start.elapsed() < WAIT,
            "no key registered on the devnet root; log:\n{}",
            km.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The public keys of what the key manager serves to a proxy.
async fn served_keys(rpc: &str, km: &Km) -> Vec<[u8; 32]> {
    let dial = DialConfig::new(TeeMode::Fake, "fake", None).expect("dial config");
    let start = Instant::now();
    let (session, _inbound, _peer) = loop {
        match dial_proxy(rpc, &dial).await {
            Ok(s) => break s,
            Err(e) if start.elapsed() < WAIT => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot reach the key manager: {e}; log:\n{}", km.log()),
        }
    };
    let answer = session
        .call(
            &functions::key_manager::GetProxyPrivateKeys { proto_version: 0 },
            Duration::from_secs(10),
        )
        .await
        .expect("proxy keys");
    let enums::key_manager::PrivateKeys::PrivateKeys(keys) = answer;
    let mut public: Vec<[u8; 32]> = keys
        .keys
        .iter()
        .map(|k| {
            SigningKey::from_bytes(&k.private_key)
                .verifying_key()
                .to_bytes()
        })
        .collect();
    public.sort();

    // The same peer is not on the worker list.
    let refused = session
        .call(
            &functions::key_manager::GetWorkerPrivateKeys { proto_version: 0 },
            Duration::from_secs(10),
        )
        .await
        .expect_err("worker keys refused");
    match refused {
        QueryError::Remote { code, message } => {
            assert_eq!((code, message.as_str()), (602, "unknown worker hash"))
        }
        other => panic!("expected error 602, got {other}"),
    }
    let unknown = session
        .query(vec![1, 2, 3, 4, 0, 0, 0, 0], Duration::from_secs(10))
        .await
        .expect_err("unknown magic");
    match unknown {
        QueryError::Remote { code, message } => {
            assert_eq!((code, message.as_str()), (601, "unknown query magic"))
        }
        other => panic!("expected error 601, got {other}"),
    }
    public
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_registered_keys_to_allowed_peers_and_keeps_them_across_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_configs(dir.path());
    let ledger = DevnetLedger::open_or_create(
        &dir.path().join("devnet.json"),
        RootConfig::devnet_default(),
    )
    .expect("devnet");
    let rpc_port = free_port();
    let rpc = format!("127.0.0.1:{rpc_port}");

    let km = Km::spawn(dir.path(), rpc_port, 1);
    let root_keys = wait_registered(&ledger, &km, 1);
    let served = served_keys(&rpc, &km).await;
    assert_eq!(
        served, root_keys,
        "served keys = registered keys (no test key when hashes are checked)"
    );

    // Killed right after registering; restarted on the same store.
    km.kill9();
    let km = Km::spawn(dir.path(), rpc_port, 2);
    let served_again = served_keys(&rpc, &km).await;
    assert_eq!(
        served_again,
        served,
        "the same keys after kill -9; log:\n{}",
        km.log()
    );
    assert_eq!(registered(&ledger), root_keys, "nothing registered twice");
}
