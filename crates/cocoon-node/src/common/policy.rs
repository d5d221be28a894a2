//! Peer attestation policies by name, for every role: the one place where a
//! policy name from the command line (`--proxy-policy`, `--worker-policy`,
//! `--client-policy`) becomes an [`AttestationPolicy`].
//!
//! Names are looked up first in an optional router policy file (the
//! reference router's JSON: named policies with allowlists, see
//! [`cocoon_tee::router_config`]), then among the built-ins `any`, `fake`
//! (aliases `fake_tee`, `fake_tdx`) and `tdx` (alias `tee`). The built-in
//! `fake` and `tdx` refuse peers that show no TEE evidence at all (the
//! reference would accept them as unattested when no image hash is
//! required); a policy from the file keeps the file's `require_attestation`.
//!
//! A `tdx` policy verifies quotes with Intel DCAP against collateral from a
//! PCCS/PCS base URL (default Intel's PCS) or a local collateral JSON file in
//! dcap-qvl's format; verified quotes are cached ([`QuoteCache`]). Policies
//! run synchronously inside the TLS handshake: with a PCCS/PCS, the first
//! quote of each platform type blocks that handshake's thread while the
//! collateral is fetched (on a helper thread, at most 30 s); the collateral is
//! then kept until it expires.
//!
//! With SEV-SNP collateral (`--sev-pki`: a PEM file or a directory in the
//! reference's `/etc/tee/sev` layout, read at start; or an AMD KDS URL,
//! fetched at the first SEV-SNP peer of each product, blocking that
//! handshake at most 30 s, and kept until the chain or CRL expires, on disk
//! with `--sev-pki-cache`), `tdx` policies also
//! verify SEV-SNP peers against AMD's pinned roots, with the ARK's CRL
//! required, and check the policy's SEV allowlists; verified reports are
//! cached ([`SevReportCache`]). Without it, SEV-SNP peers are refused as
//! unsupported.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cocoon_tee::cache::{CachedVerifier, QuoteCache};
use cocoon_tee::dcap::{CollateralSource, DcapVerifier, FixedCollateral, PccsCollateral};
use cocoon_tee::peer_info::RelayedPolicy;
use cocoon_tee::policy::{PolicyConfig, PolicyKind};
use cocoon_tee::router_config::{PolicySet, PolicySpec};
use cocoon_tee::sev::{
    FixedSevCollateral, KdsClient, KdsCollateral, SevCollateral, SevCollateralSource, SevPolicy,
    SevReportCache, SevVerification, SevVerifier,
};
use cocoon_tee::AttestationPolicy;

/// Where `tdx` policies get DCAP collateral when nothing is said: Intel's PCS.
pub const DEFAULT_COLLATERAL: &str = cocoon_tee::dcap::INTEL_PCS_URL;

/// Largest router policy file read.
const MAX_POLICY_FILE: u64 = 1024 * 1024;

/// Where DCAP collateral comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollateralLocation {
    /// A PCCS or Intel's PCS, by base URL (`http://…` or `https://…`);
    /// fetched per platform on first use.
    Service(String),
    /// A collateral JSON file in dcap-qvl's format (one platform type).
    File(PathBuf),
}

impl CollateralLocation {
    /// A URL when it starts with `http://` or `https://`, else a file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("http://") || text.starts_with("https://") {
            CollateralLocation::Service(text.to_owned())
        } else {
            CollateralLocation::File(PathBuf::from(text))
        }
    }
}

impl std::fmt::Display for CollateralLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CollateralLocation::Service(url) => f.write_str(url),
            CollateralLocation::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The policy settings a node takes (the shared CLI flags `--collateral` and
/// `--policy-file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOptions {
    /// DCAP collateral for `tdx` policies.
    pub collateral: CollateralLocation,
    /// A router JSON config whose `policies` define named policies.
    pub policy_file: Option<PathBuf>,
    /// SEV-SNP collateral (ASK/ARK chains, CRLs) for `tdx` policies: a PEM
    /// file or a directory of `*.pem`, or an AMD KDS base URL (`http://…`,
    /// `https://…`) to fetch them from; `None` refuses SEV-SNP peers.
    pub sev_pki: Option<PathBuf>,
    /// With a KDS URL: the directory fetched collateral is kept in until it
    /// expires (the `/etc/tee/sev` layout); `None` keeps it in memory only.
    pub sev_pki_cache: Option<PathBuf>,
}

