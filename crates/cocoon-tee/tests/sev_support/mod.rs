//! Shared helpers for the SEV-SNP tests: the real Milan report and VCEK, the
//! synthetic test PKI of `tests/data/sev/synthetic` (see its README), and
//! re-signing mutated reports with the synthetic VCEK key.
#![allow(dead_code)] // each test binary uses a different subset

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};

use cocoon_tee::sev::report::SNP_SIGNED_LEN;
use cocoon_tee::sev::{Product, SevCollateral, SevPolicy, SevTrust, SevVerifier};

/// A genuine Milan report (virtee/sev test data) and the VCEK that signed it.
pub const MILAN_REPORT: &[u8] = include_bytes!("../data/sev/milan_report.bin");
pub const MILAN_VCEK: &[u8] = include_bytes!("../data/sev/milan_vcek.der");
pub const TURIN_VCEK: &[u8] = include_bytes!("../data/sev/turin_vcek.der");

pub const SYN_ARK: &[u8] = include_bytes!("../data/sev/synthetic/ark.pem");
pub const SYN_ASK: &[u8] = include_bytes!("../data/sev/synthetic/ask.pem");
pub const SYN_CHAIN: &[u8] = include_bytes!("../data/sev/synthetic/cert_chain.pem");
pub const SYN_CRL: &[u8] = include_bytes!("../data/sev/synthetic/crl_empty.pem");
pub const SYN_CRL_REVOKING_ASK: &[u8] =
    include_bytes!("../data/sev/synthetic/crl_revoking_ask.pem");
/// Synthetic VCEK for the Milan report's chip id and TCB.
pub const SYN_VCEK: &[u8] = include_bytes!("../data/sev/synthetic/vcek_ok.der");
/// Same chip, SNP SPL 9 where the report says 8.
pub const SYN_VCEK_NEWER_SNP: &[u8] = include_bytes!("../data/sev/synthetic/vcek_newer_snp.der");
/// Same chip and TCB, productName `Genoa`.
pub const SYN_VCEK_GENOA: &[u8] = include_bytes!("../data/sev/synthetic/vcek_genoa.der");
const SYN_VCEK_KEY: &[u8] = include_bytes!("../data/sev/synthetic/vcek_key.pk8");

/// 2026-12-08T00:00:00Z: inside the validity of the real Milan and Turin
/// VCEKs (2023–2030, 2024–2031) and of the synthetic PKI and CRLs (issued
/// 2026-12-07T20:00Z, CRLs good for 30 days).
pub const NOW: u64 = 1_796_688_000;
/// 2027-02-01T00:00:00Z: after the synthetic CRLs' nextUpdate.
pub const AFTER_SYN_CRL: u64 = 1_801_440_000;

/// The report data the real report carries.
pub fn milan_report_data() -> [u8; 64] {
    let mut data = [0u8; 64];
    data.copy_from_slice(&MILAN_REPORT[0x50..0x90]);
    data
}

/// AMD's pinned roots; no CRL required (no public KDS CRL in the test data).
pub fn amd_verifier() -> SevVerifier {
    SevVerifier::new().with_policy(SevPolicy {
        require_crl: false,
        ..SevPolicy::default()
    })
}

/// The synthetic ARK/ASK trusted as Milan's, with `policy`.
pub fn synthetic_verifier(policy: SevPolicy) -> SevVerifier {
    let trust = SevTrust::empty()
        .with_product(Product::Milan, SYN_ARK, SYN_ASK)
        .expect("synthetic roots");
    SevVerifier::new().with_trust(trust).with_policy(policy)
}

/// Synthetic chain plus `crl` (PEM).
pub fn synthetic_collateral(crl: &[u8]) -> SevCollateral {
    let mut collateral = SevCollateral::empty();
    collateral.add_pem(SYN_CHAIN).expect("chain");
    collateral.add_pem(crl).expect("crl");
    collateral
}

/// Sign `report`'s first 0x2A0 bytes with the synthetic VCEK key and store
/// r and s little-endian, zero-padded to 72 bytes, as the firmware does.
pub fn resign(report: &mut [u8]) {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, SYN_VCEK_KEY, &rng)
        .expect("synthetic VCEK key");
    let sig = key
        .sign(&rng, &report[..SNP_SIGNED_LEN])
        .expect("sign report");
    let (r, s) = sig.as_ref().split_at(48);
    for (at, component) in [(0x2A0, r), (0x2E8, s)] {
        let field = &mut report[at..at + 72];
        field.fill(0);
        for (i, b) in component.iter().rev().enumerate() {
            field[i] = *b;
        }
    }
}

/// The real report with `mutate` applied, re-signed with the synthetic VCEK.
pub fn resigned(mutate: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut report = MILAN_REPORT.to_vec();
    mutate(&mut report);
    resign(&mut report);
    report
}
