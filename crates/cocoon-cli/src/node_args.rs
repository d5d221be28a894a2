//! What the node commands (`client`, `proxy`, `worker`) share: the flags
//! every role takes ([`NodeArgs`], flattened into each command's arguments, with the
//! stats/admin port flags of [`crate::node_ports`])
//! and the common start-up: logging, the role config and the root config,
//! our TEE mode and the peer policies ([`NodeSetup`]).
//!
//! The root config and the ledger come from one of three places: `--disable-ton ROOT.json`
//! alone (fake TON, no money moves), `--disable-ton` with `--devnet-ledger FILE` (the local
//! simulation), or — without `--disable-ton` — TON itself: the role config's
//! `ton_config_filename` (liteservers) and `root_contract_address`, with the cocoon wallet
//! code from `--wallet-code` ([`crate::ton_backend`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_node::common::dial::{DialConfig, TeeMode};
use cocoon_node::common::policy::{
    CollateralLocation, PolicyBuilder, PolicyOptions, DEFAULT_COLLATERAL,
};
use cocoon_node::config::{ConfigError, LocalRootConfig};

use crate::ton_backend::{TonNodeConfig, TonOptions};

/// Flags of every node command. A role changes a default or a help line with
/// `#[command(mut_arg(...))]` on its own arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The role's config JSON (as the reference's runner config).
    #[arg(short = 'c', long)]
    pub config: PathBuf,
    /// Fake-TON mode: read the root config from this JSON (`rootConfig.pseudo`) instead of the chain.
    ///
    /// Without it the node runs on TON: the config's `ton_config_filename` (a TON global
    /// config) and `root_contract_address` must be set, and --wallet-code given.
    #[arg(short = 'C', long = "disable-ton", value_name = "ROOT.json")]
    pub disable_ton: Option<PathBuf>,
    /// TEE that attests our own certificate: none, fake (simulated, for local runs), tdx (inside a TD) or sev (inside an AMD SEV-SNP guest: report by configfs-tsm, VCEK from the host or AMD KDS).
    #[arg(long, default_value = "fake")]
    pub tee: String,
    /// DCAP collateral for `tdx` policies: a PCCS/PCS base URL or a collateral JSON file.
    ///
    /// A URL (`http://` or `https://`) names a PCCS or Intel's PCS (API v4); a file is
    /// collateral JSON in dcap-qvl's format for one platform type, read at start. Quotes are
    /// verified inside the TLS handshake: with a URL, the first quote of each platform type
    /// blocks that handshake's thread while the collateral is fetched (at most 30 s); it is
    /// then kept until it expires.
    #[arg(long, value_name = "URL|FILE", default_value = DEFAULT_COLLATERAL)]
    pub collateral: String,
    /// Router policy file: named policies with allowlists, picked by the policy flags.
    ///
    /// The file is the reference router's JSON config: each of its `policies` (name, type
    /// any / fake_tee / tee, `ratls_policy.tdx_config` allowlists of image hashes, MRTD,
    /// RTMRs, collateral root hashes) can be named by --proxy-policy, --worker-policy or
    /// --client-policy. The built-in names any, fake and tdx stay available unless the file
    /// redefines them; the built-in fake and tdx refuse peers without TEE evidence.
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,
    /// AMD SEV-SNP collateral for `tdx` (`tee`) policies: a PEM file, a directory of `*.pem`,
    /// or an AMD KDS base URL.
    ///
    /// The ASK/ARK chains and ARK CRLs as AMD's KDS serves them, in the reference's
    /// `/etc/tee/sev` layout (`Milan.cert_chain.pem`, `Milan.cert_chain_crl.pem`, …), read at
    /// start; or fetched from a KDS (`https://kdsintf.amd.com`, or a mirror with the same
    /// paths) at the first SEV-SNP peer of each product and kept until the chain or CRL
    /// expires (see --sev-pki-cache). With it, a `tdx` policy admits SEV-SNP peers whose report verifies against AMD's
    /// pinned roots (CRL required) and whose measurement / image hash is on the policy's
    /// `sev_config` allowlists; without it, SEV-SNP peers are refused as unsupported.
    #[arg(long, value_name = "DIR|FILE|URL")]
    pub sev_pki: Option<PathBuf>,
    /// With `--sev-pki URL`: keep fetched chains and CRLs in this directory (the `/etc/tee/sev`
    /// layout) until they expire, so a restart does not fetch them again.
    #[arg(long, value_name = "DIR", requires = "sev_pki")]
    pub sev_pki_cache: Option<PathBuf>,
    /// DEVNET: settle payments on this devnet ledger file (a local simulation of the COCOON
    /// contracts, shared by every node of a local network and by `cocoon devnet`; nothing
    /// touches TON). `cocoon up` creates one; without this flag no money moves.
    #[arg(long, value_name = "FILE")]
    pub devnet_ledger: Option<PathBuf>,
    /// TON: the cocoon wallet code, a BoC file (binary or hex text). The project embeds no
    /// compiled contract code; `cocoon wallet address` shows the address it gives.
    #[arg(long, value_name = "FILE")]
    pub wallet_code: Option<PathBuf>,
    /// TON: seconds to wait for the first sync with the chain at start (and, later, for a
    /// contract read or a message confirmation) before giving up.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub ton_sync_timeout: f64,
    /// TON: seconds between the ledger's refresh rounds (chain reads; the reference polls
    /// every 5–10 s).
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub ton_refresh_interval: f64,
    /// The stats and admin ports, and the limits of every HTTP server of the node.
    #[command(flatten)]
    pub ports: crate::node_ports::PortArgs,
}