impl Default for PolicyOptions {
    /// Built-in policies only, collateral from Intel's PCS.
    fn default() -> Self {
        PolicyOptions {
            collateral: CollateralLocation::Service(DEFAULT_COLLATERAL.to_owned()),
            policy_file: None,
            sev_pki: None,
            sev_pki_cache: None,
        }
    }
}

/// Why a policy could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown policy '{name}' (known: {known})")]
    Unknown { name: String, known: String },
    #[error("policy file {path}: {reason}")]
    PolicyFile { path: PathBuf, reason: String },
    #[error("DCAP collateral {location}: {reason}")]
    Collateral { location: String, reason: String },
    #[error("SEV-SNP collateral {path}: {reason}")]
    SevCollateral { path: PathBuf, reason: String },
    #[error("policy '{name}': {reason}")]
    Build { name: String, reason: String },
}

/// A built policy with what it is, for logs and checks.
#[derive(Clone)]
pub struct NamedPolicy {
    /// The name it was asked for by.
    pub name: String,
    pub kind: PolicyKind,
    pub policy: Arc<dyn AttestationPolicy>,
    /// Its allowlists and switches (re-checked on peers a router verified).
    pub config: PolicyConfig,
}

impl NamedPolicy {
    /// This policy as far as a router's peer-info record can be checked
    /// (`--behind-router`, `connect_to_proxy_via`).
    pub fn relayed(&self) -> RelayedPolicy {
        RelayedPolicy {
            name: self.name.clone(),
            kind: self.kind,
            config: self.config.clone(),
        }
    }
}

impl std::fmt::Debug for NamedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedPolicy")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Makes policies by name; all `tdx` policies it makes share one collateral
/// source and one verified-quote cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PolicyBuilder {
    set: PolicySet,
    collateral: Arc<dyn CollateralSource>,
    collateral_location: CollateralLocation,
    cache: Arc<QuoteCache>,
    /// SEV-SNP collateral and the verified-report cache, with `--sev-pki`.
    sev: Option<(Arc<dyn SevCollateralSource>, Arc<SevReportCache>)>,
}

impl PolicyBuilder {
    /// The built-in policies, `tdx` with collateral from Intel's PCS.
    pub fn builtin() -> Self {
        let collateral_location = PolicyOptions::default().collateral;
        PolicyBuilder {
            set: PolicySet::builtins(),
            collateral: Arc::new(PccsCollateral::new(DEFAULT_COLLATERAL)),
            collateral_location,
            cache: Arc::new(QuoteCache::default()),
            sev: None,
        }
    }

    /// Reads the policy file and a collateral file, if any (so that a bad
    /// file is reported at start, not at the first handshake).
    pub fn new(options: &PolicyOptions) -> Result<Self, PolicyError> {
        let set = match &options.policy_file {
            Some(path) => read_policy_file(path)?,
            None => PolicySet::builtins(),
        };
        let collateral: Arc<dyn CollateralSource> = match &options.collateral {
            CollateralLocation::Service(url) => Arc::new(PccsCollateral::new(url.clone())),
            CollateralLocation::File(path) => Arc::new(FixedCollateral::from_file(path).map_err(
                |e| PolicyError::Collateral {
                    location: path.display().to_string(),
                    reason: e.to_string(),
                },
            )?),
        };
        let sev = match &options.sev_pki {
            Some(path) => Some((
                sev_collateral_source(path, options.sev_pki_cache.as_deref())?,
                Arc::new(SevReportCache::default()),
            )),
            None => None,
        };
        Ok(PolicyBuilder {
            set,
            collateral,
            collateral_location: options.collateral.clone(),
            cache: Arc::new(QuoteCache::default()),
            sev,
        })
    }

