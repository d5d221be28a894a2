//! `cocoon devnet`: look at and drive a **devnet** ledger file (the local simulation of the
//! COCOON payment contracts in `cocoon_ledger::ledger::devnet`; nothing here touches TON).
//!
//! * `status [--json]` — every account: role, address, balance in nanoTON, token counters;
//! * `fund` — the devnet faucet: mint nanoTON into a wallet;
//! * `advance-time` — move the devnet clock forward (close delays, unlock times);
//! * `bump-params` — raise the root `params_version` (optionally with new prices): every
//!   payment contract becomes outdated, proxies redeploy and close their old contracts;
//! * `close` — close a client contract (a refund request, which returns the money above the
//!   stake at once, then a second one after the unlock time) or a proxy contract
//!   (close request, then completion), **acting as the contract's owner**: on the devnet
//!   the CLI may act for any owner, which on TON only the owner's wallet could.
//!
//! The ledger file is shared with running nodes: every operation locks it, sees the latest
//! state and writes atomically (see `cocoon_ledger::ledger::devnet`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::{parse_address, FriendlyAddress};
use cocoon_ledger::ledger::devnet::{DevnetLedger, DevnetSnapshot};
use cocoon_ledger::ledger::{ContractStatus, Ledger};
use cocoon_ledger::root_config::RootConfig;
use serde_json::{json, Value};

/// `cocoon devnet …` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:\n  \
cocoon devnet fund --ledger devnet.json --wallet 0:1111…1111 --nanoton 5000000000\n  \
cocoon devnet advance-time --ledger devnet.json --seconds 3600\n  \
cocoon devnet status --ledger devnet.json --json\n  \
cocoon devnet bump-params --ledger devnet.json --price-per-token 3 --worker-fee-per-token 2\n  \
cocoon devnet close --ledger devnet.json --contract 0:abcd…ef01 --advance-time")]
pub enum DevnetCommand {
    /// Print every devnet account (role, address, balance in nanoTON, token counters).
    Status {
        /// The devnet ledger file (must exist); without it, the ledger of the `cocoon up`
        /// that is running.
        #[arg(long, value_name = "FILE")]
        ledger: Option<PathBuf>,
        /// Machine-readable JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Devnet faucet: mint nanoTON into a wallet (creates the ledger file if missing).
    Fund {
        /// The devnet ledger file.
        #[arg(long, value_name = "FILE")]
        ledger: PathBuf,
        /// Wallet address (user-friendly or raw `0:hex`).
        #[arg(long, value_name = "ADDRESS")]
        wallet: String,
        /// Amount in nanoTON (1 TON = 1000000000).
        #[arg(long, value_name = "N")]
        nanoton: u64,
    },
    /// Move the devnet clock forward (creates the ledger file if missing).
    AdvanceTime {
        /// The devnet ledger file.
        #[arg(long, value_name = "FILE")]
        ledger: PathBuf,
        /// Seconds to add.
        #[arg(long, value_name = "N")]
        seconds: u64,
    },
    /// Raise the root `params_version` (optionally with new prices).
    ///
    /// Every payment contract becomes outdated: a running proxy commits, redeploys its
    /// contract with the new params and closes the old one (refunding its clients, paying
    /// its workers, then, after `proxy_delay_before_close` — see `advance-time` — returning
    /// its stake); clients and workers move to the new contracts.
    BumpParams {
        /// The devnet ledger file (must exist).
        #[arg(long, value_name = "FILE")]
        ledger: PathBuf,
        /// New price per token in nanoTON (default: unchanged).
        #[arg(long, value_name = "N")]
        price_per_token: Option<u64>,
        /// New worker fee per token in nanoTON (default: unchanged; at most the price).
        #[arg(long, value_name = "N")]
        worker_fee_per_token: Option<u64>,
    },
    /// Close a client or proxy contract as its owner (devnet: the CLI acts for every owner).
    ///
    /// A client contract is closed by a refund request (which returns the money above the
    /// stake at once) and, once unlocked (`client_delay_before_close`), a second one: a
    /// forced refund of the rest, capped by the proxy's stake; a proxy contract by a close
    /// request and, after `proxy_delay_before_close`, a completion paying everything it
    /// holds (stake, commission, unrefunded client money) to its owner.
    /// Without --advance-time, run it again once the devnet clock passes the unlock time.
    /// On TON only the owner's own wallet could send these messages.
    Close {
        /// The devnet ledger file (must exist).
        #[arg(long, value_name = "FILE")]
        ledger: PathBuf,
        /// Client or proxy contract address (user-friendly or raw `0:hex`).
        #[arg(long, value_name = "ADDRESS")]
        contract: String,
        /// Move the devnet clock to the unlock time if needed and finish the close now.
        #[arg(long)]
        advance_time: bool,
    },
}

/// Runs one `cocoon devnet` subcommand.
pub fn run(cmd: DevnetCommand) -> anyhow::Result<()> {
    match cmd {
        DevnetCommand::Status { ledger, json } => {
            let ledger = match ledger {
                Some(l) => l,
                None => crate::up::running::running_ledger_in(&crate::up::running::registry_dir())?,
            };
            let snapshot = open_existing(&ledger)?
                .try_devnet_snapshot()
                .context("devnet status")?;
            let status = status_json(&ledger, &snapshot);
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_text(&status);
            }
        }
        DevnetCommand::Fund {
            ledger,
            wallet,
            nanoton,
        } => {
            let address = parse_address(&wallet)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .address;
            let devnet = open(&ledger)?;
            devnet
                .devnet_fund(&address, NanoTon::from(nanoton))
                .context("devnet fund")?;
            println!("devnet: funded {} with {nanoton} nanoTON", address.to_hex());
        }
        DevnetCommand::AdvanceTime { ledger, seconds } => {
            let clock = open(&ledger)?
                .devnet_advance_clock(seconds)
                .context("devnet advance-time")?;
            println!("devnet: clock is now {clock}");
        }
        DevnetCommand::BumpParams {
            ledger,
            price_per_token,
            worker_fee_per_token,
        } => {
            let devnet = open_existing(&ledger)?;
            let mut config = devnet.root_config().context("devnet root config")?;
            config.params.params_version = config
                .params
                .params_version
                .checked_add(1)
                .context("params_version overflow")?;
            if let Some(price) = price_per_token {
                config.params.price_per_token = price;
            }
            if let Some(fee) = worker_fee_per_token {
                config.params.worker_fee_per_token = fee;
            }
            devnet
                .devnet_set_config(config)
                .context("devnet bump-params")?;
            let now = devnet.root_config().context("devnet root config")?;
            println!(
                "devnet: params_version is now {} (config version {}, price {} / worker fee {} nanoTON per token)",
                now.params.params_version,
                now.version,
                now.params.price_per_token,
                now.params.worker_fee_per_token
            );
        }
        DevnetCommand::Close {
            ledger,
            contract,
            advance_time,
        } => close(&ledger, &contract, advance_time)?,
    }
    Ok(())
}

