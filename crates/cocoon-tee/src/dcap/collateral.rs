//! DCAP collateral (TCB info, QE identity, CRLs and their issuer chains) in
//! dcap-qvl's JSON format, with its validity window, and the sources a policy
//! takes it from: a fixed file or a PCCS/PCS (see [`super::pccs`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use dcap_qvl::QuoteCollateralV3;

use crate::quote::ParsedQuote;
use crate::AttestError;

/// Largest collateral JSON file read from disk.
const MAX_COLLATERAL_FILE: u64 = 4 * 1024 * 1024;

/// Collateral for verifying quotes of one platform type (FMSPC, PCK CA).
#[derive(Clone, PartialEq, Eq)]
pub struct Collateral {
    inner: QuoteCollateralV3,
}

impl fmt::Debug for Collateral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = self.validity_window().ok();
        f.debug_struct("Collateral")
            .field("validity_window", &window)
            .finish_non_exhaustive()
    }
}

impl Collateral {
    pub fn new(inner: QuoteCollateralV3) -> Self {
        Collateral { inner }
    }

    /// Parse dcap-qvl's collateral JSON (binary fields as hex strings).
    pub fn from_json(text: &str) -> Result<Self, AttestError> {
        serde_json::from_str(text)
            .map(Collateral::new)
            .map_err(|e| AttestError::CollateralUnavailable {
                detail: format!("collateral JSON: {e}"),
            })
    }

    /// Read a collateral JSON file.
    pub fn from_file(path: &Path) -> Result<Self, AttestError> {
        let unavailable = |e: std::io::Error| AttestError::CollateralUnavailable {
            detail: format!("reading {}: {e}", path.display()),
        };
        let len = std::fs::metadata(path).map_err(unavailable)?.len();
        if len > MAX_COLLATERAL_FILE {
            return Err(AttestError::CollateralUnavailable {
                detail: format!(
                    "{} is {len} bytes, more than {MAX_COLLATERAL_FILE}",
                    path.display()
                ),
            });
        }
        Self::from_json(&std::fs::read_to_string(path).map_err(unavailable)?)
    }

    /// Serialize back to dcap-qvl's JSON format.
    pub fn to_json(&self) -> Result<String, AttestError> {
        serde_json::to_string_pretty(&self.inner)
            .map_err(|e| AttestError::Other(format!("collateral JSON: {e}")))
    }

    pub fn inner(&self) -> &QuoteCollateralV3 {
        &self.inner
    }

    /// `(not_before, not_after)` in UNIX seconds: the latest issue date and the
    /// earliest next-update of the TCB info, the QE identity and both CRLs.
    /// Certificates are checked by the verifier itself.
    pub fn validity_window(&self) -> Result<(u64, u64), AttestError> {
        let mut from = 0u64;
        let mut until = u64::MAX;
        for (what, json) in [
            ("TCB info", &self.inner.tcb_info),
            ("QE identity", &self.inner.qe_identity),
        ] {
            let (issue, next) = json_window(what, json)?;
            from = from.max(issue);
            until = until.min(next);
        }
        for (what, der) in [
            ("root CA CRL", &self.inner.root_ca_crl),
            ("PCK CRL", &self.inner.pck_crl),
        ] {
            let (this_update, next_update) = crl_window(what, der)?;
            from = from.max(this_update);
            if let Some(next) = next_update {
                until = until.min(next);
            }
        }
        Ok((from, until))
    }
}

fn json_window(what: &str, json: &str) -> Result<(u64, u64), AttestError> {
    let bad = |reason: String| AttestError::CollateralUnavailable {
        detail: format!("{what}: {reason}"),
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let date = |key: &str| {
        let text = value
            .get(key)
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad(format!("missing {key}")))?;
        parse_rfc3339_utc(text).ok_or_else(|| bad(format!("bad {key} {text:?}")))
    };
    Ok((date("issueDate")?, date("nextUpdate")?))
}

fn crl_window(what: &str, der: &[u8]) -> Result<(u64, Option<u64>), AttestError> {
    let bad = |reason: String| AttestError::CollateralUnavailable {
        detail: format!("{what}: {reason}"),
    };
    let (_, crl) = x509_parser::parse_x509_crl(der).map_err(|e| bad(e.to_string()))?;
    let secs = |t: x509_parser::time::ASN1Time| u64::try_from(t.timestamp()).unwrap_or(0);
    Ok((secs(crl.last_update()), crl.next_update().map(secs)))
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (the form Intel's collateral uses)
/// into UNIX seconds. Other offsets are not accepted.
pub fn parse_rfc3339_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(13) != Some(&b':')
    {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't')) || b.get(16) != Some(&b':') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = text.get(19..)?;
    let rest = match rest.strip_prefix('.') {
        Some(frac) => frac.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    if !(rest == "Z" || rest == "z") || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// Where a policy gets collateral for a quote it is about to verify.
/// Called synchronously from certificate verification.
pub trait CollateralSource: Send + Sync + fmt::Debug {
    /// Collateral for `quote`, valid at `now` (UNIX seconds) as far as the
    /// source knows.
    fn collateral_for(&self, quote: &ParsedQuote, now: u64)
        -> Result<Arc<Collateral>, AttestError>;
}

/// Always the same collateral (e.g. loaded from a file): suits a fleet of
/// one platform type, offline verification and tests.
#[derive(Debug, Clone)]
pub struct FixedCollateral(pub Arc<Collateral>);

impl FixedCollateral {
    pub fn from_file(path: &Path) -> Result<Self, AttestError> {
        Collateral::from_file(path).map(|c| FixedCollateral(Arc::new(c)))
    }
}

impl CollateralSource for FixedCollateral {
    fn collateral_for(
        &self,
        _quote: &ParsedQuote,
        _now: u64,
    ) -> Result<Arc<Collateral>, AttestError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2025-06-19T10:16:03Z"),
            Some(1_750_328_163)
        );
        assert_eq!(
            parse_rfc3339_utc("2024-02-29T23:59:59.123Z"),
            Some(1_709_251_199)
        );
        assert_eq!(parse_rfc3339_utc("2025-06-19T10:16:03+01:00"), None);
        assert_eq!(parse_rfc3339_utc("2025-13-19T10:16:03Z"), None);
        assert_eq!(parse_rfc3339_utc("２025-06-19T10:16:03Z"), None);
        assert_eq!(parse_rfc3339_utc(""), None);
    }
}
