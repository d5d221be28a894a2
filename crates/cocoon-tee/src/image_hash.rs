//! The COCOON image hash (tee.md §4.5): the value root contracts allowlist.
//!
//! `SHA-256(MRTD ‖ MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG ‖ RTMR0..3 ‖ 64 zero bytes)`
//! (448 bytes: the reference's serialization of its TDX attestation data with
//! the report data zeroed). TD attributes (including DEBUG), XFAM, MRSEAM and
//! the TCB SVNs are not part of it. SGX: `SHA-256(MRENCLAVE ‖ 64 zero bytes)`.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::{AttestError, TdxMeasurements};

/// Image hash of all-zero measurements (`5c55c8f4…4b61`): what a fake TEE
/// and a peer accepted without attestation report.
pub const ZERO_MEASUREMENTS_IMAGE_HASH: [u8; 32] = [
    0x5c, 0x55, 0xc8, 0xf4, 0xdb, 0x40, 0x10, 0xba, 0x92, 0x03, 0xd8, 0x35, 0x36, 0xd0, 0x60, 0x98,
    0x56, 0xaf, 0x8c, 0x84, 0x7a, 0xc0, 0x39, 0xe3, 0x7e, 0x7d, 0xde, 0x8f, 0xbd, 0x57, 0x4b, 0x61,
];

/// Image hash of TDX measurements (report data and debug flag ignored).
pub fn tdx_image_hash(m: &TdxMeasurements) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(m.mr_td);
    h.update(m.mr_config_id);
    h.update(m.mr_owner);
    h.update(m.mr_owner_config);
    for rtmr in &m.rtmr {
        h.update(rtmr);
    }
    h.update([0u8; 64]);
    h.finalize().into()
}

/// Image hash of an SGX enclave (the reference's SGX variant).
pub fn sgx_image_hash(mr_enclave: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(mr_enclave);
    h.update([0u8; 64]);
    h.finalize().into()
}

/// Base64 (standard alphabet, padded), as in `*_image_hash.b64` files and `TEE_IMAGE_HASH`.
pub fn to_base64(hash: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// Parse an image hash written as 64 hex digits or as base64 (44 characters).
pub fn parse_image_hash(text: &str) -> Result<[u8; 32], AttestError> {
    let text = text.trim();
    let bytes = if text.len() == 64 {
        hex::decode(text).map_err(|e| AttestError::config("image hash", format!("bad hex: {e}")))?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| {
                AttestError::config(
                    "image hash",
                    format!("neither 64 hex digits nor base64: {e}"),
                )
            })?
    };
    bytes.try_into().map_err(|b: Vec<u8>| {
        AttestError::config("image hash", format!("{} bytes, expected 32", b.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_measurements_hash_to_the_fake_constant() {
        assert_eq!(
            tdx_image_hash(&TdxMeasurements::zeroed()),
            ZERO_MEASUREMENTS_IMAGE_HASH
        );
        assert_eq!(
            hex::encode(ZERO_MEASUREMENTS_IMAGE_HASH),
            "5c55c8f4db4010ba9203d83536d0609856af8c847ac039e37e7dde8fbd574b61"
        );
    }

    #[test]
    fn reference_test_pattern() {
        // tee/test/cocoon.cpp pattern (tee.md §4.5): MRTD 0x12.., MRCONFIGID 0x34..,
        // MROWNER 0xAA.., MROWNERCONFIG 0xBB.., RTMRi = 'a'+i.
        let mut m = TdxMeasurements::zeroed();
        m.mr_td = [0x12; 48];
        m.mr_config_id = [0x34; 48];
        m.mr_owner = [0xaa; 48];
        m.mr_owner_config = [0xbb; 48];
        m.rtmr = [[b'a'; 48], [b'b'; 48], [b'c'; 48], [b'd'; 48]];
        m.report_data = [0x77; 64];
        m.debug = true;
        assert_eq!(
            hex::encode(tdx_image_hash(&m)),
            "36caf4e8958afa865b8ccc68f1c6f40bc7bddb11150bf437f6fed58b1ca26000"
        );
    }

    #[test]
    fn parses_hex_and_base64() {
        let b64 = "BLOv2THShoCvkaFbCdZyxArWsUH3+QiajWfVlSIPdDY=";
        let hex = "04b3afd931d28680af91a15b09d672c40ad6b141f7f9089a8d67d595220f7436";
        assert_eq!(parse_image_hash(b64).ok(), parse_image_hash(hex).ok());
        assert_eq!(
            parse_image_hash(hex).map(|h| to_base64(&h)).ok().as_deref(),
            Some(b64)
        );
        assert!(parse_image_hash("abcd").is_err());
        assert!(parse_image_hash(&"zz".repeat(32)).is_err());
    }
}
