//! A proxy killed with SIGKILL under load and restarted on the same books, with real
//! `cocoon` processes (fake engine, proxy, worker, client) on one **devnet** ledger file.
//!
//! Only the proxy is given the ledger (it is the process that moves money: save_state,
//! client charges, worker payouts, commission); the test prepares every contract before
//! the proxy starts and afterwards only reads the file. Checked at the end:
//! * the ledger conserves money (holdings == minted) and its client balance, worker wallet
//!   and proxy owner wallet moved by exactly charged × price, paid × fee and the commission;
//! * nothing was charged that the client did not receive (charged ≤ usage of the answers
//!   the client got) and nothing paid that the worker did not serve;
//! * the restarted proxy never counts less than was already charged on chain, and money
//!   keeps moving after the restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_node::config::{LocalRootConfig, ProxyConfig};
use cocoon_node::proxy::ProxySettings;
use serde_json::{json, Value};

const MODEL: &str = "test/model";
const PRICE: NanoTon = 2;
const FEE: NanoTon = 1;
const PROXY_OWNER: &str = "0:1111111111111111111111111111111111111111111111111111111111111111";
const WORKER_OWNER: &str = "0:2222222222222222222222222222222222222222222222222222222222222222";
const CLIENT_OWNER: &str = "0:3333333333333333333333333333333333333333333333333333333333333333";
const PROXY_KEY: [u8; 32] = [77; 32];
const DEADLINE: Duration = Duration::from_secs(40);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A contract or wallet address parsed from its text (raw `0:hex`).
macro_rules! addr {
    ($text:expr) => {
        parse_address($text).expect("address").address
    };
}

/// Every child process, killed on drop; and the run directory, removed on drop.
struct Procs {
    children: Vec<(String, Child)>,
    dir: PathBuf,
}