    /// Where `tdx` policies get their collateral.
    pub fn collateral_location(&self) -> &CollateralLocation {
        &self.collateral_location
    }

    /// The policy called `name`: from the policy file, else a built-in.
    pub fn build(&self, name: &str) -> Result<NamedPolicy, PolicyError> {
        let from_file = self.set.defined().iter().any(|s| s.name == name);
        let mut spec = self.set.get(name).ok_or_else(|| PolicyError::Unknown {
            name: name.to_owned(),
            known: self.known_names(),
        })?;
        if !from_file && spec.kind != PolicyKind::Any {
            spec.config.require_evidence = true;
        }
        let verification = (spec.kind == PolicyKind::Tdx).then(|| self.verifier_for(&spec));
        let sev = (spec.kind == PolicyKind::Tdx)
            .then(|| self.sev_verification_for(&spec))
            .flatten();
        let policy = spec
            .build_with_sev(verification.as_ref(), sev.as_ref(), &[])
            .map_err(|e| PolicyError::Build {
                name: name.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(NamedPolicy {
            name: name.to_owned(),
            kind: spec.kind,
            policy,
            config: spec.config,
        })
    }

    /// DCAP verification for one `tdx` policy: Intel's root CA, the policy's
    /// root key allowlist (when it has one) and debug switch.
    fn verifier_for(&self, spec: &PolicySpec) -> CachedVerifier {
        let mut verifier = DcapVerifier::new().allow_debug(spec.config.allow_debug);
        if !spec.config.allowed_root_key_ids.is_empty() {
            verifier = verifier.with_allowed_root_key_ids(spec.config.allowed_root_key_ids.clone());
        }
        CachedVerifier::new(verifier, self.collateral.clone(), Some(self.cache.clone()))
    }

    /// SEV-SNP verification for one `tdx` policy (with `--sev-pki`): AMD's
    /// pinned roots, CRL required, the policy's debug switch (its SEV
    /// allowlists are checked by the policy itself).
    fn sev_verification_for(&self, spec: &PolicySpec) -> Option<SevVerification> {
        let (collateral, cache) = self.sev.as_ref()?;
        let verifier = SevVerifier::new().with_policy(SevPolicy {
            allow_debug: spec.config.allow_debug,
            ..SevPolicy::default()
        });
        Some(SevVerification::with_source(
            verifier,
            collateral.clone(),
            Some(cache.clone()),
        ))
    }

    fn known_names(&self) -> String {
        let mut names: Vec<&str> = self.set.defined().iter().map(|s| s.name.as_str()).collect();
        for builtin in ["any", "fake", "tdx"] {
            if !names.contains(&builtin) {
                names.push(builtin);
            }
        }
        names.join(", ")
    }
}

/// `--sev-pki`: a KDS base URL (fetched on first use, cached in `cache`),
/// else a PEM file or directory read now.
fn sev_collateral_source(
    pki: &Path,
    cache: Option<&Path>,
) -> Result<Arc<dyn SevCollateralSource>, PolicyError> {
    let text = pki.to_string_lossy();
    if text.starts_with("http://") || text.starts_with("https://") {
        let client = KdsClient::new(text.as_ref());
        return Ok(Arc::new(KdsCollateral::new(
            client,
            cache.map(Path::to_path_buf),
        )));
    }
    let collateral = SevCollateral::load(pki).map_err(|e| PolicyError::SevCollateral {
        path: pki.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(FixedSevCollateral(Arc::new(collateral))))
}

fn read_policy_file(path: &Path) -> Result<PolicySet, PolicyError> {
    let fail = |reason: String| PolicyError::PolicyFile {
        path: path.to_owned(),
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if len > MAX_POLICY_FILE {
        return Err(fail(format!("{len} bytes, more than {MAX_POLICY_FILE}")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    PolicySet::from_router_json(&text).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
