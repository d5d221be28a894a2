//! `cocoon chat`: one chat completion from the terminal through the `cocoon-client`
//! library — attested proxy link, the request encrypted end to end when the root lists a
//! key manager key, the answer streamed to stdout as it arrives, the tokens billed on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cocoon_client::{ChatRequest, Cocoon, Encryption};
use cocoon_node::config::ClientConfig;
use futures::StreamExt;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
cocoon up --dir run &   # a local network (simulated TEE, devnet ledger)\n  \
cocoon chat --dir run --simulated-fake-tee \"Hello, who are you?\"\n  \
cocoon chat --config client.json --disable-ton root.json --devnet-ledger devnet.json \\\n      \
--simulated-fake-tee --model Qwen/Qwen3-8B --max-tokens 200 \"Tell me a joke\"\n  \
cocoon chat --config client.json --wallet-code wallet.boc \"Hello\"   # TON, tdx-attested proxies\n\n\
The request is encrypted end to end (delta-2026-04 §2) whenever the root config lists a live \
key manager key, with a fresh key of ours per request; --require-encryption refuses to send \
in clear. The answer text goes to stdout; the tokens billed and whether the request was \
encrypted go to stderr.")]
pub struct ChatArgs {
    /// The prompt (several words are joined with spaces).
    #[arg(required = true)]
    pub prompt: Vec<String>,
    /// A `cocoon up` run directory: its client.json, root.json and devnet.json (when there).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "disable_ton"])]
    pub dir: Option<PathBuf>,
    /// The client config (`clientRunner.config` JSON): wallet, is_test, proxy connections.
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// Fake-TON / devnet root config JSON (`rootConfig.pseudo`); without it the root is read
    /// from TON (the config's `ton_config_filename` and `root_contract_address`).
    #[arg(short = 'C', long = "disable-ton", value_name = "ROOT.json")]
    pub disable_ton: Option<PathBuf>,
    /// DEVNET: pay on this devnet ledger file (a local simulation; `cocoon up` creates one).
    #[arg(long, value_name = "FILE")]
    pub devnet_ledger: Option<PathBuf>,
    /// TON: the cocoon wallet code, a BoC file.
    #[arg(long, value_name = "FILE")]
    pub wallet_code: Option<PathBuf>,
    /// Model to ask.
    #[arg(long, default_value = "Qwen/Qwen3-8B")]
    pub model: String,
    /// A system message before the prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens to generate.
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Attestation policy the proxy must satisfy (a `tdx`-kind policy; see --policy-file).
    #[arg(long, default_value = "tdx")]
    pub proxy_policy: String,
    /// Router policy file with named policies (as `cocoon client --policy-file`).
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
    /// DCAP collateral for `tdx` policies: a PCCS/PCS base URL or a collateral JSON file.
    #[arg(long, value_name = "URL|FILE", default_value = cocoon_node::common::policy::DEFAULT_COLLATERAL)]
    pub collateral: String,
    /// SIMULATION: accept proxies of the simulated ("fake") TEE of a local network. Proves nothing.
    #[arg(long, conflicts_with = "insecure_skip_attestation")]
    pub simulated_fake_tee: bool,
    /// INSECURE: send the prompt to any proxy, attested or not.
    #[arg(long)]
    pub insecure_skip_attestation: bool,
    /// Refuse to send the request unless it can be encrypted end to end.
    #[arg(long, conflicts_with = "no_encryption")]
    pub require_encryption: bool,
    /// Send the request in clear even when the root lists a key manager key.
    #[arg(long)]
    pub no_encryption: bool,
    /// Seconds to wait for an attested proxy link.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub connect_timeout: f64,
}

pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    anyhow::ensure!(
        args.connect_timeout.is_finite() && (0.1..=3600.0).contains(&args.connect_timeout),
        "--connect-timeout must be between 0.1 and 3600 seconds"
    );
    let builder = builder(&args)?;
    let mut request = ChatRequest::new(&args.model);
    if let Some(system) = &args.system {
        request = request.system(system);
    }
    request = request.user(args.prompt.join(" "));
    request.max_tokens = args.max_tokens;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let cocoon = builder.connect().await?;
        let mut answer = cocoon.chat(request).await?;
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = answer.next().await {
            write!(out, "{}", chunk?.text())?;
            out.flush()?;
        }
        writeln!(out)?;
        let billed = answer.tokens_billed().map_or_else(
            || "not reported".to_owned(),
            |b| {
                format!(
                    "prompt {}, cached {}, completion {}, reasoning {}, total {}",
                    b.prompt, b.cached, b.completion, b.reasoning, b.total
                )
            },
        );
        let sealed = if answer.is_encrypted() { "yes" } else { "no" };
        eprintln!("tokens billed: {billed}; encrypted end to end: {sealed}");
        Ok(())
    })
}

/// The library's builder for the flags.
fn builder(args: &ChatArgs) -> anyhow::Result<cocoon_client::CocoonBuilder> {
    let (config_path, root_path, ledger_path) = match &args.dir {
        Some(dir) => {
            let ledger = dir.join("devnet.json");
            (
                dir.join("client.json"),
                Some(dir.join("root.json")),
                ledger.exists().then_some(ledger),
            )
        }
        None => (
            args.config
                .clone()
                .context("give --dir (a `cocoon up` run) or --config CLIENT.json")?,
            args.disable_ton.clone(),
            args.devnet_ledger.clone(),
        ),
    };
    let config = ClientConfig::from_file(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let mut builder = Cocoon::builder()
        .connect_timeout(Duration::from_secs_f64(args.connect_timeout))
        .policy(&args.proxy_policy)
        .policies(policies(args)?);
    match root_path {
        Some(root) => {
            builder = builder.client_config(config).root_file(root);
            if let Some(ledger) = ledger_path {
                builder = builder.devnet_ledger(ledger);
            }
        }
        None => builder = on_ton(builder, config, args)?,
    }
    if args.simulated_fake_tee {
        eprintln!("SIMULATION: proxies attested by the simulated (fake) TEE are accepted");
        builder = builder.simulated_fake_tee();
    }
    if args.insecure_skip_attestation {
        eprintln!("INSECURE: the proxy's attestation is not checked");
        builder = builder.insecure_skip_attestation_i_understand();
    }
    builder = builder.encryption(match (args.require_encryption, args.no_encryption) {
        (true, _) => Encryption::Required,
        (_, true) => Encryption::Off,
        _ => Encryption::Auto,
    });
    Ok(builder)
}

/// On TON: the root config from the root contract, payments through our cocoon wallet.
fn on_ton(
    builder: cocoon_client::CocoonBuilder,
    mut config: ClientConfig,
    args: &ChatArgs,
) -> anyhow::Result<cocoon_client::CocoonBuilder> {
    use crate::ton_backend::TonNodeConfig as _;
    anyhow::ensure!(
        args.devnet_ledger.is_none(),
        "--devnet-ledger settles on a local simulation and needs --disable-ton ROOT.json"
    );
    let fields = config.ton_fields();
    anyhow::ensure!(
        !fields.ton_config_filename.is_empty() && !fields.root_contract_address.is_empty(),
        "no root config: pass --disable-ton ROOT.json (or --dir), or set ton_config_filename \
         and root_contract_address in the client config to run on TON"
    );
    let options = crate::ton_backend::TonOptions {
        wallet_code: args.wallet_code.clone(),
        sync_timeout: Duration::from_secs(60),
        refresh_interval: Duration::from_secs(5),
    };
    let backend = crate::ton_backend::open(&fields, &options)?;
    config.owner_address =
        crate::ton_backend::client_identity(&fields, args.wallet_code.as_deref())?;
    Ok(builder
        .client_config(config)
        .root(backend.root)
        .ledger(backend.ledger))
}

fn policies(args: &ChatArgs) -> anyhow::Result<cocoon_node::common::policy::PolicyBuilder> {
    use cocoon_node::common::policy::{CollateralLocation, PolicyBuilder, PolicyOptions};
    Ok(PolicyBuilder::new(&PolicyOptions {
        collateral: CollateralLocation::parse(&args.collateral),
        policy_file: args.policy_file.clone(),
        sev_pki: None,
        sev_pki_cache: None,
    })?)
}
