//! Fetching collateral from a PCCS or Intel's PCS (API v4), and a
//! [`CollateralSource`] that caches it per platform (FMSPC, PCK CA) until the
//! collateral's next update.
//!
//! Endpoints used (`{tee}` is `tdx` or `sgx`): `sgx/certification/v4/pckcrl?ca=…&encoding=der`,
//! `{tee}/certification/v4/tcb?fmspc=…`, `{tee}/certification/v4/qe/identity`, and the root
//! CA CRL from the PCCS (`sgx/certification/v4/rootcacrl`, hex) or, for Intel's PCS, from the
//! root certificate's CRL distribution point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dcap_qvl::QuoteCollateralV3;

use super::collateral::{Collateral, CollateralSource};
use super::pccs_text::{percent_decode, raw_object_member};
use crate::quote::{pem_certificates, ParsedQuote, QuoteBody};
use crate::AttestError;

/// Intel's Provisioning Certification Service.
pub const INTEL_PCS_URL: &str = "https://api.trustedservices.intel.com";
/// Where Intel publishes the SGX root CA's CRL.
pub const INTEL_ROOT_CA_CRL_URL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Platforms remembered by one [`PccsCollateral`].
const MAX_CACHED_PLATFORMS: usize = 64;

fn unavailable(detail: impl Into<String>) -> AttestError {
    AttestError::CollateralUnavailable {
        detail: detail.into(),
    }
}

/// The platform a quote comes from, as collateral is keyed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlatformId {
    /// `tdx` or `sgx`.
    pub tee: &'static str,
    /// FMSPC, upper-case hex.
    pub fmspc: String,
    /// `processor` or `platform`.
    pub ca: &'static str,
    /// The PCK chain embedded in the quote (PEM).
    pub pck_chain_pem: String,
}

impl PlatformId {
    /// Read FMSPC and PCK CA from the PCK certificate embedded in the quote.
    pub fn of_quote(quote: &ParsedQuote) -> Result<Self, AttestError> {
        let signature = quote.signature()?;
        let chain = signature.pck_chain_der()?;
        let leaf = chain
            .first()
            .ok_or_else(|| AttestError::malformed("empty PCK chain"))?;
        let ext = dcap_qvl::intel::parse_pck_extension(leaf)
            .map_err(|e| AttestError::malformed(format!("PCK certificate SGX extension: {e:#}")))?;
        let ca = dcap_qvl::intel::pck_ca(leaf)
            .map_err(|e| AttestError::malformed(format!("PCK certificate issuer: {e:#}")))?
            .as_id_str();
        let tee = match quote.body {
            QuoteBody::Td(_) => "tdx",
            QuoteBody::Sgx(_) => "sgx",
        };
        let pem = &signature.certification.data;
        let end = pem.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        let pck_chain_pem = String::from_utf8_lossy(pem.get(..end).unwrap_or(&[])).into_owned();
        Ok(PlatformId {
            tee,
            fmspc: hex::encode_upper(ext.fmspc),
            ca,
            pck_chain_pem,
        })
    }
}

/// Fetch the collateral for `quote` from a PCCS/PCS at `base_url`.
pub async fn fetch_collateral(
    base_url: &str,
    quote: &ParsedQuote,
) -> Result<Collateral, AttestError> {
    fetch_for_platform(base_url, &PlatformId::of_quote(quote)?).await
}

/// [`fetch_collateral`] for synchronous callers: runs the fetch on a helper
/// thread with its own runtime (safe to call from inside a tokio runtime; it
/// blocks the calling thread until the fetch ends or times out).
pub fn fetch_collateral_blocking(
    base_url: &str,
    quote: &ParsedQuote,
) -> Result<Collateral, AttestError> {
    let platform = PlatformId::of_quote(quote)?;
    fetch_for_platform_blocking(base_url, &platform)
}

fn fetch_for_platform_blocking(
    base_url: &str,
    platform: &PlatformId,
) -> Result<Collateral, AttestError> {
    let base_url = base_url.to_owned();
    let platform = platform.clone();
    crate::http_fetch::block_on_helper(move || async move {
        fetch_for_platform(&base_url, &platform).await
    })
    .map_err(unavailable)?
}

