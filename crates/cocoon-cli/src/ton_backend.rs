//! Opening the TON backend for a node command: the global config's liteservers
//! (`cocoon-liteclient`), [`LiteChain`], the [`TonLedger`] of the node's cocoon wallet, its
//! first sync, and the node's root config read from the root contract.
//!
//! The backend runs on its own tokio runtime (two threads, named `ton-backend`, alive for
//! the whole process): node commands build their runtime only after `prepare`, and the
//! ledger's refresh task and liteserver connections must outlive that step. Node code
//! calls the (synchronous) ledger from any thread; see [`NodeTonLedger`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cocoon_ledger::address::{parse_address, to_friendly};
use cocoon_ledger::ledger::Ledger;
use cocoon_liteclient::{ClientOptions, GlobalConfig, LiteClient};
use cocoon_node::config::{
    ClientConfig, KeyManagerConfig, LocalRootConfig, ProxyConfig, WorkerConfig,
};
use cocoon_ton::chain::ChainAccess;
use cocoon_ton::lite_chain::LiteChain;
use cocoon_ton::ton_ledger::{TonLedger, TonLedgerConfig};
use cocoon_ton::wallet::{CocoonWallet, MIN_BALANCE};
use ed25519_dalek::SigningKey;
use tokio::runtime::Runtime;
use tonlib_core::cell::ArcCell;
use tonlib_core::TonAddress;

use crate::ton_node_ledger::{NodeTonLedger, Waits};

/// The TON fields of a role config (`ton_config_filename`, `root_contract_address`,
/// `node_wallet_key`, `owner_address`, `is_test`, `is_testnet`).
#[derive(Clone)]
pub struct TonFields {
    pub ton_config_filename: String,
    pub root_contract_address: String,
    pub node_wallet_key: [u8; 32],
    pub owner_address: String,
    pub is_test: bool,
    pub is_testnet: bool,
    /// The proxy's `machine_specific_private_key` (signs the proxy contract close steps).
    pub proxy_key: Option<[u8; 32]>,
}

/// A role config that can run on TON.
pub trait TonNodeConfig {
    fn ton_fields(&self) -> TonFields;
}

/// Every node config carries its TON fields under the same names; only the proxy adds the
/// key it signs with as the proxy.
macro_rules! ton_node_config {
    ($config:ty, |$c:ident| $proxy_key:expr) => {
        impl TonNodeConfig for $config {
            fn ton_fields(&self) -> TonFields {
                let $c = self;
                TonFields {
                    ton_config_filename: $c.ton_config_filename.clone(),
                    root_contract_address: $c.root_contract_address.clone(),
                    node_wallet_key: $c.node_wallet_key.0,
                    owner_address: $c.owner_address.clone(),
                    is_test: $c.is_test,
                    is_testnet: $c.is_testnet,
                    proxy_key: $proxy_key,
                }
            }
        }
    };
}

ton_node_config!(ProxyConfig, |c| Some(c.machine_specific_private_key.0));
ton_node_config!(ClientConfig, |_c| None);
ton_node_config!(KeyManagerConfig, |_c| None);
ton_node_config!(WorkerConfig, |_c| None);

/// How to open the backend (node command flags).
#[derive(Clone, Debug)]
pub struct TonOptions {
    /// `--wallet-code`.
    pub wallet_code: Option<PathBuf>,
    /// `--ton-sync-timeout`.
    pub sync_timeout: Duration,
    /// `--ton-refresh-interval`.
    pub refresh_interval: Duration,
}

/// An opened backend.
pub struct TonBackend {
    /// The ledger the node loops use.
    pub ledger: Arc<dyn Ledger>,
    /// The root config read from the root contract.
    pub root: LocalRootConfig,
}

/// The process-wide runtime of the TON backend.
pub fn ton_runtime() -> anyhow::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ton-backend")
        .enable_all()
        .build()
        .context("cannot start the TON backend runtime")?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Reads a cocoon wallet code BoC file (binary, or hex text).
pub fn load_wallet_code(path: &Path) -> anyhow::Result<ArcCell> {
    let bytes = crate::wallet::read_code_boc(path)?;
    cocoon_ledger::boc::parse_single_root(
        &bytes,
        crate::wallet::MAX_CODE_BOC_BYTES,
        crate::wallet::MAX_CODE_CELLS,
    )
    .with_context(|| format!("{}: not a single-root BoC", path.display()))
}

