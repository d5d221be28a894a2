//! `cocoon keymanager`: run the key manager (delta-2026-04 §3) — it generates the
//! request-encryption keys on the reference's schedule, registers their public keys on the
//! root contract (devnet or TON), keeps them in a crash-safe signed store at `db_path`, and
//! serves the private keys over PoW + RA-TLS to proxies and workers whose image hash the
//! root lists.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use cocoon_ledger::address::parse_address;
use cocoon_node::common::dial::TeeMode;
use cocoon_node::common::gate::{attested_port, own_certificate, spawn_cert_renewal};
use cocoon_node::config::KeyManagerConfig;
use cocoon_node::keymanager::{start, KeyManagerSettings, RootHashes};
use cocoon_node::proxy::deadline_fits_pow;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;

use crate::node_args::NodeArgs;
use crate::proxy::AdmissionArgs;

#[derive(clap::Args)]
#[command(
    mut_arg("config", |a| a.help("The key manager config (`keyStorageRunner.config` JSON, as the reference's \
key-manager-config.json)")),
    after_help = "Config fields used: is_test, is_testnet, check_hashes, rpc_port (the RPC port, on \
127.0.0.1 unless --rpc-listen), http_port (stats; the admin port is http_port + 10 unless \
--admin-listen), owner_address + node_wallet_key (the wallet registrations are sent from), \
root_contract_address + ton_config_filename (TON), machine_specific_private_key (signs the store \
and the registrations; the root's key_manager_public_key must be its public key), image_hash \
(shown), db_path (the key store directory), http_access_hash. add_default_key is read and ignored, \
as in the reference: the fixed test key is held whenever hashes are not checked in test mode (unless --no-test-key).\n\n\
Hashes are checked (callers' attested image hash must be on the root's proxy or worker list) \
when check_hashes is set, is_test is not, or -p is given.\n\n\
Admin (POST, with the admin token): /request/generatekey?type=N, /request/removekey?key=HEX.\n\n\
Example (local devnet, simulated TEE):\n  \
cocoon keymanager --config km.json --disable-ton root.json --devnet-ledger devnet.json --tee fake\n\
Example (TON, real TDX peers):\n  \
cocoon keymanager --config km.json --wallet-code wallet.boc --tee tdx --peer-policy tdx\n\
Example (behind a reference router on public port 13001):\n  \
router -R 13001:127.0.0.1:13101@tee --serialize-info -C /etc/tee/tee\n  \
cocoon keymanager --config km.json --wallet-code wallet.boc --behind-router --peer-policy tdx"
)]
pub struct KeyManagerArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Policy proxies and workers must satisfy to connect: any, fake, tdx or a name from
    /// --policy-file (default: the one matching --tee). The image-hash check against the
    /// root comes on top of it.
    #[arg(long)]
    pub peer_policy: Option<String>,
    /// Check callers' image hashes against the root even in test mode (the reference's -p).
    #[arg(short = 'p', long)]
    pub check_hashes: bool,
    /// Never hold the reference's fixed test key, even in test mode: its seed is public, so
    /// anyone can read what is encrypted to it. The key manager then generates a key of its
    /// own at start and registers it (`cocoon up` runs it so).
    #[arg(long)]
    pub no_test_key: bool,
    /// Address of the RPC port (default 127.0.0.1 and the config's rpc_port; port 0 picks a
    /// free one, printed at start).
    #[arg(long, value_name = "ADDR:PORT")]
    pub rpc_listen: Option<SocketAddr>,
    /// Proof-of-work difficulty (leading zero bits) asked from every connecting peer.
    #[arg(long, default_value_t = 20)]
    pub pow_difficulty: u32,
    /// The RPC port takes plain TCP from a local reference router that does PoW and RA-TLS
    /// and starts each connection with its peer-info record (--tee and --pow-difficulty are
    /// then unused).
    #[arg(long)]
    pub behind_router: bool,
    #[command(flatten)]
    pub admission: AdmissionArgs,
}

