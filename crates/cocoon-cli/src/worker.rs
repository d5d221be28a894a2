//! `cocoon worker`: run a worker that dials its proxies and serves their
//! requests with an OpenAI-compatible engine (`forward_requests_to`), or with the embedded
//! engine in its own process (`--engine local:FILE.gguf`, no HTTP hop). With
//! `--devnet-ledger` it deploys its worker contracts and collects its pay
//! (runners.md §6.6).

use cocoon_node::config::WorkerConfig;
use cocoon_node::worker::{run_worker_with_engine, WorkerSettings};

use crate::node_args::{NodeArgs, ProxyLinkArgs};

#[derive(clap::Args)]
#[command(
    mut_arg("config", |a| a.help("The worker config (`workerRunner.config` JSON, as the reference's)")),
    after_help = "Example (local network, fake TEE):\n  \
cocoon worker --config worker.json --disable-ton root.json --tee fake --proxy-policy fake\n\n\
With the embedded engine in this process (real inference on the CPU, no engine server):\n  \
cocoon worker --config worker.json --disable-ton root.json --tee fake --proxy-policy fake \\\n    \
--engine local:SmolLM2-135M-Instruct.Q4_1.gguf"
)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Policy the proxy must satisfy: any, fake, tdx or a name from --policy-file
    /// (default: the one matching --tee).
    #[arg(long)]
    pub proxy_policy: Option<String>,
    /// With a ledger: seconds between payout checks (a random part is added; devnet default 1).
    #[arg(long, value_name = "SECONDS")]
    pub payout_interval: Option<u64>,
    /// With a ledger: pay out once (tokens owed × worker fee) reaches N nanoTON
    /// (devnet default 1000; the reference uses 10 TON).
    #[arg(long, value_name = "N")]
    pub payout_threshold: Option<u64>,
    /// With a ledger: pay out while idle once N nanoTON are owed
    /// (devnet default 1; the reference uses 0.2 TON).
    #[arg(long, value_name = "N")]
    pub payout_idle_threshold: Option<u64>,
    /// Lowest protocol version to accept from a proxy (1–4, default 1). At 4 the config's
    /// `machine_description_json` is sent to the proxy (shown in its stats) — December
    /// proxies (protocol ≤ 2) cannot parse it and are then refused, as in the reference.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=4))]
    pub min_protocol: Option<i32>,
    #[command(flatten)]
    pub proxy_link: ProxyLinkArgs,
    /// Serve requests with the embedded engine in this process instead of the config's
    /// `forward_requests_to`: `local:FILE.gguf`.
    #[arg(long, value_name = "local:FILE.gguf")]
    pub engine: Option<String>,
    /// Sizing of the embedded engine (with --engine).
    #[command(flatten)]
    pub engine_flags: crate::local_engine::EngineFlags,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let engine = match args.engine.as_deref() {
        None => None,
        Some(spec) => {
            let file = spec
                .strip_prefix("local:")
                .ok_or_else(|| anyhow::anyhow!("--engine {spec:?}: expected local:FILE.gguf"))?;
            Some(args.engine_flags.load(std::path::Path::new(file))?)
        }
    };
    let setup = args.node.prepare(WorkerConfig::from_file)?;
    let mut settings = WorkerSettings::from_configs(&setup.config, &setup.root)
        .map_err(anyhow::Error::msg)?
        .with_ledger(setup.ledger.clone());
    if let Some(seconds) = args.payout_interval {
        settings.payout.interval = std::time::Duration::from_secs(seconds.max(1));
    }
    if let Some(n) = args.payout_threshold {
        settings.payout.threshold_nanoton = n.into();
    }
    if let Some(n) = args.payout_idle_threshold {
        settings.payout.idle_threshold_nanoton = n.into();
    }
    if let Some(n) = args.min_protocol {
        settings.min_proto_version = n;
    }
    let policy = args
        .proxy_policy
        .unwrap_or_else(|| setup.tee.matching_policy().to_string());
    let via = setup.config.connect_to_proxy_via.map(|a| a.to_string());
    let dial = setup
        .dial_config(&policy, via)?
        .with_silence_limit(args.proxy_link.silence_limit()?);
    let plan = args.node.ports.plan(
        setup.config.http_port,
        crate::node_ports::STATS_ON_HTTP_PORT,
        &args.node.config,
        &setup.config.http_access_hash,
    )?;
    let token_source = plan.token_source.clone();
    crate::up::block_on_until_signal(async move {
        let ports = plan.bind().await?;
        eprintln!(
            "worker: {}",
            crate::node_ports::describe(&ports, &token_source)
        );
        let router = engine.map(|e| {
            let served = settings.model_name.split('@').next().unwrap_or_default();
            crate::local_engine::router(e, served.to_string())
        });
        run_worker_with_engine(settings, dial, ports, router).await?;
        Ok(())
    })
}