/// A liteserver client over the global config at `path`.
pub fn lite_chain(path: &Path) -> anyhow::Result<LiteChain> {
    let config = GlobalConfig::from_file(path)
        .with_context(|| format!("reading the TON global config {}", path.display()))?;
    let client = LiteClient::new(config, ClientOptions::default())
        .with_context(|| format!("TON global config {}", path.display()))?;
    Ok(LiteChain::new(Arc::new(client)))
}

/// The address a node's cocoon wallet has: from the `--wallet-code` BoC, the config's
/// `node_wallet_key` and its `owner_address`.
pub fn cocoon_wallet_address(
    fields: &TonFields,
    wallet_code: Option<&Path>,
) -> anyhow::Result<TonAddress> {
    let code_path = wallet_code.context(
        "the TON backend needs the cocoon wallet code: pass --wallet-code FILE (a BoC; the \
         project embeds no compiled contract code)",
    )?;
    let owner = parse_address(&fields.owner_address)
        .with_context(|| format!("owner_address {:?}", fields.owner_address))?
        .address;
    let wallet = CocoonWallet::new(
        load_wallet_code(code_path)?,
        SigningKey::from_bytes(&fields.node_wallet_key).verifying_key(),
        owner,
    )
    .context("deriving the cocoon wallet address")?;
    Ok(wallet.address().clone())
}

/// What a client announces to proxies as `client_owner_address` on TON: its cocoon
/// wallet's address (user-friendly, non-bounceable, the config's network), not the
/// configured `owner_address`, which owns that wallet (runners.md §3.2). The client
/// contracts are owned by the wallet (§6.9), so a proxy derives them from this identity.
pub fn client_identity(fields: &TonFields, wallet_code: Option<&Path>) -> anyhow::Result<String> {
    let wallet = cocoon_wallet_address(fields, wallet_code)?;
    Ok(to_friendly(&wallet, false, fields.is_testnet))
}

fn boc_of(cell: Option<&ArcCell>) -> anyhow::Result<Vec<u8>> {
    match cell {
        None => Ok(Vec::new()),
        Some(cell) => Ok(cocoon_ledger::boc::serialize((**cell).clone())?),
    }
}

/// Opens the backend, waits (at most `options.sync_timeout`) for its first sync and reads
/// the root config from the chain.
pub fn open(fields: &TonFields, options: &TonOptions) -> anyhow::Result<TonBackend> {
    let code_path = options.wallet_code.as_ref().context(
        "the TON backend needs the cocoon wallet code: pass --wallet-code FILE (a BoC; the \
         project embeds no compiled contract code)",
    )?;
    let wallet_code = load_wallet_code(code_path)?;
    if fields.node_wallet_key == [0; 32] {
        bail!("node_wallet_key is missing (all zero) in the config");
    }
    let owner = parse_address(&fields.owner_address)
        .with_context(|| format!("owner_address {:?}", fields.owner_address))?
        .address;
    let root = parse_address(&fields.root_contract_address)
        .with_context(|| format!("root_contract_address {:?}", fields.root_contract_address))?
        .address;
    let ton_config = PathBuf::from(&fields.ton_config_filename);
    if !ton_config.exists() {
        bail!(
            "ton_config_filename {} does not exist (a TON global config: liteservers and the \
             zero state)",
            ton_config.display()
        );
    }
    let rt = ton_runtime()?;
    let chain: Arc<dyn ChainAccess> = {
        let _enter = rt.enter();
        Arc::new(lite_chain(&ton_config)?)
    };
    let mut config = TonLedgerConfig::new(
        root.clone(),
        fields.is_test,
        wallet_code,
        SigningKey::from_bytes(&fields.node_wallet_key),
        owner.clone(),
    );
    config.proxy_signing_key = fields.proxy_key.map(|k| SigningKey::from_bytes(&k));
    config.refresh_interval = options.refresh_interval;
    let ledger = Arc::new(TonLedger::new(chain, config).context("building the TON ledger")?);
    tracing::info!(
        wallet = %ledger.wallet_address().to_hex(),
        root = %root.to_hex(),
        liteservers = %ton_config.display(),
        network = if fields.is_testnet { "testnet" } else { "mainnet" },
        "TON backend: syncing with the chain"
    );
    first_sync(rt, &ledger, options.sync_timeout)?;
    {
        let _enter = rt.enter();
        ledger.start_refresh();
    }
    let state = ledger
        .root_state()
        .context("the root contract state vanished after the first sync")?;
    let codes = [
        boc_of(state.codes.proxy.as_ref())?,
        boc_of(state.codes.worker.as_ref())?,
        boc_of(state.codes.client.as_ref())?,
    ];
    let local_root = LocalRootConfig::from_chain_root(&state.config, &state.owner.to_hex(), codes)
        .context("the root contract's config")?;
    if let Some(wallet) = ledger.wallet_view() {
        if wallet.balance < MIN_BALANCE {
            tracing::warn!(
                wallet = %ledger.wallet_address().to_hex(),
                balance = wallet.balance,
                minimum = MIN_BALANCE,
                "the cocoon wallet holds less than the minimum; nothing is sent until it is funded (see `cocoon wallet address`)"
            );
        }
        tracing::info!(
            root_version = state.config.version,
            wallet_seqno = wallet.seqno,
            wallet_balance = wallet.balance,
            "TON backend synced"
        );
    }
    let poll = options.refresh_interval.min(Duration::from_secs(1));
    let waits = Waits {
        sync_timeout: options.sync_timeout,
        confirm_timeout: options.sync_timeout,
        poll,
    };
    let node_ledger = NodeTonLedger::new(ledger, rt.handle().clone(), owner, waits);
    Ok(TonBackend {
        ledger: Arc::new(node_ledger),
        root: local_root,
    })
}

