//! `cocoon worker`: run a worker that dials its proxies and serves their
//! requests with an OpenAI-compatible engine (`forward_requests_to`).

use std::path::PathBuf;

use anyhow::Context;
use cocoon_node::common::dial::{DialConfig, TeeMode};
use cocoon_node::config::{LocalRootConfig, WorkerConfig};
use cocoon_node::worker::{run_worker, WorkerSettings};

#[derive(clap::Args)]
#[command(after_help = "Example (local network, fake TEE):\n  \
cocoon worker --config worker.json --disable-ton root.json --tee fake --proxy-policy fake")]
pub struct WorkerArgs {
    /// The worker config (`workerRunner.config` JSON, as the reference's).
    #[arg(short = 'c', long)]
    pub config: PathBuf,
    /// Fake-TON mode: read the root config from this JSON (`rootConfig.pseudo`) instead of the chain.
    #[arg(short = 'C', long = "disable-ton", value_name = "ROOT.json")]
    pub disable_ton: Option<PathBuf>,
    /// TEE that attests our own certificate: none, fake (simulated, for local runs) or tdx (inside a TD).
    #[arg(long, default_value = "fake")]
    pub tee: String,
    /// Policy the proxy must satisfy: any, fake or tdx (default: the one matching --tee).
    #[arg(long)]
    pub proxy_policy: Option<String>,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    crate::up::init_logging();
    let cfg = WorkerConfig::from_file(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let root_path = args
        .disable_ton
        .context("TON backend not implemented yet; use --disable-ton ROOT.json")?;
    let root = LocalRootConfig::from_file(&root_path)
        .with_context(|| format!("reading {}", root_path.display()))?;
    let settings = WorkerSettings::from_configs(&cfg, &root).map_err(anyhow::Error::msg)?;
    let tee = TeeMode::parse(&args.tee)?;
    let policy = args
        .proxy_policy
        .unwrap_or_else(|| tee.matching_policy().to_string());
    let via = cfg.connect_to_proxy_via.map(|a| a.to_string());
    let http_port = cfg.http_port;
    crate::up::block_on_until_signal(async move {
        let dial = DialConfig::new(tee, &policy, via)?;
        let listener = if http_port > 0 {
            let addr = format!("0.0.0.0:{http_port}");
            Some(
                tokio::net::TcpListener::bind(&addr)
                    .await
                    .with_context(|| format!("binding the stats port {addr}"))?,
            )
        } else {
            None
        };
        run_worker(settings, dial, listener).await?;
        Ok(())
    })
}
