//! Minimal PEM (RFC 7468) encoding and decoding for certificates and keys:
//! 64-character base64 lines and LF line ends, as OpenSSL writes them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// `-----BEGIN {label}-----` block holding `der`, ending with a newline.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The DER inside the first `label` block of `text`. Whitespace (including
/// CRLF) inside the block is ignored; headers (`Proc-Type:` …) are refused.
pub fn pem_decode(text: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("no '{begin}' line found"))?
        + begin.len();
    let rest = text.get(start..).unwrap_or_default();
    let stop = rest
        .find(&end)
        .ok_or_else(|| format!("no '{end}' line found"))?;
    let body = rest.get(..stop).unwrap_or_default();
    if body.contains(':') {
        return Err(format!(
            "{label} PEM has headers (encrypted?); not supported"
        ));
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("{label} PEM body is not valid base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_crlf_and_line_wrapping() {
        let der: Vec<u8> = (0..=200u8).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(pem_decode(&pem, "CERTIFICATE").unwrap(), der);
        let crlf = pem.replace('\n', "\r\n");
        assert_eq!(pem_decode(&crlf, "CERTIFICATE").unwrap(), der);
    }

    #[test]
    fn missing_or_wrong_label_is_an_error() {
        let pem = pem_encode("PRIVATE KEY", &[1, 2, 3]);
        assert!(pem_decode(&pem, "CERTIFICATE").is_err());
        assert!(pem_decode("-----BEGIN CERTIFICATE-----\nAAAA", "CERTIFICATE").is_err());
        assert!(pem_decode(
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
            "CERTIFICATE"
        )
        .is_err());
    }
}
