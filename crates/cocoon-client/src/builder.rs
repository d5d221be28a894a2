//! [`CocoonBuilder`]: where the root config, the wallet and the attestation policy come from,
//! and the limits; `connect` starts the client core and waits for a ready proxy link.
//!
//! Safe defaults: the proxy must pass the `tdx` policy (Intel DCAP, collateral from Intel's
//! PCS) — a prompt never goes to an unattested proxy unless the app says so by name,
//! [`CocoonBuilder::insecure_skip_attestation_i_understand`]; the simulated TEE of a local
//! network is accepted only through [`CocoonBuilder::simulated_fake_tee`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::ledger::{DevnetLedger, Ledger};
use cocoon_ledger::root_config::RootConfig;
use cocoon_node::client::{ClientCore, ClientSettings};
use cocoon_node::common::dial::{DialConfig, TeeMode};
use cocoon_node::common::policy::PolicyBuilder;
use cocoon_node::config::{ClientConfig, LocalRootConfig, RegisteredPublicKey, SecretString};
use cocoon_tee::policy::PolicyKind;

use crate::encryption::Encryption;
use crate::error::{Error, Result};
use crate::Cocoon;

/// Default wait for the first ready proxy link.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default silence limit of a proxy link (pinged every third of it).
pub const DEFAULT_LINK_SILENCE: Duration = cocoon_node::common::dial::DEFAULT_PROXY_SILENCE_LIMIT;
/// Default longest wait for the next part of an answer.
pub const DEFAULT_ANSWER_SILENCE: Duration = Duration::from_secs(60);

/// How the proxy's attestation is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProxyCheck {
    /// A policy of kind `tdx` by name (built-in or from the app's [`PolicyBuilder`]).
    Attested(String),
    /// The simulated TEE of a local network (`fake`).
    SimulatedFake,
    /// No check at all (`any`).
    Skipped,
}

/// Builds a [`Cocoon`] client. Start with [`Cocoon::builder`].
pub struct CocoonBuilder {
    config: ClientConfig,
    config_file: Option<PathBuf>,
    wallet: Option<(String, String)>,
    root: Option<LocalRootConfig>,
    root_file: Option<PathBuf>,
    ledger: Option<Arc<dyn Ledger>>,
    devnet_ledger: Option<PathBuf>,
    check: ProxyCheck,
    policies: Option<PolicyBuilder>,
    encryption: Encryption,
    connect_timeout: Duration,
    link_silence: Duration,
    answer_silence: Duration,
}

impl Default for CocoonBuilder {
    fn default() -> Self {
        CocoonBuilder {
            config: ClientConfig {
                is_test: true,
                proxy_connections: 1,
                ..ClientConfig::default()
            },
            config_file: None,
            wallet: None,
            root: None,
            root_file: None,
            ledger: None,
            devnet_ledger: None,
            check: ProxyCheck::Attested("tdx".into()),
            policies: None,
            encryption: Encryption::Auto,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            link_silence: DEFAULT_LINK_SILENCE,
            answer_silence: DEFAULT_ANSWER_SILENCE,
        }
    }
}

