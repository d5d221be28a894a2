//! `cocoon client`: run a client — an OpenAI-compatible HTTP API on
//! `http_port` that sends requests to proxies.

use std::path::PathBuf;

use anyhow::Context;
use cocoon_node::client::{run_client, ClientSettings};
use cocoon_node::common::dial::{DialConfig, TeeMode};
use cocoon_node::config::{ClientConfig, LocalRootConfig};

#[derive(clap::Args)]
#[command(after_help = "Example (local network, fake TEE):\n  \
cocoon client --config client.json --disable-ton root.json --proxy-policy fake\n  \
curl http://127.0.0.1:10000/v1/models")]
pub struct ClientArgs {
    /// The client config (`clientRunner.config` JSON, as the reference's).
    #[arg(short = 'c', long)]
    pub config: PathBuf,
    /// Fake-TON mode: read the root config from this JSON (`rootConfig.pseudo`) instead of the chain.
    #[arg(short = 'C', long = "disable-ton", value_name = "ROOT.json")]
    pub disable_ton: Option<PathBuf>,
    /// TEE that attests our own certificate: none, fake (simulated) or tdx (inside a TD).
    #[arg(long, default_value = "none")]
    pub tee: String,
    /// Policy the proxy must satisfy: any, fake or tdx.
    #[arg(long, default_value = "fake")]
    pub proxy_policy: String,
    /// Listen address of the HTTP API (the port comes from the config's `http_port`).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: String,
}

pub fn run(args: ClientArgs) -> anyhow::Result<()> {
    crate::up::init_logging();
    let cfg = ClientConfig::from_file(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let root_path = args
        .disable_ton
        .context("TON backend not implemented yet; use --disable-ton ROOT.json")?;
    let root = LocalRootConfig::from_file(&root_path)
        .with_context(|| format!("reading {}", root_path.display()))?;
    let settings = ClientSettings::from_configs(&cfg, &root).map_err(anyhow::Error::msg)?;
    let tee = TeeMode::parse(&args.tee)?;
    let via = cfg.connect_to_proxy_via.map(|a| a.to_string());
    let addr = format!("{}:{}", args.listen, cfg.http_port);
    let policy = args.proxy_policy;
    crate::up::block_on_until_signal(async move {
        let dial = DialConfig::new(tee, &policy, via)?;
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding the HTTP API on {addr}"))?;
        tracing::info!(%addr, "OpenAI-compatible API listening");
        run_client(settings, dial, listener).await?;
        Ok(())
    })
}