fn settings(
    args: &KeyManagerArgs,
    config: &KeyManagerConfig,
    setup: &crate::node_args::NodeSetup<KeyManagerConfig>,
) -> anyhow::Result<KeyManagerSettings> {
    anyhow::ensure!(
        !config.db_path.is_empty(),
        "db_path is empty in {}: the key manager needs a directory for its key store",
        args.node.config.display()
    );
    if config.machine_specific_private_key.is_zero() {
        anyhow::ensure!(
            config.is_test,
            "machine_specific_private_key is not set in {} (it signs the key store and the root \
             registrations)",
            args.node.config.display()
        );
        tracing::warn!("machine_specific_private_key is all zero (test mode only)");
    }
    let check_hashes = config.check_hashes || !config.is_test || args.check_hashes;
    let mut s = KeyManagerSettings::new(
        SigningKey::from_bytes(&config.machine_specific_private_key.0),
        config.db_path.clone().into(),
    );
    s.check_hashes = check_hashes;
    s.test_key = config.is_test && !check_hashes && !args.no_test_key;
    s.image_hash = config.image_hash.0;
    s.owner_address = config.owner_address.clone();
    s.local_root = RootHashes {
        proxy_hashes: setup.root.proxy_hashes.iter().map(|h| h.0).collect(),
        worker_hashes: setup.root.worker_hashes.iter().map(|h| h.0).collect(),
    };
    s.admission = args.admission.limits()?;
    s.tee_label = match setup.tee {
        TeeMode::Fake => "fake (SIMULATED attestation, for local runs only)".into(),
        other => format!("{other:?}").to_lowercase(),
    };
    if let Some(ledger) = &setup.ledger {
        let wallet = parse_address(&config.owner_address)
            .map_err(|e| anyhow::anyhow!("owner_address: {e}"))?
            .address;
        s.ledger = Some(ledger.clone());
        s.wallet = Some(wallet);
    } else {
        tracing::warn!("no ledger (fake TON without --devnet-ledger): keys are served but not registered on any root");
    }
    Ok(s)
}

pub fn run(args: KeyManagerArgs) -> anyhow::Result<()> {
    let setup = args.node.prepare(KeyManagerConfig::from_file)?;
    let config = setup.config.clone();
    let settings = settings(&args, &config, &setup)?;
    if !args.behind_router
        && !deadline_fits_pow(
            settings.admission.deadline,
            args.pow_difficulty,
            cocoon_node::proxy::SLOW_PEER_HASHES_PER_SECOND,
        )
    {
        tracing::warn!(
            pow_difficulty = args.pow_difficulty,
            "the handshake deadline may be too short for this PoW difficulty on a slow peer"
        );
    }
    let policy_name = args
        .peer_policy
        .clone()
        .unwrap_or_else(|| setup.tee.matching_policy().to_string());
    let policy = setup
        .policies
        .build(&policy_name)
        .context("--peer-policy")?;
    let (gate, own) = if args.behind_router {
        (
            cocoon_node::common::gate::PortGate::BehindRouter(policy.relayed()),
            None,
        )
    } else {
        let own = own_certificate(setup.tee)?;
        (
            attested_port(&own, policy.policy.clone(), args.pow_difficulty),
            Some(own),
        )
    };
    let rpc_addr = args
        .rpc_listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], config.rpc_port)));
    let plan = args.node.ports.plan(
        config.http_port,
        crate::node_ports::STATS_ON_HTTP_PORT,
        &args.node.config,
        &config.http_access_hash,
    )?;
    let token_source = plan.token_source.clone();
    let tee = setup.tee;
    crate::up::block_on_until_signal(async move {
        if !rpc_addr.ip().is_loopback() {
            tracing::warn!(%rpc_addr, "the key manager RPC port listens beyond loopback");
        }
        let rpc = TcpListener::bind(rpc_addr).await.with_context(|| {
            format!("binding the RPC port {rpc_addr} (choose another with --rpc-listen)")
        })?;
        let ports = plan.bind().await?;
        let described = crate::node_ports::describe(&ports, &token_source);
        let _renewal = own.map(|own| spawn_cert_renewal(own, tee));
        let handle = start(settings, gate, rpc, ports).await?;
        eprintln!(
            "keymanager: rpc {} (peer policy {policy_name}), {described}",
            handle.rpc_addr
        );
        let shared = Arc::clone(&handle.shared);
        tracing::info!(
            live_keys = shared.ring.live_keys().len(),
            "key manager running"
        );
        handle.wait().await;
        anyhow::bail!("the key manager stopped")
    })
}
