//! `cocoon proxy`, `cocoon worker` and `cocoon client` processes on the TON backend against
//! the **REAL** COCOON contracts: the chain behind the mock liteservers is
//! `cocoon_ton::sandbox::SandboxChain`, which executes every message with the contracts'
//! compiled code (the vectors' code cells) in `@ton/sandbox` — root, proxy, client, worker
//! and the cocoon wallets alike — instead of our model of them (`ton_network.rs` runs the
//! same processes on the model). Nothing touches TON.
//!
//! One client's whole life and a worker's payouts: the proxy deploys its contract and raises
//! its stake; the client deploys, tops up, registers (long auth) and sends a request; the
//! proxy charges the client contract; the worker's voucher is paid through its contract and
//! the proxy contract; the proxy withdraws its commission; the client asks to close its
//! contract and the proxy grants the final refund (from the client money its contract
//! holds, leaving its stake alone); the client gets its money back. At the end a table of where every
//! nanoTON went is printed and checked against the contracts' rules (contracts.md §3–§4).
//!
//! Needs `COCOON_VECTORS` (the code cells), `node` and `contracts-sandbox/node_modules`
//! (`npm ci`); without them the test is skipped saying why — in CI (`CI` set) it fails.

mod ton_common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ton::messages::op;
use cocoon_ton::mock_lite::ServedChain;
use cocoon_ton::sandbox::{SandboxAccount, SandboxChain, SandboxSetup};
use serde_json::{json, Value};
use tonlib_core::TonAddress;

use ton_common::client_close::admin_post;
use ton_common::network::{TonNetwork, MODEL};
use ton_common::wait_until;

/// Whole-test budget (debug build, 2 shared cores, the emulator in a Node process).
const BUDGET: Duration = Duration::from_secs(150);

/// The sandbox setup, or `None` after saying why (a failure in CI).
fn setup() -> Option<SandboxSetup> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts-sandbox");
    SandboxSetup::from_env_for_tests(&dir)
}

fn field(account: &SandboxAccount, name: &str) -> u128 {
    match account.fields.as_ref().map(|f| &f[name]) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().map_or(0, u128::from),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_life_and_worker_payouts_on_the_real_contract_code() {
    let Some(setup) = setup() else { return };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let net = TonNetwork::start_on(
        "real-contracts",
        BUDGET,
        |root| {
            // contracts.md §4's parameters (struct version 3 is the one the code accepts),
            // with a close delay short enough for the test.
            root.params.struct_version = 3;
            root.params.price_per_token = 10_000;
            root.params.worker_fee_per_token = 9_000;
            root.params.min_proxy_stake = 2 * ONE_TON;
            root.params.min_client_stake = ONE_TON;
            root.params.client_delay_before_close = 2;
        },
        |root| Arc::new(SandboxChain::start(&setup, now, root).expect("sandbox chain")),
    )
    .await;
    let chain = &net.ton.chain;
    let logs = || net.logs();
    let deadline = net.deadline;
    let client_http = net.client_http;

    net.wait_serving().await;
    let client_sc = one_of_kind(chain, "client");
    let balance_before = field(&account(chain, &client_sc), "balance");

    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "Hello!"}]});
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{client_http}/v1/chat/completions"
        ))
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("chat request: {e}\n{}", logs()));
    let status = response.status();
    let text = response.text().await.expect("answer body");
    assert!(status.is_success(), "HTTP {status}: {text}\n{}", logs());
    let answer: Value = serde_json::from_str(&text).expect("answer JSON");
    let tokens = answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0)
        + answer["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    assert!(tokens > 0, "usage: {answer}");
    let (price, fee) = (10_000u128, 9_000u128);
    let tokens = NanoTon::from(tokens);

    // The three contracts, found by the code they run.
    let proxy_sc = one_of_kind(chain, "proxy");
    let worker_sc = one_of_kind(chain, "worker");
    let client_wallet = net.ton.wallet_of(&net.client);
    let (proxy_owner, worker_owner) = (net.proxy.owner(), net.worker.owner());

    // Settled on chain: the proxy's signed charge on the client contract, the worker's
    // voucher paid through its contract and the proxy contract, the commission withdrawn.
    let settled = || {
        let (client, worker) = (account(chain, &client_sc), account(chain, &worker_sc));
        field(&client, "tokens_used") >= tokens
            && field(&worker, "tokens") >= tokens
            && paid(chain, &proxy_owner, &proxy_sc) >= tokens * (price - fee)
    };
    wait_until(
        "charge, payout and commission on chain",
        deadline,
        logs,
        settled,
    )
    .await;
    let client = account(chain, &client_sc);
    let proxy = account(chain, &proxy_sc);
    let charged_balance = field(&client, "balance");
    let mut table = MoneyTable::default();
    table.row(
        "client contract: balance before the request",
        balance_before,
        None,
    );
    table.row(
        "client contract: stake (inside the balance)",
        field(&client, "stake"),
        Some(ONE_TON),
    );
    table.row(
        "client contract: tokens charged",
        field(&client, "tokens_used"),
        Some(tokens),
    );
    // contracts.md §3.1.8: a charge within the balance lowers it by tokens × price; no TON moves.
    table.row(
        "client contract: balance after the charge",
        charged_balance,
        Some(balance_before - tokens * price),
    );
    table.row(
        "worker contract: tokens paid",
        field(&account(chain, &worker_sc), "tokens"),
        Some(tokens),
    );
    // §3.3.1: the proxy contract pays worker_part to the worker owner...
    table.row(
        "worker owner: payout from the proxy SC",
        paid(chain, &worker_owner, &proxy_sc),
        Some(tokens * fee),
    );
    // ...and books proxy_part, which the payout request sends to the proxy owner (§3.3.3).
    table.row(
        "proxy owner: commission from the proxy SC",
        paid(chain, &proxy_owner, &proxy_sc),
        Some(tokens * (price - fee)),
    );
    table.row(
        "proxy contract: booked commission left",
        field(&proxy, "balance"),
        Some(0),
    );
    table.row(
        "proxy contract: stake",
        field(&proxy, "stake"),
        Some(2 * ONE_TON),
    );

    // The client's close flow, by hand on its admin port: the first refund request moves
    // the contract to Closing (and refunds balance − stake at once if there is any,
    // REFUND(G), §3.1.7); the proxy then sends the final charge and refund itself
    // (`ext_client_grant_refund_signed`, §3.1.9): the contract closes and the proxy contract
    // refunds the whole balance from the money it holds (REFUND(G)) — not a forced refund
    // from its stake (REFUND(F), §3.3.2), which would drain the stake.
    let proxy_text = proxy_sc.to_hex();
    let (status, body) = admin_post(
        net.client_admin,
        &format!("/request/close?proxy={proxy_text}"),
    )
    .await;
    assert!(status == 200, "close: HTTP {status} {body}\n{}", logs());
    let closed = || field(&account(chain, &client_sc), "state") == 2;
    wait_until(
        "the client contract closed by the proxy's grant refund",
        deadline,
        logs,
        closed,
    )
    .await;
    let refunds = || paid(chain, &client_wallet, &proxy_sc);
    wait_until(
        "the refund paid to the client wallet",
        deadline,
        logs,
        || refunds() >= charged_balance,
    )
    .await;
    let client = account(chain, &client_sc);
    let proxy = account(chain, &proxy_sc);
    let proxy_wallet = net.ton.wallet_of(&net.proxy);
    table.row(
        "client wallet: refund from the proxy SC",
        refunds(),
        Some(charged_balance),
    );
    table.row(
        "client contract: balance after close",
        field(&client, "balance"),
        Some(0),
    );
    table.row(
        "proxy contract: stake after the close (untouched)",
        field(&proxy, "stake"),
        Some(2 * ONE_TON),
    );
    let grants = received(
        chain,
        &client_sc,
        &proxy_wallet,
        op::EXT_CLIENT_GRANT_REFUND_SIGNED,
    )
    .len();
    assert!(
        grants >= 1,
        "no grant refund from the proxy's wallet\n{}",
        logs()
    );
    println!("{table}");
    assert!(
        table.all_match(),
        "money moved otherwise than the contracts' rules\n{table}\n{}",
        logs()
    );
    let failures = chain.failures();
    assert!(
        failures.is_empty(),
        "failed transactions on the real code: {failures:?}\n{}",
        logs()
    );
}

