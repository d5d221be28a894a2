//! OIDs of the RA-TLS certificate extensions and the DER of the standard
//! extension values, written out byte by byte.
//!
//! Why hand-written values: rcgen emits its built-in extensions in a fixed
//! order (SAN, keyUsage, extKeyUsage, SKI, basicConstraints, then custom) and
//! always marks extKeyUsage non-critical and derives SKI with SHA-256. The
//! reference certificate needs another order, a critical extKeyUsage and an
//! OpenSSL-style SHA-1 SKI, so every extension is given to rcgen as a
//! `CustomExtension` (rcgen still writes the `Extension` SEQUENCE, the
//! critical flag and the wrapping OCTET STRING).

/// `1.3.6.1.4.1.12345.1`: the raw TDX quote (fake TEE: the 64-byte report data).
pub const OID_TDX_QUOTE: &str = "1.3.6.1.4.1.12345.1";
/// `1.3.6.1.4.1.12345.2`: the raw 32-byte Ed25519 public key ("user claims").
pub const OID_TDX_USER_CLAIMS: &str = "1.3.6.1.4.1.12345.2";
/// `1.3.6.1.4.1.12345.100`: SEV-SNP report data, SHA-512 of the public key.
pub const OID_SEV_REPORT_DATA: &str = "1.3.6.1.4.1.12345.100";
/// `1.3.6.1.4.1.12345.101`: the 1184-byte SEV-SNP attestation report.
pub const OID_SEV_ATTESTATION_REPORT: &str = "1.3.6.1.4.1.12345.101";
/// `1.3.6.1.4.1.12345.102`: the chip's VCEK certificate (PEM text).
pub const OID_SEV_VCEK: &str = "1.3.6.1.4.1.12345.102";

/// The COCOON private OIDs allowed to be critical.
pub const COCOON_OIDS: [&str; 5] = [
    OID_TDX_QUOTE,
    OID_TDX_USER_CLAIMS,
    OID_SEV_REPORT_DATA,
    OID_SEV_ATTESTATION_REPORT,
    OID_SEV_VCEK,
];

pub const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
pub const OID_KEY_USAGE: &str = "2.5.29.15";
pub const OID_EXT_KEY_USAGE: &str = "2.5.29.37";
pub const OID_SUBJECT_KEY_ID: &str = "2.5.29.14";
pub const OID_SUBJECT_ALT_NAME: &str = "2.5.29.17";

/// Standard extensions the verifier understands and therefore accepts when
/// critical (OpenSSL also handles a few policy extensions that COCOON
/// certificates never carry; those are rejected here).
pub const KNOWN_CRITICAL_OIDS: [&str; 4] = [
    OID_BASIC_CONSTRAINTS,
    OID_KEY_USAGE,
    OID_EXT_KEY_USAGE,
    OID_SUBJECT_ALT_NAME,
];

/// OID arcs for rcgen.
/// `1.3.6.1.4.1.12345`, the arc under which the COCOON OIDs live.
const COCOON_ARC: [u64; 7] = [1, 3, 6, 1, 4, 1, 12345];
pub(crate) const ARCS_BASIC_CONSTRAINTS: [u64; 4] = [2, 5, 29, 19];
pub(crate) const ARCS_KEY_USAGE: [u64; 4] = [2, 5, 29, 15];
pub(crate) const ARCS_EXT_KEY_USAGE: [u64; 4] = [2, 5, 29, 37];
pub(crate) const ARCS_SUBJECT_KEY_ID: [u64; 4] = [2, 5, 29, 14];
pub(crate) const ARCS_SUBJECT_ALT_NAME: [u64; 4] = [2, 5, 29, 17];

/// Arcs of `1.3.6.1.4.1.12345.<last>`.
pub(crate) fn cocoon_arcs(last: u64) -> [u64; 8] {
    let [a, b, c, d, e, f, g] = COCOON_ARC;
    [a, b, c, d, e, f, g, last]
}

/// basicConstraints `cA FALSE`: the empty SEQUENCE.
pub const BASIC_CONSTRAINTS_NOT_CA: [u8; 2] = [0x30, 0x00];

/// keyUsage `digitalSignature` (BIT STRING, 7 unused bits, 0x80).
pub const KEY_USAGE_DIGITAL_SIGNATURE: [u8; 4] = [0x03, 0x02, 0x07, 0x80];

/// extKeyUsage `serverAuth, clientAuth`.
pub const EXT_KEY_USAGE_SERVER_CLIENT: [u8; 22] = [
    0x30, 0x14, // SEQUENCE, 20 bytes
    0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01, // id-kp-serverAuth
    0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02, // id-kp-clientAuth
];

/// subjectAltName `DNS:localhost, DNS:127.0.0.1, IP:::1`. `127.0.0.1` is a
/// dNSName on purpose: reference clients match the server certificate
/// against the DNS name "127.0.0.1".
pub const SUBJECT_ALT_NAMES: [u8; 42] = [
    0x30, 0x28, // SEQUENCE, 40 bytes
    0x82, 0x09, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', // dNSName
    0x82, 0x09, b'1', b'2', b'7', b'.', b'0', b'.', b'0', b'.', b'1', // dNSName
    0x87, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // iPAddress ::1
];

/// subjectKeyIdentifier value: OCTET STRING of SHA-1 over the public key
/// bits (OpenSSL's `hash` method, RFC 5280 §4.2.1.2 method 1).
pub fn subject_key_identifier(public_key: &[u8; 32]) -> Vec<u8> {
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key);
    let mut der = Vec::with_capacity(22);
    der.push(0x04);
    der.push(0x14);
    der.extend_from_slice(sha1.as_ref());
    der
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cocoon_arcs_spell_the_private_oids() {
        let quote: Vec<String> = cocoon_arcs(1).iter().map(u64::to_string).collect();
        assert_eq!(quote.join("."), OID_TDX_QUOTE);
        let sev: Vec<String> = cocoon_arcs(102).iter().map(u64::to_string).collect();
        assert_eq!(sev.join("."), OID_SEV_VCEK);
    }

    #[test]
    fn ski_is_sha1_of_the_key() {
        // SHA-1 of 32 zero bytes.
        let ski = subject_key_identifier(&[0u8; 32]);
        assert_eq!(
            hex::encode(ski),
            "0414de8a847bff8c343d69b853a215e6ee775ef2ef96"
        );
    }
}