/// Liveness of the links a client or a worker keeps to its proxies.
#[derive(clap::Args, Debug, Clone)]
pub struct ProxyLinkArgs {
    /// Seconds a proxy may stay silent before its link is dropped: we ping it every third of
    /// this (`tcp.ping`, which every proxy answers, the reference's included), so a hung
    /// proxy is noticed within it. Requests waiting on that proxy fail over or fail with an
    /// error, the link is dialled again (another registered proxy first, if there is a
    /// spare), and a client's new request waits this long for a proxy link, then fails
    /// with 503.
    #[arg(long, default_value_t = 6.0, value_name = "SECONDS")]
    pub proxy_silence_limit: f64,
}

impl ProxyLinkArgs {
    /// The silence limit, refused outside [0.3, 3600] seconds.
    pub fn silence_limit(&self) -> anyhow::Result<Duration> {
        let v = self.proxy_silence_limit;
        anyhow::ensure!(
            v.is_finite() && (0.3..=3600.0).contains(&v),
            "--proxy-silence-limit must be between 0.3 and 3600 seconds"
        );
        Ok(Duration::from_secs_f64(v))
    }

    /// The same flags, for a child node's command line.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--proxy-silence-limit".into(),
            self.proxy_silence_limit.to_string(),
        ]
    }
}

/// A node's configuration after the shared start-up steps.
pub struct NodeSetup<C> {
    /// The role config (`--config`).
    pub config: C,
    /// The root config (`--disable-ton`).
    pub root: LocalRootConfig,
    /// Our TEE (`--tee`).
    pub tee: TeeMode,
    /// Peer policies by name (`--policy-file`, `--collateral`).
    pub policies: PolicyBuilder,
    /// The ledger payments settle on (`--devnet-ledger`); `None`: no money moves.
    pub ledger: Option<Arc<dyn Ledger>>,
}

