//! SEV-SNP collateral loading: one PEM file, or a directory in the
//! reference's `/etc/tee/sev/` layout, sorted into chains, CRLs and VCEKs;
//! blocks that are no AMD collateral are refused.

mod sev_support;

use std::path::PathBuf;

use cocoon_tee::sev::{Product, SevCollateral, SevError, SevPolicy};
use sev_support::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cocoon-sev-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn one_pem_file_is_sorted_into_ark_ask_and_crl() {
    let dir = TempDir::new("file");
    let path = dir.0.join("collateral.pem");
    let mut text = SYN_CHAIN.to_vec();
    text.extend_from_slice(SYN_CRL);
    std::fs::write(&path, &text).expect("write");
    let collateral = SevCollateral::load(&path).expect("load");
    let milan = collateral.product(Product::Milan).expect("Milan entry");
    assert!(milan.ark_der.is_some() && milan.ask_der.is_some() && milan.crl_der.is_some());
    assert!(collateral.product(Product::Genoa).is_none());
    assert!(collateral.vceks().is_empty());
}

#[test]
fn reference_directory_layout_verifies_a_report_with_its_vcek() {
    let dir = TempDir::new("dir");
    std::fs::write(dir.0.join("Milan.cert_chain.pem"), SYN_CHAIN).expect("chain");
    std::fs::write(dir.0.join("Milan.cert_chain_crl.pem"), SYN_CRL).expect("crl");
    let vcek_pem = cocoon_tee::cert::pem_encode("CERTIFICATE", SYN_VCEK);
    std::fs::write(dir.0.join("vcek.pem"), vcek_pem).expect("vcek");
    std::fs::write(dir.0.join("notes.txt"), "not read").expect("notes");

    let collateral = SevCollateral::load(&dir.0).expect("load dir");
    assert_eq!(collateral.vceks(), [SYN_VCEK.to_vec()]);
    let verified = synthetic_verifier(SevPolicy::default())
        .verify(
            &resigned(|_| {}),
            &collateral.vceks()[0],
            &collateral,
            &milan_report_data(),
            NOW,
        )
        .expect("verifies from loaded collateral");
    assert_eq!(verified.product, Product::Milan);
}

#[test]
fn foreign_pem_blocks_and_certificates_are_refused() {
    let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        SevCollateral::empty().add_pem(key),
        Err(SevError::CollateralMalformed { .. })
    ));
    // A certificate that is neither an ARK, an ASK nor a VCEK.
    let other = rcgen::CertificateParams::new(vec!["example.org".into()])
        .expect("params")
        .self_signed(&rcgen::KeyPair::generate().expect("key"))
        .expect("self-signed");
    let err = SevCollateral::empty()
        .add_certificate(other.der().to_vec())
        .unwrap_err();
    assert!(matches!(err, SevError::CollateralMalformed { .. }), "{err}");
    assert!(SevCollateral::load(std::path::Path::new("/nonexistent/sev")).is_err());
}

#[test]
fn substituted_ask_under_the_pinned_ark_is_refused() {
    // Collateral offering only an ASK (no ARK) that AMD's ARK did not sign:
    // it replaces the pinned ASK, so its signature must be checked.
    let mut collateral = SevCollateral::empty();
    collateral.add_pem(SYN_ASK).expect("ask");
    let err = amd_verifier()
        .verify(
            MILAN_REPORT,
            MILAN_VCEK,
            &collateral,
            &milan_report_data(),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            SevError::ChainSignatureInvalid {
                link: cocoon_tee::sev::ChainLink::Ask,
                ..
            }
        ),
        "{err}"
    );
}
