//! Building the proxy's PoW + RA-TLS gate: our own certificate (made at start
//! with the chosen TEE — `fake` is simulated and named so — and renewed before
//! it expires) and the peer policies of the two ports.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cocoon_tee::link::ServerLinkConfig;
use cocoon_tee::policy::{AnyPolicy, FakePolicy, PolicyConfig, PolicyKind};
use cocoon_tee::tls::OwnCert;
use cocoon_tee::{AttestationPolicy, QuoteProvider};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::listener::GateConfig;
use crate::common::dial::TeeMode;

/// How often our certificate (valid 24 h) is renewed.
pub const CERT_RENEW_INTERVAL: Duration = Duration::from_secs(3600);

/// What the gate is made of (the `cocoon proxy` flags `--tee`,
/// `--worker-policy`, `--client-policy`, `--pow-difficulty`).
#[derive(Debug, Clone)]
pub struct GateOptions {
    pub tee: TeeMode,
    /// Policy workers must satisfy: `any`, `fake` or `tdx`.
    pub worker_policy: String,
    /// Policy clients must satisfy (the reference's client port is `any`).
    pub client_policy: String,
    /// Leading zero bits of the PoW (reference router default 20).
    pub pow_difficulty: u32,
}

/// Why the gate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("cannot make our {tee:?} certificate: {reason}")]
    Cert { tee: TeeMode, reason: String },
    #[error("{0}")]
    Policy(String),
}

fn quote_provider(tee: TeeMode) -> Option<Box<dyn QuoteProvider>> {
    match tee {
        TeeMode::None => None,
        TeeMode::Fake => Some(Box::new(cocoon_tee::fake::FakeQuoteProvider)),
        TeeMode::Tdx => Some(Box::new(
            cocoon_tee::configfs_tsm::ConfigfsTsmProvider::new(),
        )),
    }
}

fn make_cert(tee: TeeMode) -> Result<cocoon_tee::cert::CertAndKey, GateError> {
    let provider = quote_provider(tee);
    cocoon_tee::cert::generate(provider.as_deref(), SystemTime::now()).map_err(|e| {
        GateError::Cert {
            tee,
            reason: e.to_string(),
        }
    })
}

/// A peer policy by name.
pub fn policy_by_name(name: &str) -> Result<Arc<dyn AttestationPolicy>, GateError> {
    match PolicyKind::parse(name) {
        Some(PolicyKind::Any) => Ok(Arc::new(AnyPolicy {
            name: "any".into(),
            config: PolicyConfig::default(),
        })),
        Some(PolicyKind::Fake) => Ok(Arc::new(FakePolicy {
            name: "fake".into(),
            config: PolicyConfig {
                require_evidence: true,
                ..PolicyConfig::default()
            },
        })),
        Some(PolicyKind::Tdx) => Err(GateError::Policy(
            "policy 'tdx' needs DCAP collateral settings that `cocoon proxy` does not take yet"
                .into(),
        )),
        None => Err(GateError::Policy(format!(
            "unknown policy '{name}' (expected any, fake or tdx)"
        ))),
    }
}

/// Builds the gate and returns our certificate handle (for renewal).
pub fn build_gate(opts: &GateOptions) -> Result<(GateConfig, OwnCert), GateError> {
    let cert = make_cert(opts.tee)?;
    let own = OwnCert::new(&cert).map_err(|e| GateError::Cert {
        tee: opts.tee,
        reason: e.to_string(),
    })?;
    let server = |policy: Arc<dyn AttestationPolicy>| {
        let mut cfg = ServerLinkConfig::new(own.clone(), policy);
        cfg.pow_difficulty = opts.pow_difficulty;
        cfg
    };
    let gate = GateConfig {
        workers: server(policy_by_name(&opts.worker_policy)?),
        clients: server(policy_by_name(&opts.client_policy)?),
    };
    info!(tee = ?opts.tee, worker_policy = %opts.worker_policy, client_policy = %opts.client_policy,
        pow_difficulty = opts.pow_difficulty, "attested gate ready{}",
        if opts.tee == TeeMode::Fake { " (FAKE TEE: simulated attestation, for local runs only)" } else { "" });
    Ok((gate, own))
}

/// Renews our certificate every [`CERT_RENEW_INTERVAL`] (new handshakes use
/// the new one). Abort the handle to stop.
pub fn spawn_cert_renewal(own: OwnCert, tee: TeeMode) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CERT_RENEW_INTERVAL);
        tick.tick().await;
        loop {
            tick.tick().await;
            match make_cert(tee).and_then(|c| {
                own.replace(&c).map_err(|e| GateError::Cert {
                    tee,
                    reason: e.to_string(),
                })
            }) {
                Ok(()) => info!("certificate renewed"),
                Err(e) => warn!(error = %e, "certificate renewal failed; keeping the current one"),
            }
        }
    })
}
