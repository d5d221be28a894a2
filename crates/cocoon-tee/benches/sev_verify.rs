//! SEV-SNP report verification cost: the genuine Milan report against AMD's
//! pinned roots (two RSA-4096 PSS checks, one ECDSA P-384), and the synthetic
//! chain with its CRL (three RSA-2048 PSS checks), and VCEK parsing, to size
//! a cache for the policy wiring.

use cocoon_tee::sev::{
    verify_vcek_chain, Product, SevCollateral, SevPolicy, SevTrust, SevVerifier, Vcek,
};
use criterion::{criterion_group, criterion_main, Criterion};

const MILAN_REPORT: &[u8] = include_bytes!("../tests/data/sev/milan_report.bin");
const MILAN_VCEK: &[u8] = include_bytes!("../tests/data/sev/milan_vcek.der");
const SYN_ARK: &[u8] = include_bytes!("../tests/data/sev/synthetic/ark.pem");
const SYN_ASK: &[u8] = include_bytes!("../tests/data/sev/synthetic/ask.pem");
const SYN_CHAIN: &[u8] = include_bytes!("../tests/data/sev/synthetic/cert_chain.pem");
const SYN_CRL: &[u8] = include_bytes!("../tests/data/sev/synthetic/crl_empty.pem");
const SYN_VCEK: &[u8] = include_bytes!("../tests/data/sev/synthetic/vcek_ok.der");
/// 2026-12-08T00:00:00Z, inside every validity window of the test data.
const NOW: u64 = 1_796_688_000;

fn verify(c: &mut Criterion) {
    let mut report_data = [0u8; 64];
    report_data.copy_from_slice(&MILAN_REPORT[0x50..0x90]);
    let no_crl = SevPolicy {
        require_crl: false,
        ..SevPolicy::default()
    };
    let amd = SevVerifier::new().with_policy(no_crl);
    let empty = SevCollateral::empty();
    amd.verify(MILAN_REPORT, MILAN_VCEK, &empty, &report_data, NOW)
        .expect("genuine report verifies");

    let mut collateral = SevCollateral::empty();
    collateral.add_pem(SYN_CHAIN).expect("chain");
    collateral.add_pem(SYN_CRL).expect("crl");
    let trust = SevTrust::empty()
        .with_product(Product::Milan, SYN_ARK, SYN_ASK)
        .expect("synthetic roots");
    let vcek = Vcek::parse(SYN_VCEK).expect("synthetic VCEK");

    let mut group = c.benchmark_group("sev_snp_verify");
    group.bench_function("genuine_milan_amd_roots", |b| {
        b.iter(|| {
            amd.verify(MILAN_REPORT, MILAN_VCEK, &empty, &report_data, NOW)
                .expect("verifies")
        })
    });
    group.bench_function("vcek_parse", |b| {
        b.iter(|| Vcek::parse(SYN_VCEK).expect("parses"))
    });
    group.bench_function("synthetic_chain_and_crl", |b| {
        b.iter(|| verify_vcek_chain(&vcek, &trust, &collateral, NOW, true).expect("chain verifies"))
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
