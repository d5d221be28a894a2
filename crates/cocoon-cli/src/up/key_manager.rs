//! The key manager of a `cocoon up` network and the encrypted request of `--once`.
//!
//! The key manager runs with the simulated ("fake") TEE like every node here. On the devnet
//! (the default) it holds no publicly known test key (`--no-test-key`): it generates a key of
//! its own at start and registers it on the devnet root, signed with the machine key the
//! root names; the proxy reads `key_manager_address` from the devnet root and fetches the
//! key's seed over PoW + RA-TLS. With `--no-payments` there is no root to register on, so it
//! serves the reference's fixed test key and `root.json` lists it, as the reference's fake
//! TON does.
//!
//! `--once` then sends one request encrypted to that key through the client runner: the
//! runner receives and forwards only `ENC_…` values, the worker decrypts it for the engine
//! and seals every answer value to the caller, and the caller (this process) opens them.

use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use cocoon_e2e::{PublicKey, Seed};
use cocoon_ledger::ledger::devnet::DevnetLedger;
use cocoon_ledger::ledger::Ledger;
use cocoon_ledger::root_config::RootConfig;
use cocoon_node::keymanager::keys::TEST_KEY_PUBLIC_BASE64;
use rand::RngCore;
use serde_json::{json, Value};

use super::devnet::UpDevnet;
use super::procs::{http_get, http_post_json};

/// Waits until the key manager serves its stats and, on the devnet, until the devnet root
/// lists a live key of type 1; returns that key (the test key without a devnet).
pub fn wait_for_key(
    km_http: &str,
    devnet: Option<&UpDevnet>,
    timeout: Duration,
) -> anyhow::Result<PublicKey> {
    let deadline = Instant::now() + timeout;
    loop {
        let serving = http_get(km_http, "/jsonstats").is_ok_and(|(s, _)| s == 200);
        if serving {
            match devnet {
                None => return test_key(),
                Some(d) => {
                    if let Some(key) = registered_key(d)? {
                        return Ok(key);
                    }
                }
            }
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the key manager registered no key on the devnet root within {} s (see keymanager.log)",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The reference's fixed test key (public; `--no-payments` only).
fn test_key() -> anyhow::Result<PublicKey> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(TEST_KEY_PUBLIC_BASE64)
        .context("the test key")?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the test key is not 32 bytes"))?;
    Ok(PublicKey(key))
}

/// The live type-1 key of the devnet root with the latest expiry, if any.
fn registered_key(devnet: &UpDevnet) -> anyhow::Result<Option<PublicKey>> {
    let ledger = DevnetLedger::open_or_create(devnet.path(), RootConfig::devnet_default())
        .context("reading the devnet ledger")?;
    let root = ledger.root_config().context("reading the devnet root")?;
    // The key a caller encrypts to, chosen as the client library chooses it.
    let keys = cocoon_node::config::registered_keys_from_chain(&root.registered_public_keys)?;
    Ok(cocoon_client::encryption::pick_key(&keys, ledger.now()))
}

/// Waits until the proxy's key-manager client knows `key` (its `/jsonstats`).
pub fn wait_proxy_knows(
    proxy_http: &str,
    key: &PublicKey,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let want = key.to_hex();
    loop {
        if let Ok((200, body)) = http_get(proxy_http, "/jsonstats") {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let known = v["key_manager"]["known_keys"]
                .as_array()
                .is_some_and(|keys| {
                    keys.iter().any(|k| {
                        k["public_key"]
                            .as_str()
                            .is_some_and(|h| h.eq_ignore_ascii_case(&want))
                    })
                });
            if known {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the proxy did not learn the key manager's key within {} s (see proxy.log)",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the encrypted request of `--once` showed.
pub struct EncryptedOnce {
    /// The body the client runner received, as sent.
    pub sent: String,
    /// The answer the client runner returned, as received.
    pub received: String,
    /// The answer opened by the caller.
    pub opened: Value,
}

/// The prompt of the encrypted request: it must never appear in the client runner's traffic
/// or log.
pub const SECRET_PROMPT: &str = "Which secret does this encrypted request carry?";

/// Sends one chat completion encrypted to `key` through the client runner at `client_addr`
/// and opens its answer.
pub fn send_encrypted(
    client_addr: &str,
    model: &str,
    key: &PublicKey,
) -> anyhow::Result<EncryptedOnce> {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let caller = Seed::from_bytes(seed);
    // A short answer: a real model on a slow CPU answers a non-streamed request only at the
    // end, and the token limit stays clear (delta §2.4), so it still bounds the wait.
    let clear = json!({
        "model": model,
        "max_tokens": 48,
        "messages": [{"role": "user", "content": SECRET_PROMPT}],
    });
    let sent = cocoon_e2e::json::encrypt_request_body(clear.to_string().as_bytes(), &caller, key)
        .map_err(|e| anyhow::anyhow!("encrypting the request: {e}"))?;
    anyhow::ensure!(
        !sent.contains(SECRET_PROMPT),
        "the encrypted body still holds the prompt"
    );
    let (status, received) = http_post_json(client_addr, "/v1/chat/completions", &sent)?;
    anyhow::ensure!(
        status == 200,
        "the encrypted request failed with HTTP {status}: {received}"
    );
    let opened = cocoon_e2e::stream::decrypt_answer_line(received.trim().as_bytes(), &caller, key)
        .map_err(|e| anyhow::anyhow!("opening the answer: {e}; the answer was {received}"))?;
    Ok(EncryptedOnce {
        sent,
        received,
        opened: Value::Object(opened),
    })
}

/// `--once`: sends the encrypted request, prints what the client runner saw and what the
/// caller opened, and checks that neither the runner's traffic nor its log (`client.log` in
/// `dir`) holds the prompt or the answer in clear. Returns the opened answer.
pub fn show_encrypted_once(
    client_addr: &str,
    model: &str,
    key: &PublicKey,
    dir: &std::path::Path,
) -> anyhow::Result<Value> {
    say!(
        "cocoon up: one request encrypted to the key manager's key {} …",
        key.to_hex()
    );
    let once = send_encrypted(client_addr, model, key)?;
    say!(
        "cocoon up: the client runner received (and forwarded) only ciphertext:\n  {}",
        shorten(&once.sent, 300)
    );
    say!(
        "cocoon up: and returned the worker's sealed answer:\n  {}",
        shorten(once.received.trim(), 300)
    );
    let content = once.opened["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    say!(
        "cocoon up: opened by the caller: {}",
        shorten(&once.opened.to_string(), 300)
    );
    let log = std::fs::read_to_string(dir.join("client.log")).unwrap_or_default();
    let clear = [SECRET_PROMPT, content.as_str()];
    for text in clear.iter().filter(|t| t.len() >= 8) {
        anyhow::ensure!(
            !once.received.contains(text) && !log.contains(text),
            "clear text reached the client runner: {text:?}"
        );
    }
    anyhow::ensure!(
        !content.is_empty(),
        "the opened answer has no message content: {}",
        once.opened
    );
    say!(
        "cocoon up: neither the client runner's traffic nor its log ({} lines) holds the prompt or the answer in clear",
        log.lines().count()
    );
    Ok(once.opened)
}

/// Shortens `text` to `max` characters for printing.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}…")
}