async fn fetch_for_platform(
    base_url: &str,
    platform: &PlatformId,
) -> Result<Collateral, AttestError> {
    let client = crate::http_fetch::client(FETCH_TIMEOUT).map_err(unavailable)?;
    let base = base_url.trim_end_matches('/');
    let tee = platform.tee;

    let (pck_crl, headers) = get(
        &client,
        &format!(
            "{base}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
            platform.ca
        ),
    )
    .await?;
    let pck_crl_issuer_chain = header(&headers, &["SGX-PCK-CRL-Issuer-Chain"])?;

    let (tcb_body, headers) = get(
        &client,
        &format!("{base}/{tee}/certification/v4/tcb?fmspc={}", platform.fmspc),
    )
    .await?;
    let tcb_info_issuer_chain = header(
        &headers,
        &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"],
    )?;
    let (tcb_info, tcb_info_signature) = signed_json(&tcb_body, "tcbInfo")?;

    let (qe_body, headers) = get(
        &client,
        &format!("{base}/{tee}/certification/v4/qe/identity"),
    )
    .await?;
    let qe_identity_issuer_chain = header(&headers, &["SGX-Enclave-Identity-Issuer-Chain"])?;
    let (qe_identity, qe_identity_signature) = signed_json(&qe_body, "enclaveIdentity")?;

    let root_ca_crl = if base.starts_with(INTEL_PCS_URL) {
        get(&client, &root_crl_url(&qe_identity_issuer_chain))
            .await?
            .0
    } else {
        let (body, _) = get(&client, &format!("{base}/sgx/certification/v4/rootcacrl")).await?;
        // A PCCS answers hex text; accept raw DER too.
        if body.first() == Some(&0x30) {
            body
        } else {
            let text = std::str::from_utf8(&body)
                .map_err(|_| unavailable("root CA CRL: neither DER nor hex"))?;
            hex::decode(text.trim()).map_err(|e| unavailable(format!("root CA CRL hex: {e}")))?
        }
    };

    Ok(Collateral::new(QuoteCollateralV3 {
        pck_crl_issuer_chain,
        root_ca_crl,
        pck_crl,
        tcb_info_issuer_chain,
        tcb_info,
        tcb_info_signature,
        qe_identity_issuer_chain,
        qe_identity,
        qe_identity_signature,
        pck_certificate_chain: Some(platform.pck_chain_pem.clone()),
    }))
}

async fn get(
    client: &reqwest::Client,
    url: &str,
) -> Result<(Vec<u8>, reqwest::header::HeaderMap), AttestError> {
    crate::http_fetch::get_bounded(client, url, MAX_RESPONSE_BYTES)
        .await
        .map_err(unavailable)
}

fn header(headers: &reqwest::header::HeaderMap, names: &[&str]) -> Result<String, AttestError> {
    let value = names
        .iter()
        .find_map(|name| headers.get(*name))
        .ok_or_else(|| unavailable(format!("response lacks header {}", names.join(" / "))))?;
    let text = value
        .to_str()
        .map_err(|_| unavailable(format!("header {} is not ASCII", names.join(" / "))))?;
    percent_decode(text).ok_or_else(|| {
        unavailable(format!(
            "header {} is badly percent-encoded",
            names.join(" / ")
        ))
    })
}

/// `{"<key>": {...}, "signature": "<hex>"}` → (exact text of the signed object, signature bytes).
/// The exact text matters: the signature covers the bytes as served.
fn signed_json(body: &[u8], key: &str) -> Result<(String, Vec<u8>), AttestError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| unavailable(format!("{key} response is not UTF-8")))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| unavailable(format!("{key} response: {e}")))?;
    let signature = value
        .get("signature")
        .and_then(|v| v.as_str())
        .ok_or_else(|| unavailable(format!("{key} response lacks signature")))?;
    let signature =
        hex::decode(signature).map_err(|e| unavailable(format!("{key} signature hex: {e}")))?;
    let raw = raw_object_member(text, key)
        .ok_or_else(|| unavailable(format!("{key} response lacks {key}")))?;
    Ok((raw.to_owned(), signature))
}

/// The CRL distribution point of the root certificate at the end of `chain_pem`.
fn root_crl_url(chain_pem: &str) -> String {
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    let from_cert = || -> Option<String> {
        let certs = pem_certificates(chain_pem.as_bytes()).ok()?;
        let (_, root) = x509_parser::parse_x509_certificate(certs.last()?).ok()?;
        for ext in root.extensions() {
            if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        for name in names {
                            if let GeneralName::URI(uri) = name {
                                return Some((*uri).to_owned());
                            }
                        }
                    }
                }
            }
        }
        None
    };
    from_cert().unwrap_or_else(|| INTEL_ROOT_CA_CRL_URL.to_owned())
}

/// (tee, FMSPC, PCK CA) → collateral and the UNIX time it stops being valid.
type PlatformCache = HashMap<(&'static str, String, &'static str), (Arc<Collateral>, u64)>;

/// Fetches collateral from a PCCS/PCS on demand and keeps it per platform
/// until its validity window closes.
#[derive(Debug)]
pub struct PccsCollateral {
    base_url: String,
    cache: Mutex<PlatformCache>,
}

impl PccsCollateral {
    pub fn new(base_url: impl Into<String>) -> Self {
        PccsCollateral {
            base_url: base_url.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl CollateralSource for PccsCollateral {
    fn collateral_for(
        &self,
        quote: &ParsedQuote,
        now: u64,
    ) -> Result<Arc<Collateral>, AttestError> {
        let platform = PlatformId::of_quote(quote)?;
        let key = (platform.tee, platform.fmspc.clone(), platform.ca);
        if let Ok(cache) = self.cache.lock() {
            if let Some((collateral, until)) = cache.get(&key) {
                if now < *until {
                    return Ok(collateral.clone());
                }
            }
        }
        let collateral = Arc::new(fetch_for_platform_blocking(&self.base_url, &platform)?);
        let (_, until) = collateral.validity_window()?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED_PLATFORMS {
                cache.retain(|_, (_, until)| now < *until);
                if cache.len() >= MAX_CACHED_PLATFORMS {
                    cache.clear();
                }
            }
            cache.insert(key, (collateral.clone(), until));
        }
        Ok(collateral)
    }
}