fn open_existing(path: &Path) -> anyhow::Result<DevnetLedger> {
    if !path.exists() {
        bail!("no devnet ledger at {}", path.display());
    }
    open(path)
}

fn address(text: &str) -> anyhow::Result<FriendlyAddress> {
    parse_address(text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// A contract `cocoon devnet close` can close, as found in the ledger.
struct Closable {
    role: &'static str,
    owner: FriendlyAddress,
    status: ContractStatus,
    unlock_ts: u64,
}

fn find_closable(path: &Path, snapshot: &DevnetSnapshot, key: &str) -> anyhow::Result<Closable> {
    let (role, owner, status, unlock_ts) = if let Some(c) = snapshot.clients.get(key) {
        ("client", &c.owner, c.status, c.unlock_ts)
    } else if let Some(p) = snapshot.proxies.get(key) {
        ("proxy", &p.owner, p.status, p.unlock_ts)
    } else if snapshot.workers.contains_key(key) {
        bail!(
            "{key} is a worker contract: a devnet worker contract holds no money (payouts go \
             straight to the owner's wallet), so there is nothing to close"
        );
    } else {
        bail!(
            "unknown contract {key} in devnet ledger {} (list them with `cocoon devnet status \
             --ledger {}`)",
            path.display(),
            path.display()
        );
    };
    Ok(Closable {
        role,
        owner: address(owner).context("contract owner in the ledger file")?,
        status,
        unlock_ts,
    })
}

/// `cocoon devnet close`: request, then (when unlocked) complete the close as the owner.
fn close(path: &Path, contract: &str, advance_time: bool) -> anyhow::Result<()> {
    let devnet = open_existing(path)?;
    let sc = address(contract)?.address;
    let key = sc.to_hex();
    let snapshot = devnet.try_devnet_snapshot().context("devnet close")?;
    let found = find_closable(path, &snapshot, &key)?;
    let (role, owner) = (found.role, &found.owner.address);
    println!(
        "devnet: acting as {role} contract {key}'s owner {} (the devnet CLI acts for every owner)",
        owner.to_hex()
    );
    let (unlock_ts, just_requested) = match found.status {
        ContractStatus::Active => {
            // A client's first request returns the money above its stake at once
            // (contracts.md §3.1.7); the rest (the stake inside the balance) waits for the
            // unlock time.
            let above_stake = if role == "client" {
                let state = devnet.client_state(&sc)?;
                state.balance.saturating_sub(state.stake)
            } else {
                0
            };
            let unlock_ts = if role == "client" {
                devnet.client_request_refund(owner, &sc)
            } else {
                devnet.proxy_request_close(owner, &sc)
            }
            .with_context(|| format!("requesting the close of {role} contract {key}"))?;
            println!(
                "devnet: close of {role} contract {key} requested; funds unlock at {unlock_ts}"
            );
            if role == "client" {
                println!(
                    "devnet: client contract {key} returned {above_stake} nanoTON above its \
                     stake at once to owner wallet {}",
                    owner.to_hex()
                );
            }
            (unlock_ts, true)
        }
        ContractStatus::Closing => (found.unlock_ts, false),
        ContractStatus::Closed => bail!("{role} contract {key} is already closed"),
    };
    let now = devnet.now();
    // A client's second refund request must come strictly after its unlock time.
    let ready_at = if role == "client" {
        unlock_ts + 1
    } else {
        unlock_ts
    };
    if now < ready_at {
        if advance_time {
            let clock = devnet
                .devnet_advance_clock(ready_at - now)
                .context("advancing the devnet clock")?;
            println!("devnet: clock advanced by {} s to {clock}", ready_at - now);
        } else {
            let message = format!(
                "{role} contract {key} is locked until {unlock_ts} (devnet clock now {now}, {} s \
                 left); to finish now: cocoon devnet close --ledger {} --contract {key} \
                 --advance-time",
                ready_at - now,
                path.display()
            );
            if just_requested {
                println!("devnet: {message}");
                return Ok(());
            }
            bail!(message);
        }
    }
    let (amount, parts) = if role == "client" {
        let before = devnet.client_state(&sc)?;
        // The second `owner_client_request_refund` closes it (withdraw is Active-only).
        let wallet = devnet.wallet_balance(owner)?;
        let amount = devnet
            .client_request_refund(owner, &sc)
            .and_then(|_| devnet.wallet_balance(owner))
            .map(|now| now.saturating_sub(wallet));
        let parts = format!(
            "a forced refund of the balance {}, capped by the proxy's stake",
            before.balance
        );
        (amount, parts)
    } else {
        let before = devnet.proxy_state(&sc)?;
        let amount = devnet.proxy_complete_close(owner, &sc);
        let parts = format!(
            "everything it held: stake {}, commission {} and unrefunded client money",
            before.stake, before.commission
        );
        (amount, parts)
    };
    let amount =
        amount.with_context(|| format!("completing the close of {role} contract {key}"))?;
    println!(
        "devnet: {role} contract {key} closed; returned {amount} nanoTON ({parts}) to owner \
         wallet {}",
        owner.to_hex()
    );
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<DevnetLedger> {
    DevnetLedger::open_or_create(path, RootConfig::devnet_default())
        .with_context(|| format!("devnet ledger {}", path.display()))
}

/// nanoTON as a JSON number when it fits in u64 (always, in practice), else a string.
fn nano(amount: NanoTon) -> Value {
    u64::try_from(amount).map_or_else(|_| json!(amount.to_string()), |n| json!(n))
}

fn status_json(path: &Path, s: &DevnetSnapshot) -> Value {
    let mut accounts = Vec::new();
    for (address, balance) in &s.wallets {
        accounts
            .push(json!({"role": "wallet", "address": address, "balance_nanoton": nano(*balance)}));
    }
    for (address, p) in &s.proxies {
        let held = p.funds;
        accounts.push(
            json!({"role": "proxy", "address": address, "owner": p.owner,
            "status": format!("{:?}", p.status), "balance_nanoton": nano(held),
            "stake_nanoton": nano(p.stake), "commission_nanoton": nano(p.commission),
            "unlock_ts": p.unlock_ts, "params_version": p.params_version,
            "last_saved_seqno": p.saved_states.last().map(|st| st.seqno)}),
        );
    }
    for (address, c) in &s.clients {
        accounts.push(
            json!({"role": "client", "address": address, "owner": c.owner,
            "proxy_sc": c.proxy_sc, "status": format!("{:?}", c.status),
            "balance_nanoton": nano(c.balance), "stake_nanoton": nano(c.stake),
            "tokens_used": c.tokens_used, "unlock_ts": c.unlock_ts,
            "params_version": c.params_version}),
        );
    }
    for (address, w) in &s.workers {
        // A devnet worker contract holds no money: payouts go to the owner's wallet.
        accounts.push(
            json!({"role": "worker", "address": address, "owner": w.owner,
            "proxy_sc": w.proxy_sc, "status": format!("{:?}", w.status),
            "balance_nanoton": 0, "tokens_paid": w.tokens,
            "params_version": w.params_version}),
        );
    }
    json!({
        "network": "devnet",
        "ledger": path.display().to_string(),
        "clock": s.clock,
        "generation": s.generation,
        "config_version": s.config_version,
        "params_version": s.params_version,
        "minted_nanoton": nano(s.minted),
        "accounts": accounts,
    })
}

fn print_text(status: &Value) {
    println!(
        "devnet ledger {} (clock {}, root config v{}, minted {} nanoTON)",
        status["ledger"].as_str().unwrap_or(""),
        status["clock"],
        status["config_version"],
        status["minted_nanoton"]
    );
    let empty = Vec::new();
    let accounts = status["accounts"].as_array().unwrap_or(&empty);
    if accounts.is_empty() {
        println!("  (no accounts)");
    }
    for a in accounts {
        let tokens = a
            .get("tokens_used")
            .or_else(|| a.get("tokens_paid"))
            .map(|t| format!("  tokens {t}"))
            .unwrap_or_default();
        println!(
            "  {:<7} {}  balance {} nanoTON{tokens}",
            a["role"].as_str().unwrap_or("?"),
            a["address"].as_str().unwrap_or("?"),
            a["balance_nanoton"]
        );
    }
}
