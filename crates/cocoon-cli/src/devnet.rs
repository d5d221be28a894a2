//! `cocoon devnet`: look at and drive a **devnet** ledger file (the local simulation of the
//! COCOON payment contracts in `cocoon_ledger::ledger::devnet`; nothing here touches TON).
//!
//! * `status [--json]` — every account: role, address, balance in nanoTON, token counters;
//! * `fund` — the devnet faucet: mint nanoTON into a wallet;
//! * `advance-time` — move the devnet clock forward (close delays, unlock times).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::devnet::{DevnetLedger, DevnetSnapshot};
use cocoon_ledger::root_config::RootConfig;
use serde_json::{json, Value};

/// `cocoon devnet …` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:\n  \
cocoon devnet fund --ledger devnet.json --wallet 0:1111…1111 --nanoton 5000000000\n  \
cocoon devnet advance-time --ledger devnet.json --seconds 3600\n  \
cocoon devnet status --ledger devnet.json --json")]
pub enum DevnetCommand {
    /// Print every devnet account (role, address, balance in nanoTON, token counters).
    Status {
        /// The devnet ledger file (must exist).
        #[arg(long, value_name = "FILE")]
        ledger: PathBuf,
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
}

/// Runs one `cocoon devnet` subcommand.
pub fn run(cmd: DevnetCommand) -> anyhow::Result<()> {
    match cmd {
        DevnetCommand::Status { ledger, json } => {
            if !ledger.exists() {
                bail!("no devnet ledger at {}", ledger.display());
            }
            let snapshot = open(&ledger)?.devnet_snapshot();
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
    }
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
        let held = p.stake + p.commission + p.worker_pool;
        accounts.push(
            json!({"role": "proxy", "address": address, "owner": p.owner,
            "status": format!("{:?}", p.status), "balance_nanoton": nano(held),
            "stake_nanoton": nano(p.stake), "commission_nanoton": nano(p.commission),
            "worker_pool_nanoton": nano(p.worker_pool),
            "last_saved_seqno": p.saved_states.last().map(|st| st.seqno)}),
        );
    }
    for (address, c) in &s.clients {
        accounts.push(
            json!({"role": "client", "address": address, "owner": c.owner,
            "proxy_sc": c.proxy_sc, "status": format!("{:?}", c.status),
            "balance_nanoton": nano(c.balance), "stake_nanoton": nano(c.stake),
            "tokens_used": c.tokens_used}),
        );
    }
    for (address, w) in &s.workers {
        // A devnet worker contract holds no money: payouts go to the owner's wallet.
        accounts.push(
            json!({"role": "worker", "address": address, "owner": w.owner,
            "proxy_sc": w.proxy_sc, "status": format!("{:?}", w.status),
            "balance_nanoton": 0, "tokens_paid": w.tokens}),
        );
    }
    json!({
        "network": "devnet",
        "ledger": path.display().to_string(),
        "clock": s.clock,
        "config_version": s.config_version,
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
