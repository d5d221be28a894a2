//! SEV-SNP evidence as an RA-TLS certificate carries it: the report-data
//! extension and the report must both be SHA-512 of the certificate key.

mod sev_support;

use cocoon_tee::policy::expected_report_data;
use cocoon_tee::sev::{verify_sev_evidence, SevError, SevEvidence, SevPolicy};
use cocoon_tee::AttestError;
use sev_support::*;

const PEER_KEY: [u8; 32] = [0x42; 32];

fn report_bound_to(key: &[u8; 32]) -> Vec<u8> {
    let data = expected_report_data(key);
    resigned(|r| r[0x50..0x90].copy_from_slice(&data))
}

fn check(report: &[u8], report_data_extension: &[u8]) -> Result<(), SevError> {
    let evidence = SevEvidence {
        public_key: &PEER_KEY,
        report_data_extension,
        report,
        vcek: SYN_VCEK,
    };
    verify_sev_evidence(
        &synthetic_verifier(SevPolicy::default()),
        &synthetic_collateral(SYN_CRL),
        &evidence,
        NOW,
    )
    .map(|_| ())
}

#[test]
fn evidence_bound_to_the_certificate_key_verifies() {
    let report = report_bound_to(&PEER_KEY);
    let binding = expected_report_data(&PEER_KEY);
    let evidence = SevEvidence {
        public_key: &PEER_KEY,
        report_data_extension: &binding,
        report: &report,
        vcek: SYN_VCEK,
    };
    let verified = verify_sev_evidence(
        &synthetic_verifier(SevPolicy::default()),
        &synthetic_collateral(SYN_CRL),
        &evidence,
        NOW,
    )
    .expect("bound evidence");
    let peer = verified.peer_report();
    assert_eq!(peer.report_data, binding);
    assert_eq!(peer.measurement.as_slice(), &MILAN_REPORT[0x90..0xC0]);
}

#[test]
fn report_data_extension_for_another_key_is_refused() {
    let report = report_bound_to(&PEER_KEY);
    let other = expected_report_data(&[0x43; 32]);
    assert_eq!(
        check(&report, &other),
        Err(SevError::ReportDataExtensionMismatch)
    );
    assert_eq!(
        check(&report, &other[..63]),
        Err(SevError::ReportDataExtensionMismatch)
    );
}

#[test]
fn report_bound_to_another_key_is_refused() {
    let report = report_bound_to(&[0x43; 32]);
    let binding = expected_report_data(&PEER_KEY);
    let err = check(&report, &binding).unwrap_err();
    assert_eq!(err, SevError::ReportDataMismatch);
    let attest: AttestError = err.into();
    assert!(
        attest
            .to_string()
            .starts_with("SEV-SNP evidence rejected: "),
        "{attest}"
    );
}
