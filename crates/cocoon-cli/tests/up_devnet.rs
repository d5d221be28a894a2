//! `cocoon up --once` on the **devnet** (the default): one request, then the ledger file
//! must show the client charged and the worker paid exactly what the formulas give for the
//! tokens of the answer's `usage` (price 2, worker fee 1, commission 1 per token).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ONE_TON: u64 = 1_000_000_000;
const PRICE: u64 = 2;
const FEE: u64 = 1;

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "cocoon-up-devnet-{name}-{}-{nanos}",
        std::process::id()
    ))
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port().to_string()
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

fn up_once(dir: &Path, extra: &[&str]) -> String {
    let dir_s = dir.to_string_lossy().into_owned();
    let port = free_port();
    let mut args = vec![
        "up",
        "--once",
        "--dir",
        &dir_s,
        "--port",
        &port,
        "--ready-timeout",
        "90",
    ];
    args.extend_from_slice(extra);
    let (ok, out, err) = cocoon(&args);
    assert!(
        ok,
        "cocoon up --once failed\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

/// The answer JSON `up --once` printed after its "one request" line.
fn answer_usage_tokens(stdout: &str) -> u64 {
    let start = stdout
        .find("cocoon up: one request → HTTP 200\n")
        .expect("request line")
        + "cocoon up: one request → HTTP 200\n".len();
    let rest = &stdout[start..];
    let end = rest.find("\ncocoon up: ").unwrap_or(rest.len());
    let answer: Value = serde_json::from_str(rest[..end].trim()).expect("answer JSON");
    let usage = &answer["usage"];
    let prompt = usage["prompt_tokens"].as_u64().expect("prompt_tokens");
    let completion = usage["completion_tokens"]
        .as_u64()
        .expect("completion_tokens");
    // Coefficient 1.0 and multipliers 1.0: adjusted tokens = prompt + completion.
    prompt + completion
}

fn accounts<'a>(status: &'a Value, role: &str) -> Vec<&'a Value> {
    status["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter(|a| a["role"] == role)
        .collect()
}

fn wallet(status: &Value, owner: &Value) -> u64 {
    accounts(status, "wallet")
        .into_iter()
        .find(|w| &w["address"] == owner)
        .map_or(0, |w| w["balance_nanoton"].as_u64().expect("balance"))
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The token count `up --once` printed for its encrypted request.
fn encrypted_usage_tokens(stdout: &str) -> u64 {
    let marker = "cocoon up: the encrypted answer's usage: ";
    let start = stdout.find(marker).expect("encrypted usage line") + marker.len();
    let rest = &stdout[start..];
    rest[..rest.find(' ').expect("number")]
        .parse()
        .expect("token count")
}

#[test]
fn up_once_moves_the_money_the_formulas_give() {
    let dir = scratch("once");
    let stdout = up_once(&dir, &["--settle-timeout", "60"]);
    let plain_tokens = answer_usage_tokens(&stdout);
    assert!(plain_tokens > 0, "the fake engine reports usage");

    // The key manager registered a key of its own on the devnet root, the proxy fetched it,
    // and the encrypted request went through the client runner as ciphertext only.
    assert!(stdout.contains("registered on the devnet root"), "{stdout}");
    assert!(
        stdout.contains("the proxy holds the key manager's key"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the client runner received (and forwarded) only ciphertext"),
        "{stdout}"
    );
    assert!(
        stdout.contains("neither the client runner's traffic nor its log"),
        "{stdout}"
    );
    let encrypted_tokens = encrypted_usage_tokens(&stdout);
    assert!(encrypted_tokens > 0, "{stdout}");
    let tokens = plain_tokens + encrypted_tokens;

    let ledger = dir.join("devnet.json").to_string_lossy().into_owned();
    assert!(
        stdout.contains(&format!("cocoon devnet status --ledger {ledger}")),
        "{stdout}"
    );
    for each in [plain_tokens, encrypted_tokens] {
        assert!(
            stdout.contains(&format!(
                "client contract balance fell by {} nanoTON = {each} tokens × price {PRICE}",
                each * PRICE
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "wallet rose by {} nanoTON = {each} tokens × worker fee {FEE}",
                each * FEE
            )),
            "{stdout}"
        );
    }

    let (ok, out, err) = cocoon(&["devnet", "status", "--ledger", &ledger, "--json"]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).expect("status JSON");

    // Client: the 1 TON stake of its init data (a figure inside the balance, no money),
    // topped up by the stake (a multiple of the price), then charged.
    let clients = accounts(&status, "client");
    assert_eq!(clients.len(), 1, "{status}");
    let client = clients[0];
    assert_eq!(num(&client["stake_nanoton"]), ONE_TON);
    assert_eq!(num(&client["tokens_used"]), tokens);
    assert_eq!(
        num(&client["balance_nanoton"]),
        ONE_TON - tokens * PRICE,
        "the client contract balance fell by tokens × price"
    );
    assert_eq!(wallet(&status, &client["owner"]), 99 * ONE_TON);

    // Workers: their wallets rose by tokens × fee in total (whichever served it).
    let workers = accounts(&status, "worker");
    assert_eq!(workers.len(), 2, "both worker contracts deployed: {status}");
    let paid_tokens: u64 = workers.iter().map(|w| num(&w["tokens_paid"])).sum();
    let earned: u64 = workers.iter().map(|w| wallet(&status, &w["owner"])).sum();
    assert_eq!(paid_tokens, tokens);
    assert_eq!(earned, tokens * FEE, "worker wallets rose by tokens × fee");

    // Proxy: the commission (booked by the worker payouts, held or paid out to its wallet)
    // is tokens × (price − fee).
    let proxies = accounts(&status, "proxy");
    assert_eq!(proxies.len(), 1, "{status}");
    let proxy = proxies[0];
    let commission = num(&proxy["commission_nanoton"]) + wallet(&status, &proxy["owner"]);
    assert_eq!(
        commission,
        ONE_TON + tokens * (PRICE - FEE),
        "proxy wallet (2 TON − 1 TON stake) plus commission"
    );
    assert_eq!(num(&status["minted_nanoton"]), 102 * ONE_TON);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_payments_runs_without_a_ledger() {
    let dir = scratch("nopay");
    let stdout = up_once(&dir, &["--no-payments"]);
    assert!(stdout.contains("no money moves"), "{stdout}");
    // No root to register a key on: the reference's public test key, said so.
    assert!(stdout.contains("PUBLIC test key"), "{stdout}");
    assert!(
        stdout.contains("neither the client runner's traffic nor its log"),
        "{stdout}"
    );
    assert!(!dir.join("devnet.json").exists());
    assert!(!stdout.contains("devnet: client contract"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
