//! Quote parsing never panics: arbitrary bytes, every truncation and random
//! byte edits of real quotes all yield `Ok` or `Err`.

mod attest_support;

use std::sync::OnceLock;

use attest_support::{read, synthetic_tdx_quote, vectors};
use cocoon_tee::fake::parse_fake_quote;
use cocoon_tee::quote::{pem_certificates, ParsedQuote, TD_ATTR_SEPT_VE_DISABLE};
use proptest::prelude::*;

/// Parse and walk everything reachable from the result.
fn exercise(bytes: &[u8]) -> bool {
    let _ = parse_fake_quote(bytes);
    match ParsedQuote::parse(bytes) {
        Ok(q) => {
            let _ = q.tdx_measurements();
            let _ = (q.is_debug(), q.report_data(), q.tee_kind());
            if let Ok(sig) = q.signature() {
                let _ = sig.pck_chain_der();
            }
            true
        }
        Err(_) => false,
    }
}

/// The synthetic quote, plus the real vectors when `COCOON_VECTORS` is set (read once).
fn real_quotes() -> Vec<Vec<u8>> {
    static QUOTES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    QUOTES
        .get_or_init(|| {
            let mut quotes = vec![synthetic_tdx_quote(1, TD_ATTR_SEPT_VE_DISABLE)];
            if let Some(dir) = vectors() {
                for name in [
                    "cocoon-test-quote.dat",
                    "dcap-qvl/tdx_quote",
                    "dcap-qvl/tdx_quote_outdated",
                    "dcap-qvl/sgx_quote",
                ] {
                    quotes.push(read(&dir, name));
                }
            }
            quotes
        })
        .clone()
}

#[test]
fn every_truncation_of_a_real_quote_is_an_error() {
    for quote in real_quotes() {
        let full = ParsedQuote::parse(&quote).expect("full quote parses");
        let end = quote.len() - full.trailing_len;
        for len in 0..end {
            assert!(
                ParsedQuote::parse(&quote[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
        for len in end..=quote.len() {
            assert!(
                ParsedQuote::parse(&quote[..len]).is_ok(),
                "prefix of {len} bytes (after the signature) failed"
            );
        }
        exercise(&quote);
    }
}

#[test]
fn pem_chain_parser_handles_garbage() {
    assert!(pem_certificates(b"").is_err());
    assert!(
        pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err()
    );
    assert!(pem_certificates(b"\xff\xfe-----BEGIN CERTIFICATE-----").is_err());
    assert!(pem_certificates(&[0u8; 100]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_header_with_plausible_lengths_never_panics(
        version in prop_oneof![Just(3u16), Just(4u16), Just(5u16), any::<u16>()],
        tee in prop_oneof![Just(0u32), Just(0x81u32), any::<u32>()],
        body_type in 0u16..6,
        body_size in prop_oneof![Just(384u32), Just(584u32), Just(648u32), any::<u32>()],
        tail in proptest::collection::vec(any::<u8>(), 0..1200),
    ) {
        let mut q = Vec::new();
        q.extend_from_slice(&version.to_le_bytes());
        q.extend_from_slice(&2u16.to_le_bytes());
        q.extend_from_slice(&tee.to_le_bytes());
        q.extend_from_slice(&[0u8; 40]);
        if version == 5 {
            q.extend_from_slice(&body_type.to_le_bytes());
            q.extend_from_slice(&body_size.to_le_bytes());
        }
        q.extend_from_slice(&tail);
        exercise(&q);
    }

    #[test]
    fn edited_real_quotes_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        for mut quote in real_quotes() {
            for (at, value) in &edits {
                let len = quote.len();
                quote[at % len] = *value;
            }
            exercise(&quote);
        }
    }
}