impl NodeArgs {
    /// Starts logging and reads everything the flags name: the role config
    /// with `read_config`, the root config, the TEE mode and the policies.
    pub fn prepare<C: TonNodeConfig>(
        &self,
        read_config: impl FnOnce(PathBuf) -> Result<C, ConfigError>,
    ) -> anyhow::Result<NodeSetup<C>> {
        crate::up::init_logging();
        crate::node_ports::raise_open_files_limit();
        crate::memory_trim::start();
        let config = read_config(self.config.clone())
            .with_context(|| format!("reading {}", self.config.display()))?;
        let tee = TeeMode::parse(&self.tee)?;
        let policies = self.policies()?;
        let (root, ledger) = match &self.disable_ton {
            Some(root_path) => {
                let root = LocalRootConfig::from_file(root_path)
                    .with_context(|| format!("reading {}", root_path.display()))?;
                (root, self.open_ledger()?)
            }
            None => {
                let backend = self.open_ton(&config)?;
                (backend.root, Some(backend.ledger))
            }
        };
        Ok(NodeSetup {
            config,
            root,
            tee,
            policies,
            ledger,
        })
    }

    /// Opens the TON backend named by the role config (no `--disable-ton`).
    fn open_ton<C: TonNodeConfig>(
        &self,
        config: &C,
    ) -> anyhow::Result<crate::ton_backend::TonBackend> {
        let fields = config.ton_fields();
        if self.devnet_ledger.is_some() {
            anyhow::bail!(
                "--devnet-ledger settles on a local simulation and needs --disable-ton ROOT.json; \
                 it cannot be combined with the TON backend"
            );
        }
        if fields.ton_config_filename.is_empty() || fields.root_contract_address.is_empty() {
            anyhow::bail!(
                "no root config: pass --disable-ton ROOT.json (fake TON), or set \
                 ton_config_filename and root_contract_address in {} to run on TON",
                self.config.display()
            );
        }
        let seconds = |v: f64, what: &str| {
            anyhow::ensure!(
                v.is_finite() && (0.05..=3600.0).contains(&v),
                "{what} must be between 0.05 and 3600 seconds"
            );
            Ok(Duration::from_secs_f64(v))
        };
        let options = TonOptions {
            wallet_code: self.wallet_code.clone(),
            sync_timeout: seconds(self.ton_sync_timeout, "--ton-sync-timeout")?,
            refresh_interval: seconds(self.ton_refresh_interval, "--ton-refresh-interval")?,
        };
        crate::ton_backend::open(&fields, &options)
    }

    /// Opens `--devnet-ledger` (which must exist: `cocoon up` or `cocoon devnet fund` create it).
    pub fn open_ledger(&self) -> anyhow::Result<Option<Arc<dyn Ledger>>> {
        let Some(path) = &self.devnet_ledger else {
            return Ok(None);
        };
        if !path.exists() {
            anyhow::bail!(
                "devnet ledger {} does not exist (create it with `cocoon devnet fund` or run `cocoon up`)",
                path.display()
            );
        }
        let ledger = DevnetLedger::open_or_create(path, RootConfig::devnet_default())
            .with_context(|| format!("opening devnet ledger {}", path.display()))?;
        tracing::info!(ledger = %path.display(), "DEVNET payments: settling on a local simulated ledger");
        Ok(Some(Arc::new(ledger)))
    }

    /// The policy builder for `--policy-file`, `--collateral` and `--sev-pki`.
    pub fn policies(&self) -> anyhow::Result<PolicyBuilder> {
        let options = PolicyOptions {
            collateral: CollateralLocation::parse(&self.collateral),
            policy_file: self.policy_file.clone(),
            sev_pki: self.sev_pki.clone(),
            sev_pki_cache: self.sev_pki_cache.clone(),
        };
        Ok(PolicyBuilder::new(&options)?)
    }
}

impl<C> NodeSetup<C> {
    /// How to dial proxies: our certificate and the proxy policy named
    /// `proxy_policy`, through the SOCKS5 router `via` if any.
    pub fn dial_config(
        &self,
        proxy_policy: &str,
        via: Option<String>,
    ) -> anyhow::Result<DialConfig> {
        let policy = self
            .policies
            .build(proxy_policy)
            .context("--proxy-policy")?;
        Ok(DialConfig::with_policy(self.tee, policy, via)?)
    }
}

#[cfg(test)]
#[path = "node_args_tests.rs"]
mod tests;
