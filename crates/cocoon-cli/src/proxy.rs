//! `cocoon proxy`: run a proxy that accepts clients and workers on its two RPC
//! ports (each through the in-process PoW + RA-TLS gate), routes requests,
//! serves `/stats`, `/jsonstats`, `/metrics` on its stats port (`http_port`) and its money
//! controls on its admin port (see `node_ports`).

use anyhow::Context;
use cocoon_node::common::dial::DialConfig;
use cocoon_node::common::km_client::{
    FixedKeyManager, KeyManagerSettings, KeyManagerSource, LedgerKeyManager,
};
use cocoon_node::config::ProxyConfig;
use cocoon_node::proxy::gate::{build_gate_with, build_router_gate};
use cocoon_node::proxy::{
    deadline_fits_pow, spawn_cert_renewal, start, AdmissionLimits, GateOptions, MoneySettings,
    ProxyListeners, ProxySettings, DEBUG_BUILD_HASHES_PER_SECOND, SLOW_PEER_HASHES_PER_SECOND,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

use crate::node_args::NodeArgs;

#[derive(clap::Args)]
#[command(
    mut_arg("config", |a| a.help("The proxy config (`proxyRunner.config` JSON, as the reference's)")),
    after_help = "The reference runs a separate `router` process in front of the proxy's ports; \
cocoon-rs does the proof of work and RA-TLS in-process (or, with --behind-router, takes peers from \
such a router's records), configured by the cocoon-rs extension flags --behind-router, \
--tee, --worker-policy, --client-policy, --policy-file, --collateral, --pow-difficulty and --host; \
--max-pending-connections, --max-pending-per-address and --handshake-deadline bound the peers that \
have not finished that handshake (docs/security.md).\n\n\
Example (local network, simulated TEE):\n  \
cocoon proxy --config proxy.json --disable-ton root.json --tee fake --worker-policy fake\n\
Example (TDX workers, allowlists from a router config, collateral from a PCCS):\n  \
cocoon proxy --config proxy.json --disable-ton root.json --tee tdx --policy-file router.json \\\n    \
--worker-policy prod --collateral https://pccs.example:8081\n\
Example (behind a reference router on public port 8117, TDX workers with one image hash):\n  \
router -R 8117:127.0.0.1:11101@tee:<image-hash> --serialize-info -C /etc/tdx/tdx\n  \
cocoon proxy --config proxy.json --disable-ton root.json --behind-router --worker-policy tdx"
)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Policy workers must satisfy: any, fake, tdx or a name from --policy-file (default: the one
    /// matching --tee).
    #[arg(long)]
    pub worker_policy: Option<String>,
    /// Policy clients must satisfy: any, fake, tdx or a name from --policy-file (the reference's
    /// client port accepts any).
    #[arg(long, default_value = "any")]
    pub client_policy: String,
    /// Proof-of-work difficulty (leading zero bits) asked from every connecting peer; a peer
    /// tries about 2^N SHA-256 hashes (20: a quarter second of one slow core). From 22 on, raise
    /// --handshake-deadline too.
    #[arg(long, default_value_t = 20)]
    pub pow_difficulty: u32,
    /// The RPC ports take plain TCP from a local reference router that does PoW and RA-TLS
    /// (`router -R <pub>:127.0.0.1:<port>@tee --serialize-info`) and starts each connection
    /// with its peer-info record; the peer identity is taken from that record and checked
    /// against --worker-policy / --client-policy as far as the record allows. --tee and
    /// --pow-difficulty are then unused (the router has its own certificate and PoW).
    #[arg(long)]
    pub behind_router: bool,
    /// Policy the key manager must satisfy: any, fake, tdx or a name from --policy-file
    /// (default: the one matching --tee). The proxy dials the key manager the root config
    /// names (`key_manager_address`) every 5–10 s for the request-encryption keys; with
    /// image-hash checks on, its image hash must also be the root's
    /// `key_manager_image_hash`. Through the config's `connect_to_proxy_via` router if set.
    #[arg(long)]
    pub key_manager_policy: Option<String>,
    /// Address the RPC ports (workers, clients) listen on; the stats and admin ports have
    /// --stats-listen and --admin-listen.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Seconds a worker link may stay silent (the proxy pings it every third of this) before
    /// it is closed and the worker taken out of selection; its unanswered requests fail over.
    #[arg(long, default_value_t = 6.0, value_name = "SECONDS")]
    pub worker_silence_limit: f64,
    /// Seconds a started streamed answer may go without a part from its worker before it
    /// ends with an error event.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub stream_stall_limit: f64,
    #[command(flatten)]
    pub admission: AdmissionArgs,
    #[command(flatten)]
    pub money: MoneyArgs,
}