impl CocoonBuilder {
    /// The client config (`clientRunner.config` JSON, as the reference's and `cocoon up`'s
    /// `client.json`): the wallet identity (`owner_address`, `secret_string`), `is_test`,
    /// `proxy_connections`, `connect_to_proxy_via`, `root_contract_address`.
    pub fn client_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// The client config, already read.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self.config_file = None;
        self
    }

    /// The app's cocoon wallet: its owner address (the identity proxies know it by; on TON
    /// the cocoon wallet's address) and the secret whose hash its client contracts hold.
    /// Overrides the client config's.
    pub fn wallet(mut self, owner_address: impl Into<String>, secret: impl Into<String>) -> Self {
        self.wallet = Some((owner_address.into(), secret.into()));
        self
    }

    /// The root config as a JSON file (`rootConfig.pseudo`: a devnet or fake-TON root, as
    /// `cocoon up` writes it).
    pub fn root_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_file = Some(path.into());
        self
    }

    /// The root config, already read (for TON: [`LocalRootConfig::from_chain_root`] of the
    /// root contract's state).
    pub fn root(mut self, root: LocalRootConfig) -> Self {
        self.root = Some(root);
        self.root_file = None;
        self
    }

    /// Pays on this devnet ledger file (a local simulation of the contracts; `cocoon up`
    /// creates one): our client contracts are deployed, staked and topped up from the wallet.
    pub fn devnet_ledger(mut self, path: impl Into<PathBuf>) -> Self {
        self.devnet_ledger = Some(path.into());
        self
    }

    /// Pays on this ledger (a TON ledger of the app's cocoon wallet, or any other).
    /// Without a ledger no money moves (fake-TON behaviour).
    pub fn ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self.devnet_ledger = None;
        self
    }

    /// The attestation policy the proxy must satisfy, by name: `tdx` (the default) or a
    /// `tdx`-kind policy of [`policies`](Self::policies). A policy of another kind is refused
    /// at `connect`; use the named methods below for those.
    pub fn policy(mut self, name: impl Into<String>) -> Self {
        self.check = ProxyCheck::Attested(name.into());
        self
    }

    /// Where policies come from: a router policy file, DCAP collateral, SEV-SNP roots
    /// (default: the built-ins, collateral from Intel's PCS).
    pub fn policies(mut self, policies: PolicyBuilder) -> Self {
        self.policies = Some(policies);
        self
    }

    /// SIMULATION: accept proxies attested by the simulated ("fake") TEE of a local network
    /// (`cocoon up`, tests). It proves nothing; never use it against a real network.
    pub fn simulated_fake_tee(mut self) -> Self {
        self.check = ProxyCheck::SimulatedFake;
        self
    }

    /// INSECURE: talk to any proxy, attested or not. Prompts may then reach a host that
    /// runs anything; only for debugging against a proxy you run yourself.
    pub fn insecure_skip_attestation_i_understand(mut self) -> Self {
        self.check = ProxyCheck::Skipped;
        self
    }

    /// End-to-end request encryption (default [`Encryption::Auto`]).
    pub fn encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = encryption;
        self
    }

    /// How long `connect` waits for a ready proxy link (default 30 s).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// How long a proxy link may stay silent before it is dropped and dialled again (default
    /// 6 s; pinged every third of it). Also how long a request waits for a link.
    pub fn link_silence_limit(mut self, limit: Duration) -> Self {
        self.link_silence = limit;
        self
    }

    /// How long a request waits for the next part of its answer before it fails with
    /// [`Error::Silent`] and is cancelled at the proxy (default 60 s).
    pub fn answer_silence_limit(mut self, limit: Duration) -> Self {
        self.answer_silence = limit;
        self
    }

    /// Reads what was named, starts the proxy links (PoW + RA-TLS under the policy, the
    /// client handshake, the money loop with a ledger) and waits for the first ready link.
    pub async fn connect(self) -> Result<Cocoon> {
        let mut config = match &self.config_file {
            Some(path) => ClientConfig::from_file(path)
                .map_err(|e| Error::Config(format!("client config {}: {e}", path.display())))?,
            None => self.config.clone(),
        };
        if let Some((owner, secret)) = &self.wallet {
            config.owner_address = owner.clone();
            config.secret_string = SecretString(secret.clone());
        }
        if config.owner_address.is_empty() {
            return Err(Error::Config(
                "no wallet: give .wallet(owner_address, secret) or a client config".into(),
            ));
        }
        let root = match (&self.root, &self.root_file) {
            (_, Some(path)) => LocalRootConfig::from_file(path)
                .map_err(|e| Error::Config(format!("root config {}: {e}", path.display())))?,
            (Some(root), None) => root.clone(),
            (None, None) => {
                return Err(Error::Config(
                    "no root config: give .root_file(path) or .root(config)".into(),
                ))
            }
        };
        let ledger = match (&self.ledger, &self.devnet_ledger) {
            (_, Some(path)) => Some(open_devnet(path)?),
            (ledger, None) => ledger.clone(),
        };
        let dial = self.dial_config(&config)?;
        let mut settings = ClientSettings::from_configs(&config, &root)
            .map_err(Error::Config)?
            .with_ledger(ledger.clone());
        settings.proxy_wait = self.link_silence;
        let core = ClientCore::start(settings, dial).map_err(|e| Error::Config(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        if !core.state.wait_until_ready(deadline).await {
            return Err(Error::Connect {
                waited: self.connect_timeout,
                reasons: core.state.slot_errors(),
            });
        }
        // The chain's root (the ledger's) lists the keys the key manager registered since the
        // root file was written; the file's list is only for networks without a ledger.
        let keys = match &ledger {
            Some(ledger) => ledger_keys(Arc::clone(ledger)).await?,
            None => root.registered_public_keys,
        };
        Ok(Cocoon::new(
            core,
            keys,
            self.encryption,
            self.answer_silence,
        ))
    }

    fn dial_config(&self, config: &ClientConfig) -> Result<DialConfig> {
        let policies = self.policies.clone().unwrap_or_else(PolicyBuilder::builtin);
        let name = match &self.check {
            ProxyCheck::Attested(name) => name.as_str(),
            ProxyCheck::SimulatedFake => "fake",
            ProxyCheck::Skipped => "any",
        };
        let policy = policies
            .build(name)
            .map_err(|e| Error::Config(format!("proxy policy: {e}")))?;
        if matches!(self.check, ProxyCheck::Attested(_)) && policy.kind != PolicyKind::Tdx {
            return Err(Error::Config(format!(
                "policy '{name}' does not require a real TEE ({:?}); say so by name: \
                 .simulated_fake_tee() for a local network, \
                 .insecure_skip_attestation_i_understand() to skip the check",
                policy.kind
            )));
        }
        let via = config.connect_to_proxy_via.map(|a| a.to_string());
        // The app runs outside a TEE: our own certificate carries no quote.
        let dial = DialConfig::with_policy(TeeMode::None, policy, via)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(dial.with_silence_limit(self.link_silence))
    }
}

fn open_devnet(path: &std::path::Path) -> Result<Arc<dyn Ledger>> {
    if !path.exists() {
        return Err(Error::Config(format!(
            "devnet ledger {} does not exist (run `cocoon up` or `cocoon devnet fund`)",
            path.display()
        )));
    }
    let ledger = DevnetLedger::open_or_create(path, RootConfig::devnet_default())
        .map_err(|e| Error::Config(format!("devnet ledger {}: {e}", path.display())))?;
    Ok(Arc::new(ledger))
}

/// The request-encryption keys the ledger's root config lists, in the root file's model.
async fn ledger_keys(ledger: Arc<dyn Ledger>) -> Result<Vec<RegisteredPublicKey>> {
    let root = tokio::task::spawn_blocking(move || ledger.root_config())
        .await
        .map_err(|e| Error::Config(format!("reading the root config: {e}")))?
        .map_err(|e| Error::Config(format!("reading the root config: {e}")))?;
    cocoon_node::config::registered_keys_from_chain(&root.registered_public_keys)
        .map_err(|e| Error::Config(format!("the root's registered keys: {e}")))
}
