//! Building the proxy's PoW + RA-TLS gate: our own certificate and the peer policies of
//! the two ports (by name, from [`crate::common::policy`]). The gate machinery itself
//! (certificate, renewal, router records, [`PortGate`]) is shared with the key manager and
//! lives in [`crate::common::gate`]; its names are re-exported here.

use cocoon_tee::AttestationPolicy;
use std::sync::Arc;
use tracing::info;

use super::listener::GateConfig;
use crate::common::dial::TeeMode;
pub use crate::common::gate::{
    admit_from_router, spawn_cert_renewal, GateError, PortGate, RouterAdmitError,
    CERT_RENEW_INTERVAL, ROUTER_RECORD_TIMEOUT,
};
use crate::common::gate::{attested_port, own_certificate};
use crate::common::policy::PolicyBuilder;
use cocoon_tee::tls::OwnCert;

/// What the gate is made of (the `cocoon proxy` flags `--tee`,
/// `--worker-policy`, `--client-policy`, `--pow-difficulty`).
#[derive(Debug, Clone)]
pub struct GateOptions {
    pub tee: TeeMode,
    /// Policy workers must satisfy, by name (see [`PolicyBuilder::build`]).
    pub worker_policy: String,
    /// Policy clients must satisfy (the reference's client port is `any`).
    pub client_policy: String,
    /// Leading zero bits of the PoW (reference router default 20).
    pub pow_difficulty: u32,
}

/// The gate behind a reference router: no certificate, no PoW; each port
/// re-checks the router's records with its policy.
pub fn build_router_gate(
    opts: &GateOptions,
    policies: &PolicyBuilder,
) -> Result<GateConfig, GateError> {
    let gate = GateConfig {
        workers: PortGate::BehindRouter(policies.build(&opts.worker_policy)?.relayed()),
        clients: PortGate::BehindRouter(policies.build(&opts.client_policy)?.relayed()),
    };
    info!(worker_policy = %opts.worker_policy, client_policy = %opts.client_policy,
        "behind a reference router: peers are taken from its peer-info records (the router verifies their quotes)");
    Ok(gate)
}

/// Builds the gate with the built-in policies (`tdx` with collateral from
/// Intel's PCS) and returns our certificate handle (for renewal).
pub fn build_gate(opts: &GateOptions) -> Result<(GateConfig, OwnCert), GateError> {
    build_gate_with(opts, &PolicyBuilder::builtin())
}

/// Builds the gate with policies from `policies` (a router policy file,
/// DCAP collateral settings) and returns our certificate handle.
pub fn build_gate_with(
    opts: &GateOptions,
    policies: &PolicyBuilder,
) -> Result<(GateConfig, OwnCert), GateError> {
    let own = own_certificate(opts.tee)?;
    let server =
        |policy: Arc<dyn AttestationPolicy>| attested_port(&own, policy, opts.pow_difficulty);
    let gate = GateConfig {
        workers: server(policies.build(&opts.worker_policy)?.policy),
        clients: server(policies.build(&opts.client_policy)?.policy),
    };
    info!(tee = ?opts.tee, worker_policy = %opts.worker_policy, client_policy = %opts.client_policy,
        pow_difficulty = opts.pow_difficulty, "attested gate ready{}",
        if opts.tee == TeeMode::Fake { " (FAKE TEE: simulated attestation, for local runs only)" } else { "" });
    Ok((gate, own))
}
