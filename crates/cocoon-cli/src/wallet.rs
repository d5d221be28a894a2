//! `cocoon wallet`: the node's cocoon wallet on TON (mainnet/testnet), from a node config.
//!
//! * `address` — offline: derives the wallet address from the config's `node_wallet_key`
//!   and `owner_address` and the cocoon wallet code BoC given with `--wallet-code` (the
//!   project embeds no compiled contract code), and prints what the wallet must hold
//!   before the node can start, with the reference's amounts.
//! * `balance` — reads the wallet account through the liteservers of a TON global config
//!   (`--ton-config`, default the config's `ton_config_filename`) with the verifying client
//!   of `cocoon-liteclient` ([`cocoon_ton::lite_chain::LiteChain`]) and says whether it
//!   holds enough for the node to start.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::address::{parse_address, to_friendly};
use cocoon_ledger::boc;
use cocoon_node::config::{ClientConfig, ProxyConfig, WorkerConfig};
use cocoon_ton::chain::ChainAccess;
use cocoon_ton::messages::value;
use cocoon_ton::wallet::{parse_wallet_seqno, CocoonWallet, MIN_BALANCE, WARN_BALANCE};
use ed25519_dalek::SigningKey;
use serde_json::json;
use tonlib_core::TonAddress;

/// Largest wallet code BoC accepted.
pub(crate) const MAX_CODE_BOC_BYTES: usize = 64 * 1024;
/// Most cells in the wallet code BoC.
pub(crate) const MAX_CODE_CELLS: usize = 1024;

/// Which runner config `--config` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// `clientRunner.config`.
    Client,
    /// `proxyRunner.config`.
    Proxy,
    /// `workerRunner.config`.
    Worker,
}

/// What every `cocoon wallet` command reads.
#[derive(Debug, clap::Args)]
pub struct WalletArgs {
    /// The node config (reference JSON: `node_wallet_key`, `owner_address`, `is_testnet`).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The role the config is for.
    #[arg(long, value_enum)]
    role: Role,
    /// The cocoon wallet code: a BoC file (binary, or its hex text).
    #[arg(long, value_name = "FILE")]
    wallet_code: PathBuf,
    /// Machine-readable JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `cocoon wallet …` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Example:\n  \
cocoon wallet address --config proxy-config.json --role proxy --wallet-code cocoon-wallet.boc")]
pub enum WalletCommand {
    /// Print the wallet address and what it must hold before the node can start.
    Address(WalletArgs),
    /// Print the wallet balance (needs a liteserver connection).
    Balance {
        #[command(flatten)]
        args: WalletArgs,
        /// TON global config (liteservers); defaults to the config's `ton_config_filename`.
        #[arg(long, value_name = "FILE")]
        ton_config: Option<PathBuf>,
    },
}

/// The wallet fields of a node config.
struct NodeWallet {
    key: SigningKey,
    owner: String,
    is_testnet: bool,
    root_contract_address: String,
    ton_config_filename: String,
}

fn read_node_config(path: &Path, role: Role) -> anyhow::Result<NodeWallet> {
    let ctx = || format!("reading the {role:?} config {}", path.display());
    let (seed, owner, is_testnet, root, ton) = match role {
        Role::Client => {
            let c = ClientConfig::from_file(path).with_context(ctx)?;
            (
                c.node_wallet_key,
                c.owner_address,
                c.is_testnet,
                c.root_contract_address,
                c.ton_config_filename,
            )
        }
        Role::Proxy => {
            let c = ProxyConfig::from_file(path).with_context(ctx)?;
            (
                c.node_wallet_key,
                c.owner_address,
                c.is_testnet,
                c.root_contract_address,
                c.ton_config_filename,
            )
        }
        Role::Worker => {
            let c = WorkerConfig::from_file(path).with_context(ctx)?;
            (
                c.node_wallet_key,
                c.owner_address,
                c.is_testnet,
                c.root_contract_address,
                c.ton_config_filename,
            )
        }
    };
    if seed.is_zero() {
        bail!("{}: node_wallet_key is missing (all zero)", path.display());
    }
    if owner.is_empty() {
        bail!("{}: owner_address is missing", path.display());
    }
    Ok(NodeWallet {
        key: SigningKey::from_bytes(&seed.0),
        owner,
        is_testnet,
        root_contract_address: root,
        ton_config_filename: ton,
    })
}

/// Reads a BoC file, binary or hex text, and returns its bytes.
pub(crate) fn read_code_boc(path: &Path) -> anyhow::Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if raw.starts_with(&boc::BOC_MAGIC) {
        return Ok(raw);
    }
    let text = String::from_utf8(raw).context("wallet code is neither a BoC nor hex text")?;
    hex::decode(text.trim()).context("wallet code is neither a BoC nor hex text")
}

fn ton(amount: NanoTon) -> String {
    format!("{}.{:09} TON", amount / ONE_TON, amount % ONE_TON)
}

