//! `cocoon up` on the devnet, then `cocoon devnet bump-params` (runners.md §8 close flow),
//! with real processes (fake engine, proxy, worker, client) on one devnet ledger file:
//! * requests are served on the first contracts;
//! * after the bump the proxy redeploys (a contract with the new params_version), the old
//!   client contract is refunded by the proxy (closed, charged exactly the served tokens,
//!   nothing left in it), the old worker contract paid and closed;
//! * after `cocoon devnet advance-time` past the close delay the old proxy contract closes
//!   and holds nothing; money is conserved throughout;
//! * new requests are served and charged on the new contracts, at the new price.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::{ContractStatus, DevnetLedger};
use cocoon_ledger::root_config::RootConfig;
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

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

/// `cocoon up`, killed (and its directory removed on success) on drop.
struct Up {
    child: Child,
    dir: PathBuf,
}

impl Up {
    fn log(&self) -> String {
        let mut out = String::new();
        for name in ["up.log", "proxy.log", "client.log", "worker1.log"] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(25).collect();
            out.push_str(&format!("--- {name}:\n"));
            out.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            out.push('\n');
        }
        out
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn wait_for(what: &str, up: &Up, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > DEADLINE {
            panic!("timed out waiting for {what}\n{}", up.log());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One chat completion through the client; the answer's adjusted tokens on success.
fn ask(port: u16) -> Option<u64> {
    let body = json!({"model": "Qwen/Qwen3-8B", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    if head.split_whitespace().nth(1)? != "200" || head.to_ascii_lowercase().contains("chunked") {
        return None;
    }
    let v: Value = serde_json::from_str(body).ok()?;
    // Coefficient 1.0 and multipliers 1.0: adjusted tokens = prompt + completion.
    Some(v["usage"]["prompt_tokens"].as_u64()? + v["usage"]["completion_tokens"].as_u64()?)
}

fn snapshot(path: &Path) -> DevnetSnapshot {
    DevnetLedger::open_or_create(path, RootConfig::devnet_default())
        .expect("ledger")
        .try_devnet_snapshot()
        .expect("snapshot")
}

fn holdings(s: &DevnetSnapshot) -> NanoTon {
    s.wallets.values().sum::<NanoTon>() + s.proxies.values().map(|p| p.funds).sum::<NanoTon>()
}

#[test]
fn bump_params_redeploys_closes_the_old_contracts_and_serves_on_the_new_ones() {
    let dir = std::env::temp_dir().join(format!(
        "cocoon-up-bump-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let log = std::fs::File::create(dir.join("up.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_cocoon"))
        .args([
            "up",
            "--dir",
            &dir.to_string_lossy(),
            "--port",
            &port.to_string(),
            "--workers",
            "1",
            "--ready-timeout",
            "90",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn cocoon up");
    let up = Up {
        child,
        dir: dir.clone(),
    };
    let ledger = dir.join("devnet.json");
    let ledger_s = ledger.to_string_lossy().into_owned();

    // Served on the first contracts.
    let mut served = 0;
    wait_for("a first answer", &up, || match ask(port) {
        Some(t) => {
            served += t;
            true
        }
        None => false,
    });
    for _ in 0..2 {
        served += ask(port).expect("answer");
    }
    let before = snapshot(&ledger);
    assert_eq!(
        (
            before.proxies.len(),
            before.clients.len(),
            before.workers.len()
        ),
        (1, 1, 1),
        "one contract each"
    );
    let old_proxy = before.proxies.keys().next().expect("proxy").clone();
    let old_client = before.clients.keys().next().expect("client").clone();
    let old_worker = before.workers.keys().next().expect("worker").clone();

    // `cocoon up` polls the ledger every second once it printed its summary: let it take
    // a first snapshot before the bump, so that its report shows the bump itself.
    wait_for("cocoon up's summary", &up, || {
        std::fs::read_to_string(dir.join("up.log")).is_ok_and(|l| l.contains("Press Ctrl-C"))
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (ok, out, err) = cocoon(&[
        "devnet",
        "bump-params",
        "--ledger",
        &ledger_s,
        "--price-per-token",
        "3",
        "--worker-fee-per-token",
        "2",
    ]);
    assert!(ok, "{out}{err}");

    wait_for(
        "redeploy, old client refunded, old worker paid",
        &up,
        || {
            let s = snapshot(&ledger);
            s.proxies
                .values()
                .any(|p| p.params_version == 2 && p.status == ContractStatus::Active)
                && s.clients[&old_client].status == ContractStatus::Closed
                && s.workers[&old_worker].status == ContractStatus::Closed
        },
    );
    let s = snapshot(&ledger);
    let client = &s.clients[&old_client];
    assert_eq!(
        (client.tokens_used, client.balance),
        (served, 0),
        "the old client contract charged exactly the served tokens, the rest returned"
    );
    assert_eq!(
        s.workers[&old_worker].tokens, served,
        "old worker paid in full"
    );
    assert_eq!(s.proxies[&old_proxy].status, ContractStatus::Closing);
    assert_eq!(holdings(&s), s.minted, "money conserved");

    // After the close delay the old proxy contract closes.
    let delay = RootConfig::devnet_default().params.proxy_delay_before_close + 2;
    let (ok, _, err) = cocoon(&[
        "devnet",
        "advance-time",
        "--ledger",
        &ledger_s,
        "--seconds",
        &delay.to_string(),
    ]);
    assert!(ok, "{err}");
    wait_for("old proxy contract closed", &up, || {
        snapshot(&ledger).proxies[&old_proxy].status == ContractStatus::Closed
    });
    let s = snapshot(&ledger);
    let p = &s.proxies[&old_proxy];
    assert_eq!((p.stake, p.commission, p.funds), (0, 0, 0));
    assert_eq!(holdings(&s), s.minted, "money conserved");

    // New requests on the new contracts, at the new price.
    let mut served_new = 0;
    wait_for("an answer on the new contracts", &up, || match ask(port) {
        Some(t) => {
            served_new += t;
            true
        }
        None => false,
    });
    wait_for("the new client contract charged", &up, || {
        snapshot(&ledger)
            .clients
            .values()
            .any(|c| c.params_version == 2 && c.tokens_used == served_new)
    });
    let s = snapshot(&ledger);
    let new_client = s
        .clients
        .values()
        .find(|c| c.params_version == 2)
        .expect("new client contract");
    assert_eq!(new_client.status, ContractStatus::Active);
    assert_eq!(holdings(&s), s.minted, "money conserved");
    // `cocoon up` reported the flow.
    wait_for("cocoon up's report of the close flow", &up, || {
        let log = std::fs::read_to_string(dir.join("up.log")).unwrap_or_default();
        log.contains("root params_version raised to 2 (price 3, worker fee 2)")
            && log.contains(&format!("client contract {old_client} closed;"))
            && log.contains(&format!("proxy contract {old_proxy} closed;"))
            && log.contains("tokens × price 3")
    });
    drop(up);
}
