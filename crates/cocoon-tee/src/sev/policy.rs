//! What a careful verifier demands of a genuine report beyond the reference
//! (delta §6.5 "Not checked", §8 item 12): VMPL 0, no debug, no migration
//! agent, the reported TCB equal to the one the VCEK was issued for, an
//! optional minimum TCB, and an optional measurement allowlist.

use super::error::SevError;
use super::product::{Product, TcbVersion};
use super::report::{SnpReport, POLICY_DEBUG, POLICY_MIGRATE_MA};

/// Appraisal switches. The default refuses debug guests, guests with a
/// migration agent and reports from VMPL > 0, and requires a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SevPolicy {
    /// Accept guests whose policy allows debugging (development only).
    pub allow_debug: bool,
    /// Accept guests whose policy allows a migration agent.
    pub allow_migration_agent: bool,
    /// Accept reports requested from a VMPL other than 0.
    pub allow_nonzero_vmpl: bool,
    /// Refuse a chain whose product has no CRL in the collateral.
    pub require_crl: bool,
    /// Each reported TCB component must be at least this (`None` = any).
    pub minimum_tcb: Option<TcbVersion>,
    /// Allowed launch measurements (empty = any).
    pub allowed_measurements: Vec<[u8; 48]>,
}

impl Default for SevPolicy {
    fn default() -> Self {
        SevPolicy {
            allow_debug: false,
            allow_migration_agent: false,
            allow_nonzero_vmpl: false,
            require_crl: true,
            minimum_tcb: None,
            allowed_measurements: Vec::new(),
        }
    }
}

/// VMPL, debug and migration-agent bits of the guest policy.
pub fn check_guest(report: &SnpReport, policy: &SevPolicy) -> Result<(), SevError> {
    if report.vmpl != 0 && !policy.allow_nonzero_vmpl {
        return Err(SevError::VmplNotZero { vmpl: report.vmpl });
    }
    if report.policy & POLICY_DEBUG != 0 && !policy.allow_debug {
        return Err(SevError::DebugPolicy {
            policy: report.policy,
        });
    }
    if report.policy & POLICY_MIGRATE_MA != 0 && !policy.allow_migration_agent {
        return Err(SevError::MigrationAgentPolicy {
            policy: report.policy,
        });
    }
    Ok(())
}

/// The reported TCB must be the VCEK's (the VCEK is derived from it, so a
/// VCEK for another TCB is the wrong key); then at least `policy.minimum_tcb`.
pub fn check_tcb(
    report: &SnpReport,
    product: Product,
    vcek_tcb: &TcbVersion,
    policy: &SevPolicy,
) -> Result<TcbVersion, SevError> {
    let reported = report.reported_tcb_for(product);
    for ((component, got), (_, want)) in
        reported.components().into_iter().zip(vcek_tcb.components())
    {
        if got != want {
            return Err(SevError::TcbMismatch {
                component,
                report: got,
                vcek: want,
            });
        }
    }
    if let Some(minimum) = &policy.minimum_tcb {
        for ((component, got), (_, min)) in
            reported.components().into_iter().zip(minimum.components())
        {
            if got < min {
                return Err(SevError::TcbBelowMinimum {
                    component,
                    report: got,
                    minimum: min,
                });
            }
        }
    }
    Ok(reported)
}

/// The measurement must be on the allowlist (empty = any).
pub fn check_measurement(report: &SnpReport, policy: &SevPolicy) -> Result<(), SevError> {
    if policy.allowed_measurements.is_empty()
        || policy.allowed_measurements.contains(&report.measurement)
    {
        Ok(())
    } else {
        Err(SevError::MeasurementNotAllowed {
            measurement: hex::encode(report.measurement),
        })
    }
}