/// What the role needs besides the wallet minimum, as (what, amount or `None` when it
/// comes from the root config).
fn role_needs(role: Role) -> Vec<(&'static str, Option<NanoTon>)> {
    match role {
        Role::Proxy => vec![
            (
                "proxy contract deploy (message value)",
                Some(value::DEPLOY_PROXY_OR_WORKER),
            ),
            ("proxy stake: the root config's min_proxy_stake", None),
            ("each save_state commit", Some(value::PROXY_SAVE_STATE)),
            (
                "each client charge / worker payout sent",
                Some(value::STANDARD),
            ),
        ],
        Role::Client => vec![
            (
                "client contract deploy, per proxy (message value)",
                Some(value::DEPLOY_CLIENT),
            ),
            (
                "client stake: the root config's min_client_stake, per proxy",
                None,
            ),
            (
                "each top-up: 0.7 TON plus the coins topped up",
                Some(value::STANDARD),
            ),
        ],
        Role::Worker => vec![
            (
                "worker contract deploy, per proxy (message value)",
                Some(value::DEPLOY_PROXY_OR_WORKER),
            ),
            ("each payout submitted", Some(value::WORKER_SUBMITS_VOUCHER)),
        ],
    }
}

fn describe(args: &WalletArgs) -> anyhow::Result<(NodeWallet, TonAddress, serde_json::Value)> {
    let node = read_node_config(&args.config, args.role)?;
    let owner = parse_address(&node.owner)
        .with_context(|| format!("owner_address {:?}", node.owner))?
        .address;
    let code_boc = read_code_boc(&args.wallet_code)?;
    let code = boc::parse_single_root(&code_boc, MAX_CODE_BOC_BYTES, MAX_CODE_CELLS)
        .with_context(|| format!("{}: not a single-root BoC", args.wallet_code.display()))?;
    let wallet = CocoonWallet::new(code, node.key.verifying_key(), owner.clone())
        .context("building the wallet")?;
    let address = wallet.address();
    let needs: Vec<serde_json::Value> = role_needs(args.role)
        .into_iter()
        .map(|(what, amount)| json!({ "what": what, "nanoton": amount }))
        .collect();
    let out = json!({
        "role": format!("{:?}", args.role).to_lowercase(),
        "network": if node.is_testnet { "testnet" } else { "mainnet" },
        "wallet_address": to_friendly(address, false, node.is_testnet),
        "wallet_address_bounceable": to_friendly(address, true, node.is_testnet),
        "wallet_address_raw": address.to_hex(),
        "owner_address": owner.to_hex(),
        "root_contract_address": node.root_contract_address,
        "min_balance_nanoton": MIN_BALANCE,
        "warn_below_nanoton": WARN_BALANCE,
        "role_needs": needs,
    });
    Ok((node, address.clone(), out))
}

fn print_text(args: &WalletArgs, out: &serde_json::Value) {
    let s = |k: &str| out[k].as_str().unwrap_or_default().to_string();
    println!("cocoon wallet ({} config, {})", s("role"), s("network"));
    println!(
        "  address (fund this; non-bounceable): {}",
        s("wallet_address")
    );
    println!(
        "  address (bounceable):                {}",
        s("wallet_address_bounceable")
    );
    println!(
        "  address (raw):                       {}",
        s("wallet_address_raw")
    );
    println!(
        "  owner:                               {}",
        s("owner_address")
    );
    println!();
    println!(
        "Before the node starts the wallet must hold at least {} (nothing is sent below",
        ton(MIN_BALANCE)
    );
    println!(
        "that); keep more than {} (the node warns below it). On top of that:",
        ton(WARN_BALANCE)
    );
    for (what, amount) in role_needs(args.role) {
        match amount {
            Some(a) => println!("  - {what}: {}", ton(a)),
            None => println!("  - {what} (read from the root contract)"),
        }
    }
    println!("Unused message value comes back to the wallet as excesses, minus fees.");
}

/// Runs a `cocoon wallet` command.
pub fn run(cmd: WalletCommand) -> anyhow::Result<()> {
    match cmd {
        WalletCommand::Address(args) => {
            let (_, _, out) = describe(&args)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_text(&args, &out);
            }
            Ok(())
        }
        WalletCommand::Balance { args, ton_config } => {
            let (node, address, mut out) = describe(&args)?;
            let ton_config = ton_config
                .or_else(|| {
                    (!node.ton_config_filename.is_empty())
                        .then(|| node.ton_config_filename.clone().into())
                })
                .context("no TON global config: pass --ton-config or set ton_config_filename")?;
            if !ton_config.exists() {
                bail!("TON global config {} does not exist", ton_config.display());
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let account = rt.block_on(async {
                let chain = crate::ton_backend::lite_chain(&ton_config)?;
                chain
                    .account(&address)
                    .await
                    .with_context(|| format!("reading the wallet through {}", ton_config.display()))
            })?;
            let balance = account.as_ref().map_or(0, |a| a.balance);
            let seqno = match account.as_ref().and_then(|a| a.data.as_ref()) {
                Some(data) => Some(parse_wallet_seqno(data).context("the wallet's data")?),
                None => None,
            };
            out["balance_nanoton"] = json!(balance);
            out["deployed"] = json!(seqno.is_some());
            out["seqno"] = json!(seqno);
            out["enough_to_start"] = json!(balance >= MIN_BALANCE);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_text(&args, &out);
                println!();
                println!("Balance: {}", ton(balance));
                match seqno {
                    Some(seqno) => println!("Deployed, seqno {seqno}."),
                    None if account.is_some() => {
                        println!("Not deployed yet (the node deploys it with its first message).")
                    }
                    None => println!("Not on chain yet: send TON to the address above."),
                }
                if balance < MIN_BALANCE {
                    println!(
                        "Below the minimum of {}: the node sends nothing until it is funded.",
                        ton(MIN_BALANCE)
                    );
                }
            }
            Ok(())
        }
    }
}