/// Limits of each RPC port before a peer's session is established (PoW, RA-TLS or the
/// router's record, then `tcp.connect`); established sessions do not count against them.
/// Sheds are logged at most once per 10 s per port, with counts by reason.
#[derive(clap::Args, Debug, Clone)]
pub struct AdmissionArgs {
    /// Connections each RPC port holds before their session is established; more are
    /// closed at once, unread.
    #[arg(long, default_value_t = AdmissionLimits::MAX_PENDING, value_name = "N")]
    pub max_pending_connections: usize,
    /// The same cap for one source address (IPv6: one /64); not applied with
    /// --behind-router, where every connection comes from the router.
    #[arg(long, default_value_t = AdmissionLimits::MAX_PENDING_PER_ADDRESS, value_name = "N")]
    pub max_pending_per_address: usize,
    /// Seconds from accepting a connection to its established session; a connection still
    /// pending then is closed. Raise it along with a high --pow-difficulty.
    #[arg(long, default_value_t = AdmissionLimits::DEADLINE.as_secs_f64(), value_name = "SECONDS")]
    pub handshake_deadline: f64,
}

impl AdmissionArgs {
    /// The proxy's admission limits from these flags.
    pub fn limits(&self) -> anyhow::Result<AdmissionLimits> {
        for (v, what) in [
            (self.max_pending_connections, "--max-pending-connections"),
            (self.max_pending_per_address, "--max-pending-per-address"),
        ] {
            anyhow::ensure!(
                (1..=1_000_000).contains(&v),
                "{what} must be between 1 and 1000000"
            );
        }
        Ok(AdmissionLimits {
            max_pending: self.max_pending_connections,
            max_pending_per_address: self.max_pending_per_address,
            deadline: limit_seconds(self.handshake_deadline, 0.1, "--handshake-deadline")?,
        })
    }
}

/// `v` seconds as a duration, refused outside `[min, 3600]`.
fn limit_seconds(v: f64, min: f64, what: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && (min..=3600.0).contains(&v),
        "{what} must be between {min} and 3600 seconds"
    );
    Ok(Duration::from_secs_f64(v))
}

/// Cadence and thresholds of the proxy's money loop (only with --devnet-ledger). The
/// defaults are devnet ones, so money moves within seconds; the reference charges clients
/// from 1 TON, pays workers and withdraws the commission from 10 TON, and saves state every
/// 30–60 s.
#[derive(clap::Args, Debug, Clone)]
pub struct MoneyArgs {
    /// Seconds between `save_state(seqno, session_hash)` messages to the proxy contract;
    /// vouchers only cover what such a message confirmed.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub save_state_interval: f64,
    /// Seconds between flushes of changed counters to the books (`db_path`).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub books_flush_interval: f64,
    /// Charge a client contract once this many nanoTON are owed.
    #[arg(long, default_value_t = 1, value_name = "NANOTON")]
    pub client_charge_threshold: u64,
    /// Pay a worker once this many nanoTON are owed to it.
    #[arg(long, default_value_t = 1, value_name = "NANOTON")]
    pub worker_payout_threshold: u64,
    /// Withdraw the commission to the owner wallet once it reaches this many nanoTON.
    #[arg(long, default_value_t = 1, value_name = "NANOTON")]
    pub commission_payout_threshold: u64,
}

