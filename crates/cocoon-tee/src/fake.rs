//! The fake TEE: a simulated attestation for development and tests. It proves
//! nothing and is accepted only by the `fake` policy.
//!
//! The fake "quote" is the 64-byte report data itself (SHA-512 of the
//! certificate key), exactly what the reference's fake TDX interface produced
//! until December 2025 and what every reference version accepts. The April-2026
//! reference writes a 496-byte serialized fake report instead (measurements,
//! report data, collateral root hash, all zero except the report data); the
//! fake policy accepts that form too, but only with all-zero measurements.

use crate::{AttestError, QuoteProvider, TdxMeasurements, TeeKind};

/// Length of a fake quote: just the report data.
pub const FAKE_QUOTE_LEN: usize = 64;
/// Length of the April-2026 reference's serialized fake report:
/// MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0..3 (8 × 48), REPORTDATA (64),
/// collateral root hash (48).
pub const FAKE_REPORT_LEN: usize = 8 * 48 + 64 + 48;

/// Produces fake TEE quotes (the report data, verbatim). Use only where a
/// real TEE is unavailable and peers run the `fake` policy.
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeQuoteProvider;

impl QuoteProvider for FakeQuoteProvider {
    fn kind(&self) -> TeeKind {
        TeeKind::Fake
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
        Ok(report_data.to_vec())
    }
}

/// Whether `quote` has the shape of a fake quote (either accepted length).
/// Used by the `tdx` policy to name the rejection clearly.
pub fn looks_fake(quote: &[u8]) -> bool {
    quote.len() == FAKE_QUOTE_LEN || quote.len() == FAKE_REPORT_LEN
}

/// The fake TEE's acceptance rule: a 64-byte fake quote, or a 496-byte fake
/// report whose measurements and root hash are all zero. Returns the (zero)
/// measurements carrying the report data. The caller still checks the report
/// data against the certificate key.
pub fn parse_fake_quote(quote: &[u8]) -> Result<TdxMeasurements, AttestError> {
    let mut measurements = TdxMeasurements::zeroed();
    match quote.len() {
        FAKE_QUOTE_LEN => {
            measurements.report_data.copy_from_slice(quote);
            Ok(measurements)
        }
        FAKE_REPORT_LEN => {
            let (head, rest) = quote.split_at(8 * 48);
            let (report_data, root_hash) = rest.split_at(64);
            if head.iter().chain(root_hash).any(|b| *b != 0) {
                return Err(AttestError::FakeReportNotZero);
            }
            measurements.report_data.copy_from_slice(report_data);
            Ok(measurements)
        }
        len => Err(AttestError::NotAFakeQuote { len }),
    }
}

/// The April-2026 reference's serialized fake report for `report_data`.
pub fn fake_report(report_data: &[u8; 64]) -> Vec<u8> {
    let mut out = vec![0u8; FAKE_REPORT_LEN];
    if let Some(slot) = out.get_mut(8 * 48..8 * 48 + 64) {
        slot.copy_from_slice(report_data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_quote_is_the_report_data() {
        let rd = [7u8; 64];
        let quote = FakeQuoteProvider.quote(&rd).expect("fake quote");
        assert_eq!(quote, rd.to_vec());
        assert_eq!(FakeQuoteProvider.kind(), TeeKind::Fake);
        assert_eq!(
            parse_fake_quote(&quote).map(|m| m.report_data).ok(),
            Some(rd)
        );
    }

    #[test]
    fn both_fake_forms_accepted_other_lengths_not() {
        let rd = [9u8; 64];
        let m = parse_fake_quote(&fake_report(&rd)).expect("496-byte form");
        assert_eq!(m.report_data, rd);
        assert_eq!(m.mr_td, [0; 48]);
        assert_eq!(
            parse_fake_quote(&[0u8; 65]).err(),
            Some(AttestError::NotAFakeQuote { len: 65 })
        );
        assert!(!looks_fake(&[0u8; 63]));
    }

    #[test]
    fn fake_report_with_measurements_is_rejected() {
        let mut report = fake_report(&[1u8; 64]);
        report[0] = 1; // MRTD
        assert_eq!(
            parse_fake_quote(&report).err(),
            Some(AttestError::FakeReportNotZero)
        );
        let mut report = fake_report(&[1u8; 64]);
        report[FAKE_REPORT_LEN - 1] = 1; // collateral root hash
        assert_eq!(
            parse_fake_quote(&report).err(),
            Some(AttestError::FakeReportNotZero)
        );
    }
}
