//! SEV-SNP verification: a genuine Milan report verifies against AMD's pinned
//! roots, and every forged, mismatched or outdated variant of it (built by
//! mutating its bytes, re-signed with the synthetic test PKI where the check
//! under test comes after the signature) is refused with its own error.

mod sev_support;

use sha2::{Digest, Sha256};

use cocoon_tee::sev::{
    verify_vcek_chain, ChainLink, Product, SevCollateral, SevError, SevPolicy, SevTrust, Vcek,
};
use sev_support::*;

fn synthetic(report: &[u8], vcek: &[u8], policy: SevPolicy) -> Result<(), SevError> {
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

fn real(report: &[u8], now: u64) -> Result<(), SevError> {
    amd_verifier()
        .verify(
            report,
            MILAN_VCEK,
            &SevCollateral::empty(),
            &milan_report_data(),
            now,
        )
        .map(|_| ())
}

#[test]
fn genuine_milan_report_verifies_against_pinned_amd_roots() {
    let verified = amd_verifier()
        .verify(
            MILAN_REPORT,
            MILAN_VCEK,
            &SevCollateral::empty(),
            &milan_report_data(),
            NOW,
        )
        .expect("genuine report");
    assert_eq!(verified.product, Product::Milan);
    assert_eq!(
        (
            verified.tcb.bootloader,
            verified.tcb.tee,
            verified.tcb.snp,
            verified.tcb.microcode
        ),
        (3, 0, 8, 0x73)
    );
    let mut preimage = MILAN_REPORT[0x90..0xC0].to_vec();
    preimage.extend_from_slice(&[0u8; 64]);
    assert_eq!(
        verified.image_hash,
        <[u8; 32]>::from(Sha256::digest(&preimage))
    );
}

#[test]
fn genuine_vcek_is_accepted_as_pem_too() {
    let pem = cocoon_tee::cert::pem_encode("CERTIFICATE", MILAN_VCEK);
    amd_verifier()
        .verify(
            MILAN_REPORT,
            pem.as_bytes(),
            &SevCollateral::empty(),
            &milan_report_data(),
            NOW,
        )
        .expect("PEM VCEK");
}

#[test]
fn synthetic_resigned_report_verifies_with_a_current_crl() {
    synthetic(&resigned(|_| {}), SYN_VCEK, SevPolicy::default()).expect("baseline");
}

#[test]
fn default_policy_refuses_a_chain_without_crl() {
    let err = cocoon_tee::sev::SevVerifier::new()
        .verify(
            MILAN_REPORT,
            MILAN_VCEK,
            &SevCollateral::empty(),
            &milan_report_data(),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(&err, SevError::CollateralMissing { product, what } if product == "Milan" && what.contains("CRL")),
        "{err}"
    );
}

// --- the report bytes ---

#[test]
fn truncated_or_padded_report_is_refused() {
    for len in [0, 100, 0x2A0, 1183] {
        let err = real(&MILAN_REPORT[..len], NOW).unwrap_err();
        assert_eq!(
            err,
            SevError::ReportSize {
                len,
                expected: 1184
            }
        );
    }
    let mut long = MILAN_REPORT.to_vec();
    long.push(0);
    assert!(matches!(
        real(&long, NOW),
        Err(SevError::ReportSize { len: 1185, .. })
    ));
}

#[test]
fn unknown_report_version_is_refused() {
    for version in [0u32, 1, 6, 0xFFFF_FFFF] {
        let mut report = MILAN_REPORT.to_vec();
        report[0..4].copy_from_slice(&version.to_le_bytes());
        assert_eq!(
            real(&report, NOW),
            Err(SevError::UnsupportedVersion { version })
        );
    }
}

#[test]
fn other_signature_algorithm_is_refused() {
    let mut report = MILAN_REPORT.to_vec();
    report[0x34] = 2;
    assert_eq!(
        real(&report, NOW),
        Err(SevError::UnsupportedSignatureAlgorithm { algo: 2 })
    );
}

#[test]
fn vlek_signed_report_is_refused() {
    let mut report = MILAN_REPORT.to_vec();
    report[0x48] = 1 << 2;
    assert_eq!(
        real(&report, NOW),
        Err(SevError::NotSignedByVcek { signing_key: 1 })
    );
}

// --- signature and binding ---

#[test]
fn altered_measurement_breaks_the_signature() {
    let mut report = MILAN_REPORT.to_vec();
    report[0x90] ^= 1;
    assert_eq!(real(&report, NOW), Err(SevError::SignatureInvalid));
}

#[test]
fn oversized_signature_component_is_refused() {
    let mut report = MILAN_REPORT.to_vec();
    report[0x2A0 + 60] = 1;
    assert_eq!(real(&report, NOW), Err(SevError::SignatureInvalid));
}

#[test]
fn report_data_for_another_key_is_refused() {
    let other = [7u8; 64];
    let err = amd_verifier()
        .verify(
            MILAN_REPORT,
            MILAN_VCEK,
            &SevCollateral::empty(),
            &other,
            NOW,
        )
        .unwrap_err();
    assert_eq!(err, SevError::ReportDataMismatch);
}

#[test]
fn vcek_of_another_chip_is_refused() {
    let report = resigned(|r| r[0x1A0] ^= 0xFF);
    let err = synthetic(&report, SYN_VCEK, SevPolicy::default()).unwrap_err();
    assert!(matches!(err, SevError::HwIdMismatch { .. }), "{err}");
}

#[test]
fn masked_chip_id_is_refused() {
    let report = resigned(|r| r[0x48] = 0b10);
    let err = synthetic(&report, SYN_VCEK, SevPolicy::default()).unwrap_err();
    assert_eq!(err, SevError::ChipIdMasked);
}

// --- the chain ---

#[test]
fn genuine_vcek_under_another_root_is_refused() {
    let err = synthetic_verifier(SevPolicy::default())
        .verify(
            MILAN_REPORT,
            MILAN_VCEK,
            &synthetic_collateral(SYN_CRL),
            &milan_report_data(),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            SevError::ChainSignatureInvalid {
                link: ChainLink::Vcek,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn collateral_with_an_unpinned_ark_is_refused() {
    let err = amd_verifier()
        .verify(
            MILAN_REPORT,
            MILAN_VCEK,
            &synthetic_collateral(SYN_CRL),
            &milan_report_data(),
            NOW,
        )
        .unwrap_err();
    assert_eq!(
        err,
        SevError::ArkNotPinned {
            product: "Milan".into()
        }
    );
}

#[test]
fn revoked_ask_is_refused() {
    let err = synthetic_verifier(SevPolicy::default())
        .verify(
            &resigned(|_| {}),
            SYN_VCEK,
            &synthetic_collateral(SYN_CRL_REVOKING_ASK),
            &milan_report_data(),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(&err, SevError::Revoked { link: ChainLink::Ask, serial, .. } if serial == "010001"),
        "{err}"
    );
}

#[test]
fn outdated_crl_is_refused() {
    let err = synthetic_verifier(SevPolicy::default())
        .verify(
            &resigned(|_| {}),
            SYN_VCEK,
            &synthetic_collateral(SYN_CRL),
            &milan_report_data(),
            AFTER_SYN_CRL,
        )
        .unwrap_err();
    assert!(matches!(err, SevError::CrlOutdated { .. }), "{err}");
}

#[test]
fn forged_crl_is_refused() {
    let mut collateral = SevCollateral::empty();
    collateral.add_pem(SYN_CHAIN).expect("chain");
    let (_, pem) = x509_parser::pem::parse_x509_pem(SYN_CRL).expect("crl pem");
    let mut der = pem.contents;
    let last = der.len() - 1;
    der[last] ^= 1;
    collateral.add_crl(der).expect("still parses");
    let err = synthetic_verifier(SevPolicy::default())
        .verify(
            &resigned(|_| {}),
            SYN_VCEK,
            &collateral,
            &milan_report_data(),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, SevError::CrlInvalid { .. }), "{err}");
}

#[test]
fn expired_or_not_yet_valid_vcek_is_refused() {
    for at in [
        1_924_992_000, /* 2031 */
        1_672_531_200, /* 2023-01 */
    ] {
        let err = real(MILAN_REPORT, at).unwrap_err();
        assert!(
            matches!(
                err,
                SevError::CertificateExpired {
                    link: ChainLink::Vcek,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn turin_vcek_chains_to_the_pinned_turin_roots_only() {
    let vcek = Vcek::parse(TURIN_VCEK).expect("Turin VCEK");
    assert_eq!((vcek.product, vcek.hw_id.len()), (Product::Turin, 8));
    // Its extensions: fmcSPL 0, blSPL 0, teeSPL 0, snpSPL 0, ucodeSPL 9.
    assert_eq!(
        (
            vcek.tcb.fmc,
            vcek.tcb.bootloader,
            vcek.tcb.snp,
            vcek.tcb.microcode
        ),
        (Some(0), 0, 0, 9)
    );
    assert_eq!(vcek.hw_id, [0x1E, 0x55, 0x0A, 0x8E, 0xE5, 0xCF, 0x9F, 0x4D]);
    verify_vcek_chain(&vcek, &SevTrust::amd(), &SevCollateral::empty(), NOW, false)
        .expect("Turin chain");
    let milan = SevTrust::amd()
        .roots(Product::Milan)
        .cloned()
        .expect("Milan");
    let crossed = SevTrust::amd()
        .with_product(Product::Turin, &milan.ark_der, &milan.ask_der)
        .expect("trust");
    let err = verify_vcek_chain(&vcek, &crossed, &SevCollateral::empty(), NOW, false).unwrap_err();
    assert!(
        matches!(
            err,
            SevError::ChainSignatureInvalid {
                link: ChainLink::Vcek,
                ..
            }
        ),
        "{err}"
    );
}

// --- product ---

#[test]
fn report_from_another_cpu_family_is_refused() {
    let report = resigned(|r| {
        r[0..4].copy_from_slice(&3u32.to_le_bytes());
        r[0x188] = 0x1A; // Turin
        r[0x189] = 0x02;
    });
    let err = synthetic(&report, SYN_VCEK, SevPolicy::default()).unwrap_err();
    assert!(
        matches!(err, SevError::ProductMismatch { family: 0x1A, .. }),
        "{err}"
    );
}

#[test]
fn vcek_for_an_untrusted_product_is_refused() {
    let err = synthetic(&resigned(|_| {}), SYN_VCEK_GENOA, SevPolicy::default()).unwrap_err();
    assert!(
        matches!(&err, SevError::CollateralMissing { product, .. } if product == "Genoa"),
        "{err}"
    );
}

#[test]
fn garbage_vcek_is_refused() {
    let err = amd_verifier()
        .verify(
            MILAN_REPORT,
            b"not a certificate",
            &SevCollateral::empty(),
            &milan_report_data(),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(err, SevError::VcekMalformed { .. }), "{err}");
}