impl Procs {
    fn spawn(&mut self, name: &str, args: &[String]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cocoon"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn cocoon");
        self.children.push((name.to_owned(), child));
    }

    fn kill(&mut self, name: &str) {
        if let Some(pos) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.children.remove(pos);
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }

    fn log(&self, name: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One HTTP/1.1 request (`Connection: close`); status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn json_get(port: u16, path: &str) -> Option<Value> {
    let (status, body) = http(port, "GET", path, "")?;
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

fn wait_for(what: &str, procs: &Procs, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > DEADLINE {
            let logs: Vec<String> = procs
                .children
                .iter()
                .map(|(n, _)| format!("--- {n}:\n{}", procs.log(n)))
                .collect();
            panic!("timed out waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_json(dir: &Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(v).expect("json")).expect("write");
    path.to_string_lossy().into_owned()
}

/// Adjusted tokens of an answer (coefficient and multipliers 1.0): prompt + completion.
fn usage_tokens(answer: &str) -> u64 {
    let v: Value = serde_json::from_str(answer).unwrap_or_default();
    v["usage"]["prompt_tokens"].as_u64().unwrap_or(0)
        + v["usage"]["completion_tokens"].as_u64().unwrap_or(0)
}

struct Ports {
    engine: u16,
    proxy_workers: u16,
    proxy_clients: u16,
    proxy_http: u16,
    worker_http: u16,
    client_http: u16,
}

/// Writes the configs; returns (root, proxy, worker, client) paths.
fn write_configs(dir: &Path, p: &Ports) -> [String; 4] {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let root = json!({
        "@type": "rootConfig.pseudo",
        "registered_proxies": [{"seqno": 1,
            "address": format!("127.0.0.1:{} 127.0.0.1:{}", p.proxy_workers, p.proxy_clients)}],
        "model_types": [MODEL], "price_per_token": 2, "worker_fee_per_token": 1,
        "last_proxy_seqno": 1, "version": 3, "params_version": 1,
        "root_owner_address": PROXY_OWNER,
    });
    let proxy = json!({
        "@type": "proxyRunner.config", "is_test": true,
        "workers_rpc_port": p.proxy_workers, "client_rpc_port": p.proxy_clients,
        "http_port": p.proxy_http, "owner_address": PROXY_OWNER,
        "machine_specific_private_key": b64(&PROXY_KEY), "node_wallet_key": b64(&[1; 32]),
        "db_path": dir.join("proxy-db").to_string_lossy(), "check_worker_hashes": false,
    });
    let worker = json!({
        "@type": "workerRunner.config", "is_test": true, "http_port": p.worker_http,
        "owner_address": WORKER_OWNER, "proxy_connections": 1, "model_name": MODEL,
        "coefficient": 1000, "node_wallet_key": b64(&[2; 32]),
        "forward_requests_to": format!("127.0.0.1:{}", p.engine),
        "check_proxy_hashes": false, "max_active_requests": 8,
    });
    let client = json!({
        "@type": "clientRunner.config", "is_test": true, "http_port": p.client_http,
        "owner_address": CLIENT_OWNER, "proxy_connections": 1,
        "node_wallet_key": b64(&[3; 32]), "check_proxy_hashes": false, "secret_string": "",
    });
    [
        write_json(dir, "root.json", &root),
        write_json(dir, "proxy.json", &proxy),
        write_json(dir, "worker1.json", &worker),
        write_json(dir, "client.json", &client),
    ]
}

/// Deploys and funds every contract before any node starts (the proxy then reuses its
/// contract). Returns the raw addresses of the proxy, client and worker contracts.
fn prepare_ledger(path: &Path, proxy_cfg: &str, root: &str) -> [String; 3] {
    let ledger = DevnetLedger::open_or_create(path, RootConfig::devnet_default()).expect("ledger");
    let (proxy_owner, client_owner) = (addr!(PROXY_OWNER), addr!(CLIENT_OWNER));
    ledger
        .devnet_fund(&proxy_owner, 2 * ONE_TON)
        .expect("fund proxy");
    // The proxy's key, read the way `cocoon proxy` reads it.
    let settings = ProxySettings::from_configs(
        &ProxyConfig::from_file(proxy_cfg).expect("proxy config"),
        &LocalRootConfig::from_json_str(&std::fs::read_to_string(root).expect("root"))
            .expect("root config"),
    )
    .expect("proxy settings");
    let key = settings
        .signing_key
        .as_ref()
        .expect("signing key")
        .verifying_key();
    let proxy_sc = ledger
        .proxy_deploy(&proxy_owner, &key, ONE_TON)
        .expect("proxy contract");
    ledger
        .devnet_fund(&client_owner, 3 * ONE_TON)
        .expect("fund client");
    let client_sc = ledger
        .client_deploy(&client_owner, &proxy_sc)
        .expect("client contract");
    ledger
        .client_increase_stake(&client_owner, &client_sc, ONE_TON)
        .expect("stake");
    ledger
        .client_top_up(&client_owner, &client_sc, ONE_TON)
        .expect("top up");
    // The client runs without the ledger here, so set its (empty) secret's hash on the
    // contract as a cocoon-rs client would: the proxy checks auth against it.
    let empty: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"").into();
    ledger
        .client_change_secret_hash(&client_owner, &client_sc, empty)
        .expect("secret hash");
    let worker_sc = ledger
        .worker_deploy(&addr!(WORKER_OWNER), &proxy_sc)
        .expect("worker contract");
    [proxy_sc.to_hex(), client_sc.to_hex(), worker_sc.to_hex()]
}

fn read_ledger(path: &Path) -> DevnetLedger {
    // Opening verifies that the file conserves money.
    DevnetLedger::open_or_create(path, RootConfig::devnet_default()).expect("ledger reopens")
}

#[test]
fn proxy_killed_under_load_restarts_on_its_books_and_money_is_conserved() {
    let dir = std::env::temp_dir().join(format!(
        "cocoon-proxy-kill-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut procs = Procs {
        children: Vec::new(),
        dir: dir.clone(),
    };
    let p = Ports {
        engine: free_port(),
        proxy_workers: free_port(),
        proxy_clients: free_port(),
        proxy_http: free_port(),
        worker_http: free_port(),
        client_http: free_port(),
    };
    let [root, proxy_cfg, worker_cfg, client_cfg] = write_configs(&dir, &p);
    let ledger_path = dir.join("devnet.json");
    let [proxy_sc, client_sc, worker_sc] = prepare_ledger(&ledger_path, &proxy_cfg, &root);
    let (proxy_sc, client_sc, worker_sc) = (addr!(&proxy_sc), addr!(&client_sc), addr!(&worker_sc));
    let ledger_s = ledger_path.to_string_lossy().into_owned();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    procs.spawn(
        "engine",
        &s(&[
            "backend",
            "fake",
            "--host",
            "127.0.0.1",
            "--port",
            &p.engine.to_string(),
            "--model",
            MODEL,
            "--chunks",
            "4",
            "--delay-ms",
            "40",
        ]),
    );
    let proxy_args = s(&[
        "proxy",
        "--config",
        &proxy_cfg,
        "--disable-ton",
        &root,
        "--tee",
        "fake",
        "--worker-policy",
        "fake",
        "--client-policy",
        "any",
        "--pow-difficulty",
        "0",
        "--devnet-ledger",
        &ledger_s,
        "--save-state-interval",
        "1",
        "--admin-listen",
        "off",
    ]);
    procs.spawn("proxy", &proxy_args);
    procs.spawn(
        "worker",
        &s(&[
            "worker",
            "--config",
            &worker_cfg,
            "--disable-ton",
            &root,
            "--tee",
            "fake",
            "--proxy-policy",
            "fake",
            "--admin-listen",
            "off",
        ]),
    );
    procs.spawn(
        "client",
        &s(&[
            "client",
            "--config",
            &client_cfg,
            "--disable-ton",
            &root,
            "--tee",
            "none",
            "--proxy-policy",
            "fake",
            "--admin-listen",
            "off",
        ]),
    );
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let ask = |port: u16| -> Option<u64> {
        match http(port, "POST", "/v1/chat/completions", &body) {
            Some((200, answer)) => Some(usage_tokens(&answer)),
            _ => None,
        }
    };
    wait_for("a first answer through the network", &procs, || {
        ask(p.client_http).is_some()
    });

    // Load: two callers in a loop; the tokens of every answer the client got are summed.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let answers = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, seen, answers, body) =
                (stop.clone(), seen.clone(), answers.clone(), body.clone());
            let port = p.client_http;
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match http(port, "POST", "/v1/chat/completions", &body) {
                        Some((200, answer)) => {
                            seen.fetch_add(usage_tokens(&answer), Ordering::Relaxed);
                            answers.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let charged_before_kill = read_ledger(&ledger_path)
        .client_state(&client_sc)
        .expect("client contract")
        .tokens_used;
    procs.kill("proxy");
    let answers_at_kill = answers.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    procs.spawn("proxy", &proxy_args);
    wait_for("answers after the restart", &procs, || {
        answers.load(Ordering::Relaxed) >= answers_at_kill + 5
    });
    // The restarted proxy restored its books: never below what was charged on chain.
    let restored = json_get(p.proxy_http, "/jsonstats").expect("proxy stats");
    let used = restored["clients"][0]["used_tokens"].as_u64().unwrap_or(0);
    assert!(
        used >= charged_before_kill,
        "restored {used} < charged {charged_before_kill}"
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().expect("caller");
    }
    let seen = seen.load(Ordering::Relaxed);

    // Let the proxy commit, charge, pay and withdraw what is left.
    let mut proxy_used = 0;
    wait_for("the last charge and payout", &procs, || {
        let Some(stats) = json_get(p.proxy_http, "/jsonstats") else {
            return false;
        };
        proxy_used = stats["clients"][0]["used_tokens"].as_u64().unwrap_or(0);
        let ledger = read_ledger(&ledger_path);
        let charged = ledger.client_state(&client_sc).map_or(0, |c| c.tokens_used);
        let paid = ledger.worker_state(&worker_sc).map_or(0, |w| w.tokens);
        let commission = ledger.proxy_state(&proxy_sc).map_or(1, |s| s.commission);
        charged == proxy_used && paid == proxy_used && commission == 0
    });
    let worker_stats = json_get(p.worker_http, "/jsonstats").expect("worker stats");
    let worker_served = worker_stats["stats"]["total_adjusted_tokens_used"]
        .as_u64()
        .expect("worker token total");

    let ledger = read_ledger(&ledger_path);
    assert_eq!(
        ledger.devnet_holdings(),
        ledger.devnet_minted(),
        "money conserved"
    );
    let charged = ledger.client_state(&client_sc).expect("client").tokens_used;
    let paid = ledger.worker_state(&worker_sc).expect("worker").tokens;
    eprintln!(
        "proxy_kill: answers {} (client saw {seen} tokens), worker served {worker_served}, \
         charged {charged} (before the kill {charged_before_kill}), paid {paid}",
        answers.load(Ordering::Relaxed)
    );
    assert!(
        charged > charged_before_kill,
        "money moved after the restart"
    );
    assert!(
        charged <= seen,
        "charged {charged} > tokens the client received {seen}"
    );
    assert!(
        paid <= worker_served,
        "paid {paid} > tokens the worker served {worker_served}"
    );
    let client = ledger.client_state(&client_sc).expect("client");
    assert_eq!(client.balance, ONE_TON - NanoTon::from(charged) * PRICE);
    assert_eq!(
        ledger
            .wallet_balance(&addr!(WORKER_OWNER))
            .expect("worker wallet"),
        NanoTon::from(paid) * FEE
    );
    assert_eq!(
        ledger
            .wallet_balance(&addr!(PROXY_OWNER))
            .expect("proxy wallet"),
        ONE_TON + NanoTon::from(charged) * (PRICE - FEE),
        "the commission reached the proxy owner"
    );
}