/// The only account of `kind` (proxy, client, worker) the chain has.
fn one_of_kind(chain: &SandboxChain, kind: &str) -> TonAddress {
    let found: Vec<TonAddress> = chain
        .served_accounts()
        .expect("accounts")
        .into_iter()
        .filter(|a| account(chain, a).kind.as_deref() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} contract: {found:?}");
    found[0].clone()
}

fn account(chain: &SandboxChain, address: &TonAddress) -> SandboxAccount {
    chain.account_raw(address).expect("account")
}

/// nanoTON `to` received from `from` in payout messages (op 0xc59a7cd3).
fn paid(chain: &SandboxChain, to: &TonAddress, from: &TonAddress) -> NanoTon {
    received(chain, to, from, op::PAYOUT).iter().sum()
}

/// The values of the messages with `op` that `to` received from `from`, oldest first.
fn received(chain: &SandboxChain, to: &TonAddress, from: &TonAddress, wanted: u32) -> Vec<NanoTon> {
    chain
        .history(to)
        .iter()
        .filter_map(|t| t.in_msg.as_ref())
        .filter(|m| m.source.as_ref() == Some(from))
        .filter(|m| m.body.parser().load_u32(32).ok() == Some(wanted))
        .map(|m| m.value)
        .collect()
}

/// Where the money went: measured on the real code, and what the rules say.
#[derive(Default)]
struct MoneyTable {
    rows: Vec<(String, NanoTon, Option<NanoTon>)>,
}

impl MoneyTable {
    fn row(&mut self, what: &str, measured: NanoTon, expected: Option<NanoTon>) {
        self.rows.push((what.to_owned(), measured, expected));
    }

    fn all_match(&self) -> bool {
        self.rows.iter().all(|(_, m, e)| e.is_none_or(|e| e == *m))
    }
}

impl std::fmt::Display for MoneyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<52} {:>16} {:>16}",
            "nanoTON (real contract code)", "measured", "rule says"
        )?;
        for (what, measured, expected) in &self.rows {
            let expected = expected.map_or("-".to_owned(), |e| e.to_string());
            let mark = if expected == "-" || expected == measured.to_string() {
                ""
            } else {
                "  <-- differs"
            };
            writeln!(f, "{what:<52} {measured:>16} {expected:>16}{mark}")?;
        }
        Ok(())
    }
}
