//! SEV-SNP appraisal beyond the reference: guest policy (debug, migration
//! agent), VMPL, the reported TCB against the VCEK's SPLs and a minimum, and
//! the measurement allowlist. Each case is the real Milan report with one
//! field changed and re-signed with the synthetic VCEK, so only the check
//! under test can refuse it.

mod sev_support;

use cocoon_tee::sev::report::{POLICY_DEBUG, POLICY_MIGRATE_MA};
use cocoon_tee::sev::{SevError, SevPolicy, TcbVersion};
use sev_support::*;

fn verify(report: &[u8], vcek: &[u8], policy: SevPolicy) -> Result<(), SevError> {
    synthetic_verifier(policy)
        .verify(
            report,
            vcek,
            &synthetic_collateral(SYN_CRL),
            &milan_report_data(),
            NOW,
        )
        .map(|_| ())
}

fn with_guest_policy(bits: u64) -> Vec<u8> {
    resigned(|r| {
        let policy = u64::from_le_bytes(r[8..16].try_into().expect("8 bytes")) | bits;
        r[8..16].copy_from_slice(&policy.to_le_bytes());
    })
}

#[test]
fn debug_guest_is_refused_unless_allowed() {
    let report = with_guest_policy(POLICY_DEBUG);
    assert_eq!(
        verify(&report, SYN_VCEK, SevPolicy::default()),
        Err(SevError::DebugPolicy {
            policy: 0x3_0000 | POLICY_DEBUG
        })
    );
    let allow = SevPolicy {
        allow_debug: true,
        ..SevPolicy::default()
    };
    verify(&report, SYN_VCEK, allow).expect("debug allowed");
}

#[test]
fn migration_agent_is_refused_unless_allowed() {
    let report = with_guest_policy(POLICY_MIGRATE_MA);
    assert!(matches!(
        verify(&report, SYN_VCEK, SevPolicy::default()),
        Err(SevError::MigrationAgentPolicy { .. })
    ));
    let allow = SevPolicy {
        allow_migration_agent: true,
        ..SevPolicy::default()
    };
    verify(&report, SYN_VCEK, allow).expect("migration agent allowed");
}

#[test]
fn report_from_vmpl_above_zero_is_refused() {
    let report = resigned(|r| r[0x30] = 1);
    assert_eq!(
        verify(&report, SYN_VCEK, SevPolicy::default()),
        Err(SevError::VmplNotZero { vmpl: 1 })
    );
}

#[test]
fn reported_tcb_below_the_vceks_is_refused() {
    // The VCEK was issued for SNP SPL 9; the report says 8.
    assert_eq!(
        verify(&resigned(|_| {}), SYN_VCEK_NEWER_SNP, SevPolicy::default()),
        Err(SevError::TcbMismatch {
            component: "SNP",
            report: 8,
            vcek: 9
        })
    );
    // The report claims a newer microcode than its VCEK's.
    let newer = resigned(|r| r[0x187] = 0x74);
    assert_eq!(
        verify(&newer, SYN_VCEK, SevPolicy::default()),
        Err(SevError::TcbMismatch {
            component: "microcode",
            report: 0x74,
            vcek: 0x73
        })
    );
}

#[test]
fn tcb_below_the_policy_minimum_is_refused() {
    let policy = SevPolicy {
        minimum_tcb: Some(TcbVersion {
            fmc: None,
            bootloader: 3,
            tee: 0,
            snp: 9,
            microcode: 0,
        }),
        ..SevPolicy::default()
    };
    assert_eq!(
        verify(&resigned(|_| {}), SYN_VCEK, policy),
        Err(SevError::TcbBelowMinimum {
            component: "SNP",
            report: 8,
            minimum: 9
        })
    );
}

#[test]
fn measurement_outside_the_allowlist_is_refused() {
    let mut allowed = [0u8; 48];
    allowed.copy_from_slice(&MILAN_REPORT[0x90..0xC0]);
    let accept = SevPolicy {
        allowed_measurements: vec![allowed],
        ..SevPolicy::default()
    };
    verify(&resigned(|_| {}), SYN_VCEK, accept).expect("allowed measurement");
    let refuse = SevPolicy {
        allowed_measurements: vec![[0xAB; 48]],
        ..SevPolicy::default()
    };
    assert!(matches!(
        verify(&resigned(|_| {}), SYN_VCEK, refuse),
        Err(SevError::MeasurementNotAllowed { .. })
    ));
}