impl MoneyArgs {
    /// The proxy's money settings from these flags.
    pub fn settings(&self) -> anyhow::Result<MoneySettings> {
        let seconds = |v: f64, what: &str| {
            anyhow::ensure!(
                v.is_finite() && (0.05..=3600.0).contains(&v),
                "{what} must be between 0.05 and 3600 seconds"
            );
            Ok(Duration::from_secs_f64(v))
        };
        Ok(MoneySettings {
            flush_interval: seconds(self.books_flush_interval, "--books-flush-interval")?,
            save_state_interval: seconds(self.save_state_interval, "--save-state-interval")?,
            client_charge_threshold: self.client_charge_threshold.into(),
            worker_payout_threshold: self.worker_payout_threshold.into(),
            commission_payout_threshold: self.commission_payout_threshold.into(),
            ..MoneySettings::devnet()
        })
    }
}

pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let setup = args.node.prepare(ProxyConfig::from_file)?;
    let cfg = setup.config.clone();
    let mut settings =
        ProxySettings::from_configs(&cfg, &setup.root).map_err(anyhow::Error::msg)?;
    settings.money = args.money.settings()?;
    settings.worker_silence_limit =
        limit_seconds(args.worker_silence_limit, 0.3, "--worker-silence-limit")?;
    settings.stream_stall_limit =
        limit_seconds(args.stream_stall_limit, 0.1, "--stream-stall-limit")?;
    settings.admission = args.admission.limits()?;
    settings.ledger = setup.ledger.clone();
    let tee = setup.tee;
    settings.key_manager = Some(key_manager_settings(
        &args.key_manager_policy,
        &cfg,
        &setup,
        &settings,
    )?);
    let gate_opts = GateOptions {
        tee,
        worker_policy: args
            .worker_policy
            .unwrap_or_else(|| tee.matching_policy().to_string()),
        client_policy: args.client_policy,
        pow_difficulty: args.pow_difficulty,
    };
    // Peers of a debug proxy are most likely debug builds too, which hash ~50x slower.
    let (peer_rate, peer_build) = if cfg!(debug_assertions) {
        (DEBUG_BUILD_HASHES_PER_SECOND, "debug-build peer")
    } else {
        (SLOW_PEER_HASHES_PER_SECOND, "slow peer")
    };
    let deadline = settings.admission.deadline;
    if !args.behind_router && !deadline_fits_pow(deadline, args.pow_difficulty, peer_rate) {
        eprintln!(
            "warning: --handshake-deadline {} s leaves a {peer_build} little margin to solve \
             --pow-difficulty {}; raise the deadline or lower the difficulty (docs/security.md)",
            deadline.as_secs_f64(),
            args.pow_difficulty
        );
    }
    let (gate, own_cert) = if args.behind_router {
        (build_router_gate(&gate_opts, &setup.policies)?, None)
    } else {
        let (gate, own_cert) = build_gate_with(&gate_opts, &setup.policies)?;
        (gate, Some(own_cert))
    };
    let gate_label = if args.behind_router {
        "behind a reference router".to_string()
    } else {
        format!("TEE: {}", format!("{tee:?}").to_lowercase())
    };
    let host = args.host;
    let plan = args.node.ports.plan(
        cfg.http_port,
        crate::node_ports::STATS_ON_HTTP_PORT,
        &args.node.config,
        &cfg.http_access_hash,
    )?;
    let token_source = plan.token_source.clone();
    crate::up::block_on_until_signal(async move {
        let bind = |port: u16, what: &'static str| {
            let addr = format!("{host}:{port}");
            async move {
                if port == 0 {
                    return Ok(None);
                }
                TcpListener::bind(&addr)
                    .await
                    .map(Some)
                    .with_context(|| format!("binding the {what} port {addr}"))
            }
        };
        let ports = plan.bind().await?;
        let ports_line = crate::node_ports::describe(&ports, &token_source);
        let listeners = ProxyListeners {
            workers: bind(cfg.workers_rpc_port, "workers").await?,
            clients: bind(cfg.client_rpc_port, "clients").await?,
            stats: ports.stats,
            admin: ports.admin,
            http_limits: ports.limits,
        };
        anyhow::ensure!(
            listeners.workers.is_some() || listeners.clients.is_some(),
            "both workers_rpc_port and client_rpc_port are 0: nothing to serve"
        );
        let renewal = own_cert.map(|own| spawn_cert_renewal(own, tee));
        let handle = start(settings, gate, listeners)
            .await
            .context("starting the proxy")?;
        eprintln!(
            "proxy ready: workers on {}, clients on {}, {ports_line} ({gate_label})",
            show(handle.workers_addr),
            show(handle.clients_addr),
        );
        handle.wait().await;
        if let Some(renewal) = renewal {
            renewal.abort();
        }
        Ok(())
    })
}

