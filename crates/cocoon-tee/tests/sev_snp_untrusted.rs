//! Untrusted SEV-SNP bytes never panic: random or truncated reports and
//! VCEKs, random collateral PEM, random or damaged host certificate tables,
//! and any change to the signed part of a genuine report give errors.

mod sev_support;

use proptest::prelude::*;

use cocoon_tee::sev::cert_table::{CertKind, CertTable};
use cocoon_tee::sev::report::SNP_SIGNED_LEN;
use cocoon_tee::sev::{SevCollateral, Vcek};
use sev_support::*;

fn verify_real(report: &[u8], vcek: &[u8]) -> bool {
    amd_verifier()
        .verify(
            report,
            vcek,
            &SevCollateral::empty(),
            &milan_report_data(),
            NOW,
        )
        .is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_cert_tables_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = CertTable::parse(&bytes);
    }

    #[test]
    fn damaged_cert_tables_are_refused_or_stay_in_bounds(
        at in 0usize..24, value in any::<u8>(), cut in 0usize..40,
    ) {
        let mut table = CertTable::encode(&[(CertKind::Ask, b"ask-der"), (CertKind::Vcek, MILAN_VCEK)]);
        table[at] = value;
        table.truncate(table.len().saturating_sub(cut));
        if let Ok(parsed) = CertTable::parse(&table) {
            for entry in parsed.entries {
                prop_assert!(entry.data.len() <= table.len());
            }
        }
    }

    #[test]
    fn random_reports_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..1300)) {
        prop_assert!(!verify_real(&bytes, MILAN_VCEK));
    }

    #[test]
    fn truncated_reports_are_refused(len in 0usize..1184) {
        prop_assert!(!verify_real(&MILAN_REPORT[..len], MILAN_VCEK));
    }

    #[test]
    fn any_change_to_the_signed_bytes_is_refused(at in 0usize..SNP_SIGNED_LEN, flip in 1u8..=255) {
        let mut report = MILAN_REPORT.to_vec();
        report[at] ^= flip;
        prop_assert!(!verify_real(&report, MILAN_VCEK));
    }

    #[test]
    fn random_or_truncated_vceks_are_refused(
        cut in 0usize..1360,
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut vcek = MILAN_VCEK[..cut.min(MILAN_VCEK.len())].to_vec();
        vcek.extend_from_slice(&noise);
        // Noise that exactly replaces the tail only changes signature bytes:
        // such a VCEK still parses, and must then fail verification below.
        prop_assert!(Vcek::parse(&vcek).is_err() || vcek.len() == MILAN_VCEK.len());
        prop_assert!(!verify_real(MILAN_REPORT, &vcek) || vcek == MILAN_VCEK);
    }

    #[test]
    fn random_collateral_pem_gives_errors(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut text = b"-----BEGIN X509 CRL-----\n".to_vec();
        text.extend_from_slice(&body);
        text.extend_from_slice(b"\n-----END X509 CRL-----\n");
        prop_assert!(SevCollateral::empty().add_pem(&text).is_err());
        let mut cert = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        cert.extend_from_slice(&body);
        cert.extend_from_slice(b"\n-----END CERTIFICATE-----\n");
        prop_assert!(SevCollateral::empty().add_pem(&cert).is_err());
    }
}
