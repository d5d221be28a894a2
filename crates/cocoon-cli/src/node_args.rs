//! What the node commands (`client`, `proxy`, `worker`) share: the flags
//! every role takes ([`NodeArgs`], flattened into each command's arguments)
//! and the common start-up: logging, the role config and the root config,
//! our TEE mode and the peer policies ([`NodeSetup`]).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_node::common::dial::{DialConfig, TeeMode};
use cocoon_node::common::policy::{
    CollateralLocation, PolicyBuilder, PolicyOptions, DEFAULT_COLLATERAL,
};
use cocoon_node::config::{ConfigError, LocalRootConfig};

/// Flags of every node command. A role changes a default or a help line with
/// `#[command(mut_arg(...))]` on its own arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// The role's config JSON (as the reference's runner config).
    #[arg(short = 'c', long)]
    pub config: PathBuf,
    /// Fake-TON mode: read the root config from this JSON (`rootConfig.pseudo`) instead of the chain.
    #[arg(short = 'C', long = "disable-ton", value_name = "ROOT.json")]
    pub disable_ton: Option<PathBuf>,
    /// TEE that attests our own certificate: none, fake (simulated, for local runs) or tdx (inside a TD).
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
    /// DEVNET: settle payments on this devnet ledger file (a local simulation of the COCOON
    /// contracts, shared by every node of a local network and by `cocoon devnet`; nothing
    /// touches TON). `cocoon up` creates one; without this flag no money moves.
    #[arg(long, value_name = "FILE")]
    pub devnet_ledger: Option<PathBuf>,
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
    pub fn prepare<C>(
        &self,
        read_config: impl FnOnce(PathBuf) -> Result<C, ConfigError>,
    ) -> anyhow::Result<NodeSetup<C>> {
        crate::up::init_logging();
        let config = read_config(self.config.clone())
            .with_context(|| format!("reading {}", self.config.display()))?;
        let root_path = self
            .disable_ton
            .as_ref()
            .context("TON backend not implemented yet; use --disable-ton ROOT.json")?;
        let root = LocalRootConfig::from_file(root_path)
            .with_context(|| format!("reading {}", root_path.display()))?;
        let tee = TeeMode::parse(&self.tee)?;
        let policies = self.policies()?;
        let ledger = self.open_ledger()?;
        Ok(NodeSetup {
            config,
            root,
            tee,
            policies,
            ledger,
        })
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

    /// The policy builder for `--policy-file` and `--collateral`.
    pub fn policies(&self) -> anyhow::Result<PolicyBuilder> {
        let options = PolicyOptions {
            collateral: CollateralLocation::parse(&self.collateral),
            policy_file: self.policy_file.clone(),
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