/// Runs refresh rounds until the root config and the wallet were read, logging progress.
fn first_sync(rt: &Runtime, ledger: &Arc<TonLedger>, timeout: Duration) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let ledger = Arc::clone(ledger);
    rt.spawn(async move {
        let started = Instant::now();
        let mut last_log = Instant::now();
        loop {
            let problem = match ledger.refresh_now().await {
                Ok(_) => match ledger.root_config() {
                    Ok(_) if ledger.wallet_view().is_some() => {
                        let _ = tx.send(Ok(()));
                        return;
                    }
                    Ok(_) => "the wallet was not read yet".to_string(),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if started.elapsed() >= timeout {
                let _ = tx.send(Err(problem));
                return;
            }
            if last_log.elapsed() >= Duration::from_secs(5) {
                tracing::info!(waited = ?started.elapsed(), %problem, "TON backend: still waiting for the first sync");
                last_log = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    match rx.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(problem)) => bail!("no TON sync within {timeout:?}: {problem}"),
        Err(_) => bail!("the TON backend stopped before its first sync"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_known_by_its_cocoon_wallet() {
        let dir = std::env::temp_dir().join(format!("cocoon-ton-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut b = tonlib_core::cell::CellBuilder::new();
        b.store_slice(b"test wallet code (not executable)")
            .expect("bits");
        let code = b.build().expect("cell");
        let code_path = dir.join("wallet-code.boc");
        std::fs::write(
            &code_path,
            cocoon_ledger::boc::serialize(code.clone()).expect("boc"),
        )
        .expect("write");
        let owner = format!("0:{}", "33".repeat(32));
        let fields = TonFields {
            ton_config_filename: String::new(),
            root_contract_address: String::new(),
            node_wallet_key: [7; 32],
            owner_address: owner.clone(),
            is_test: true,
            is_testnet: true,
            proxy_key: None,
        };
        let identity = client_identity(&fields, Some(&code_path)).expect("identity");
        let wallet = CocoonWallet::new(
            Arc::new(code),
            SigningKey::from_bytes(&[7; 32]).verifying_key(),
            parse_address(&owner).expect("owner").address,
        )
        .expect("wallet");
        let parsed = parse_address(&identity).expect("friendly");
        assert_eq!(&parsed.address, wallet.address());
        assert_ne!(parsed.address.to_hex(), owner);
        assert_eq!(identity, to_friendly(wallet.address(), false, true));
        assert!(client_identity(&fields, None)
            .expect_err("no code")
            .to_string()
            .contains("--wallet-code"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
