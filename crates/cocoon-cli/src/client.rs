//! `cocoon client`: run a client — an OpenAI-compatible HTTP API on
//! `http_port` that sends requests to proxies. With `--devnet-ledger` it keeps
//! its client contracts funded and charged (runners.md §6.4).

use anyhow::Context;
use cocoon_node::client::{run_client, ClientSettings};
use cocoon_node::config::ClientConfig;

use crate::node_args::{NodeArgs, ProxyLinkArgs};

#[derive(clap::Args)]
#[command(
    mut_arg("config", |a| a.help("The client config (`clientRunner.config` JSON, as the reference's)")),
    mut_arg("tee", |a| a
        .help("TEE that attests our own certificate: none, fake (simulated), tdx (inside a TD) or sev (inside an AMD SEV-SNP guest)")
        .default_value("none")),
    after_help = "Example (local network, fake TEE):\n  \
cocoon client --config client.json --disable-ton root.json --proxy-policy fake\n  \
curl http://127.0.0.1:10000/v1/models"
)]
pub struct ClientArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Policy the proxy must satisfy: any, fake, tdx or a name from --policy-file.
    #[arg(long, default_value = "fake")]
    pub proxy_policy: String,
    /// Listen address of the OpenAI API (the port comes from the config's `http_port`). It
    /// serves `/v1/*` only; the stats and money controls are on --stats-listen and
    /// --admin-listen.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: String,
    /// With a ledger: submit our best voucher ourselves (force charge) once the proxy's count
    /// exceeds what was charged on chain by more than N tokens (default: half the stake in
    /// tokens, as the reference).
    #[arg(long, value_name = "N")]
    pub force_charge_margin: Option<u64>,
    #[command(flatten)]
    pub proxy_link: ProxyLinkArgs,
}

pub fn run(args: ClientArgs) -> anyhow::Result<()> {
    let mut setup = args.node.prepare(ClientConfig::from_file)?;
    if args.node.disable_ton.is_none() {
        // On TON a client is known to proxies by its cocoon wallet (runners.md §3.2).
        use crate::ton_backend::TonNodeConfig as _;
        setup.config.owner_address = crate::ton_backend::client_identity(
            &setup.config.ton_fields(),
            args.node.wallet_code.as_deref(),
        )?;
    }
    let mut settings = ClientSettings::from_configs(&setup.config, &setup.root)
        .map_err(anyhow::Error::msg)?
        .with_ledger(setup.ledger.clone());
    settings.money.force_charge_margin_tokens = args.force_charge_margin;
    let silence_limit = args.proxy_link.silence_limit()?;
    settings.proxy_wait = silence_limit;
    let via = setup.config.connect_to_proxy_via.map(|a| a.to_string());
    let dial = setup
        .dial_config(&args.proxy_policy, via)?
        .with_silence_limit(silence_limit);
    let addr = format!("{}:{}", args.listen, setup.config.http_port);
    let plan = args.node.ports.plan(
        setup.config.http_port,
        crate::node_ports::CLIENT_PORTS,
        &args.node.config,
        &setup.config.http_access_hash,
    )?;
    let token_source = plan.token_source.clone();
    crate::up::block_on_until_signal(async move {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding the HTTP API on {addr}"))?;
        let ports = plan.bind().await?;
        eprintln!(
            "client: OpenAI API on http://{}/v1, {}",
            listener.local_addr()?,
            crate::node_ports::describe(&ports, &token_source)
        );
        run_client(settings, dial, listener, ports).await?;
        Ok(())
    })
}