/// The key-manager client of the proxy: the key manager the root names (the ledger's root
/// config, read at every poll, or the `--disable-ton` file), dialled with our certificate
/// and the key-manager policy.
fn key_manager_settings(
    policy: &Option<String>,
    cfg: &ProxyConfig,
    setup: &crate::node_args::NodeSetup<ProxyConfig>,
    settings: &ProxySettings,
) -> anyhow::Result<KeyManagerSettings> {
    let name = policy
        .clone()
        .unwrap_or_else(|| setup.tee.matching_policy().to_string());
    let policy = setup
        .policies
        .build(&name)
        .context("--key-manager-policy")?;
    let via = cfg.connect_to_proxy_via.map(|a| a.to_string());
    let dial = DialConfig::with_policy(setup.tee, policy, via)?;
    let source: Arc<dyn KeyManagerSource> = match &settings.ledger {
        Some(ledger) => Arc::new(LedgerKeyManager(Arc::clone(ledger))),
        None => Arc::new(FixedKeyManager::from_local_root(&setup.root)),
    };
    Ok(KeyManagerSettings::proxy(
        source,
        dial,
        settings.check_worker_hashes,
    ))
}

fn show(addr: Option<std::net::SocketAddr>) -> String {
    addr.map_or_else(|| "off".to_string(), |a| a.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ProxyArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        proxy: ProxyArgs,
    }

    #[test]
    fn behind_router_is_an_opt_in_switch() {
        let base = ["proxy", "--config", "p.json"];
        let off = Cli::try_parse_from(base).expect("parses");
        assert!(!off.proxy.behind_router);
        let on = Cli::try_parse_from(base.iter().chain(&["--behind-router"])).expect("parses");
        assert!(on.proxy.behind_router);
    }

    #[test]
    fn money_flags_default_to_devnet_and_are_validated() {
        let base = ["proxy", "--config", "p.json"];
        let cli = Cli::try_parse_from(base).expect("parses");
        let money = cli.proxy.money.settings().expect("defaults are valid");
        assert_eq!(money, cocoon_node::proxy::MoneySettings::devnet());
        let cli = Cli::try_parse_from(base.iter().chain(&[
            "--save-state-interval",
            "30",
            "--client-charge-threshold",
            "1000000000",
        ]))
        .expect("parses");
        let money = cli.proxy.money.settings().expect("valid");
        assert_eq!(money.save_state_interval.as_secs(), 30);
        assert_eq!(money.client_charge_threshold, 1_000_000_000);
        let cli = Cli::try_parse_from(base.iter().chain(&["--save-state-interval", "0"]))
            .expect("parses");
        assert!(cli.proxy.money.settings().is_err());
    }

    #[test]
    fn admission_flags_default_to_the_node_defaults_and_are_validated() {
        let base = ["proxy", "--config", "p.json"];
        let cli = Cli::try_parse_from(base).expect("parses");
        let limits = cli.proxy.admission.limits().expect("defaults are valid");
        assert_eq!(limits, cocoon_node::proxy::AdmissionLimits::default());
        let cli = Cli::try_parse_from(base.iter().chain(&[
            "--max-pending-connections",
            "100",
            "--max-pending-per-address",
            "4",
            "--handshake-deadline",
            "2.5",
        ]))
        .expect("parses");
        let limits = cli.proxy.admission.limits().expect("valid");
        assert_eq!(limits.max_pending, 100);
        assert_eq!(limits.max_pending_per_address, 4);
        assert_eq!(limits.deadline.as_millis(), 2500);
        for bad in [
            ["--max-pending-connections", "0"],
            ["--max-pending-per-address", "0"],
            ["--handshake-deadline", "0"],
        ] {
            let cli = Cli::try_parse_from(base.iter().chain(&bad)).expect("parses");
            assert!(cli.proxy.admission.limits().is_err(), "{bad:?} is refused");
        }
    }
}
