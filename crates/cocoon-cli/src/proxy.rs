//! `cocoon proxy`: run a proxy that accepts clients and workers on its two RPC
//! ports (each through the in-process PoW + RA-TLS gate), routes requests and
//! serves `/stats`, `/jsonstats`, `/metrics` on `http_port`.

use std::path::PathBuf;

use anyhow::Context;
use cocoon_node::common::dial::TeeMode;
use cocoon_node::config::{LocalRootConfig, ProxyConfig};
use cocoon_node::proxy::{
    build_gate, spawn_cert_renewal, start, GateOptions, ProxyListeners, ProxySettings,
};
use tokio::net::TcpListener;

#[derive(clap::Args)]
#[command(
    after_help = "The reference runs a separate `router` process in front of the proxy's ports; \
cocoon-rs does the proof of work and RA-TLS in-process, configured by the cocoon-rs extension flags \
--tee, --worker-policy, --client-policy, --pow-difficulty and --host.\n\n\
Example (local network, simulated TEE):\n  \
cocoon proxy --config proxy.json --disable-ton root.json --tee fake --worker-policy fake"
)]
pub struct ProxyArgs {
    /// The proxy config (`proxyRunner.config` JSON, as the reference's).
    #[arg(short = 'c', long)]
    pub config: PathBuf,
    /// Fake-TON mode: read the root config from this JSON (`rootConfig.pseudo`) instead of the chain.
    #[arg(short = 'C', long = "disable-ton", value_name = "ROOT.json")]
    pub disable_ton: Option<PathBuf>,
    /// TEE that attests our own certificate: none, fake (simulated, for local runs) or tdx (inside a TD).
    #[arg(long, default_value = "fake")]
    pub tee: String,
    /// Policy workers must satisfy: any, fake or tdx (default: the one matching --tee).
    #[arg(long)]
    pub worker_policy: Option<String>,
    /// Policy clients must satisfy: any, fake or tdx (the reference's client port accepts any).
    #[arg(long, default_value = "any")]
    pub client_policy: String,
    /// Proof-of-work difficulty (leading zero bits) asked from every connecting peer.
    #[arg(long, default_value_t = 20)]
    pub pow_difficulty: u32,
    /// Address the RPC and stats ports listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}

pub fn run(args: ProxyArgs) -> anyhow::Result<()> {
    crate::up::init_logging();
    let cfg = ProxyConfig::from_file(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let root_path = args
        .disable_ton
        .context("TON backend not implemented yet; use --disable-ton ROOT.json")?;
    let root = LocalRootConfig::from_file(&root_path)
        .with_context(|| format!("reading {}", root_path.display()))?;
    let settings = ProxySettings::from_configs(&cfg, &root);
    let tee = TeeMode::parse(&args.tee)?;
    let gate_opts = GateOptions {
        tee,
        worker_policy: args
            .worker_policy
            .unwrap_or_else(|| tee.matching_policy().to_string()),
        client_policy: args.client_policy,
        pow_difficulty: args.pow_difficulty,
    };
    let host = args.host;
    crate::up::block_on_until_signal(async move {
        let (gate, own_cert) = build_gate(&gate_opts)?;
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
        let listeners = ProxyListeners {
            workers: bind(cfg.workers_rpc_port, "workers").await?,
            clients: bind(cfg.client_rpc_port, "clients").await?,
            stats: bind(cfg.http_port, "stats").await?,
        };
        anyhow::ensure!(
            listeners.workers.is_some() || listeners.clients.is_some(),
            "both workers_rpc_port and client_rpc_port are 0: nothing to serve"
        );
        let renewal = spawn_cert_renewal(own_cert, tee);
        let handle = start(settings, gate, listeners)
            .await
            .context("starting the proxy")?;
        eprintln!(
            "proxy ready: workers on {}, clients on {}, stats on {} (TEE: {})",
            show(handle.workers_addr),
            show(handle.clients_addr),
            show(handle.stats_addr),
            format!("{:?}", gate_opts.tee).to_lowercase(),
        );
        handle.wait().await;
        renewal.abort();
        Ok(())
    })
}

fn show(addr: Option<std::net::SocketAddr>) -> String {
    addr.map_or_else(|| "off".to_string(), |a| a.to_string())
}
