//! The VCEK → ASK → ARK chain of one product, and the ARK's CRL.
//!
//! AMD's ARK and ASK of Milan, Genoa and Turin are pinned ([`SevTrust::amd`],
//! certificates from AMD's KDS, see `roots/README.md`). An ARK in the
//! collateral must be byte-identical to the pinned one; an ASK in the
//! collateral replaces the pinned ASK (AMD may re-issue it) but must be signed
//! by the pinned ARK. Every link is RSASSA-PSS/SHA-384 (as AMD signs) and must
//! be valid at the verification time; the ARK's CRL must be signed by the ARK,
//! be current, and not list the ASK.

use ring::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA384};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::time::ASN1Time;

use super::collateral::SevCollateral;
use super::error::{ChainLink, SevError};
use super::product::Product;
use super::vcek::{certificate_der, Vcek};

/// RSASSA-PSS (the parameters, SHA-384/MGF1-SHA-384/salt 48, are enforced by
/// ring's `RSA_PSS_2048_8192_SHA384`).
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// A pinned ARK and ASK, DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRoots {
    pub ark_der: Vec<u8>,
    pub ask_der: Vec<u8>,
}

/// The roots trusted for each product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SevTrust {
    roots: Vec<(Product, ProductRoots)>,
}

fn pinned(product: Product) -> (&'static str, &'static str) {
    match product {
        Product::Milan => (
            include_str!("roots/milan_ark.pem"),
            include_str!("roots/milan_ask.pem"),
        ),
        Product::Genoa => (
            include_str!("roots/genoa_ark.pem"),
            include_str!("roots/genoa_ask.pem"),
        ),
        Product::Turin => (
            include_str!("roots/turin_ark.pem"),
            include_str!("roots/turin_ask.pem"),
        ),
    }
}

impl SevTrust {
    /// AMD's pinned ARK/ASK for Milan, Genoa and Turin.
    pub fn amd() -> SevTrust {
        let mut trust = SevTrust::default();
        for product in Product::ALL {
            let (ark, ask) = pinned(product);
            // The pinned PEMs are part of this crate; a unit test parses each.
            if let (Ok(ark_der), Ok(ask_der)) = (
                certificate_der(ark.as_bytes()),
                certificate_der(ask.as_bytes()),
            ) {
                trust
                    .roots
                    .push((product, ProductRoots { ark_der, ask_der }));
            }
        }
        trust
    }

    /// No roots at all (add some with [`SevTrust::with_product`]).
    pub fn empty() -> SevTrust {
        SevTrust::default()
    }

    /// Trust `ark` (and its `ask`), DER or PEM, for `product`, replacing what
    /// was trusted for it. For tests and private PKIs.
    pub fn with_product(
        mut self,
        product: Product,
        ark: &[u8],
        ask: &[u8],
    ) -> Result<SevTrust, SevError> {
        let der = |bytes: &[u8]| {
            certificate_der(bytes).map_err(|reason| SevError::CollateralMalformed { reason })
        };
        let roots = ProductRoots {
            ark_der: der(ark)?,
            ask_der: der(ask)?,
        };
        self.roots.retain(|(p, _)| *p != product);
        self.roots.push((product, roots));
        Ok(self)
    }

    pub fn roots(&self, product: Product) -> Option<&ProductRoots> {
        self.roots
            .iter()
            .find(|(p, _)| *p == product)
            .map(|(_, r)| r)
    }
}

fn parse_cert(der: &[u8], link: ChainLink) -> Result<X509Certificate<'_>, SevError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| SevError::CollateralMalformed {
            reason: format!("{link} certificate: {e}"),
        })
}

fn unix(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX)
}

fn check_validity(cert: &X509Certificate<'_>, link: ChainLink, now: u64) -> Result<(), SevError> {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if unix(now) < not_before || unix(now) > not_after {
        return Err(SevError::CertificateExpired {
            link,
            not_before,
            not_after,
            now,
        });
    }
    Ok(())
}

/// `signed` (tbs bytes) with `signature` under `algorithm`, by `issuer`'s RSA key.
fn check_pss(
    issuer: &X509Certificate<'_>,
    algorithm: &str,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    if algorithm != OID_RSASSA_PSS {
        return Err(format!("signature algorithm {algorithm} is not RSASSA-PSS"));
    }
    let key = &issuer.public_key().subject_public_key.data;
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, key.as_ref())
        .verify(signed, signature)
        .map_err(|_| "RSASSA-PSS/SHA-384 signature does not verify".to_owned())
}

fn check_issued_by(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    link: ChainLink,
    product: Product,
) -> Result<(), SevError> {
    let fail = |detail: String| SevError::ChainSignatureInvalid {
        link,
        product: product.name().to_owned(),
        detail,
    };
    if cert.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(fail(format!(
            "issuer {} is not {}",
            cert.issuer(),
            issuer.subject()
        )));
    }
    check_pss(
        issuer,
        &cert.signature_algorithm.algorithm.to_id_string(),
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
    .map_err(fail)
}

fn trimmed(serial: &[u8]) -> &[u8] {
    let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
    serial.get(start..).unwrap_or_default()
}

fn check_crl(
    crl_der: &[u8],
    ark: &X509Certificate<'_>,
    ask: &X509Certificate<'_>,
    product: Product,
    now: u64,
) -> Result<(), SevError> {
    let invalid = |detail: String| SevError::CrlInvalid {
        product: product.name().to_owned(),
        detail,
    };
    let (_, crl) =
        CertificateRevocationList::from_der(crl_der).map_err(|e| invalid(e.to_string()))?;
    if crl.issuer().as_raw() != ark.subject().as_raw() {
        return Err(invalid(format!("issuer {} is not the ARK", crl.issuer())));
    }
    check_pss(
        ark,
        &crl.signature_algorithm.algorithm.to_id_string(),
        crl.tbs_cert_list.as_ref(),
        &crl.signature_value.data,
    )
    .map_err(invalid)?;
    let this_update = crl.last_update().timestamp();
    let next_update = crl
        .next_update()
        .map(|t: ASN1Time| t.timestamp())
        .ok_or_else(|| invalid("no nextUpdate".into()))?;
    if unix(now) < this_update || unix(now) > next_update {
        return Err(SevError::CrlOutdated {
            product: product.name().to_owned(),
            this_update,
            next_update,
            now,
        });
    }
    let ask_serial = trimmed(ask.raw_serial());
    if crl
        .iter_revoked_certificates()
        .any(|r| trimmed(r.raw_serial()) == ask_serial)
    {
        return Err(SevError::Revoked {
            link: ChainLink::Ask,
            product: product.name().to_owned(),
            serial: hex::encode(ask_serial),
        });
    }
    Ok(())
}

/// Verify that `vcek` chains to the trusted ARK of its product at `now`, with
/// the product's CRL from `collateral` (refused when absent and `require_crl`).
pub fn verify_vcek_chain(
    vcek: &Vcek,
    trust: &SevTrust,
    collateral: &SevCollateral,
    now: u64,
    require_crl: bool,
) -> Result<(), SevError> {
    let product = vcek.product;
    let roots = trust
        .roots(product)
        .ok_or_else(|| SevError::CollateralMissing {
            product: product.name().to_owned(),
            what: "a trusted ARK".into(),
        })?;
    let supplied = collateral.product(product);
    if let Some(ark) = supplied.and_then(|c| c.ark_der.as_ref()) {
        if *ark != roots.ark_der {
            return Err(SevError::ArkNotPinned {
                product: product.name().to_owned(),
            });
        }
    }
    let ask_der = supplied
        .and_then(|c| c.ask_der.as_ref())
        .unwrap_or(&roots.ask_der);
    let ark = parse_cert(&roots.ark_der, ChainLink::Ark)?;
    let ask = parse_cert(ask_der, ChainLink::Ask)?;
    let leaf = parse_cert(&vcek.der, ChainLink::Vcek)?;

    check_validity(&ark, ChainLink::Ark, now)?;
    check_issued_by(&ask, &ark, ChainLink::Ask, product)?;
    check_validity(&ask, ChainLink::Ask, now)?;
    check_issued_by(&leaf, &ask, ChainLink::Vcek, product)?;
    check_validity(&leaf, ChainLink::Vcek, now)?;

    match supplied.and_then(|c| c.crl_der.as_ref()) {
        Some(crl) => check_crl(crl, &ark, &ask, product, now),
        None if require_crl => Err(SevError::CollateralMissing {
            product: product.name().to_owned(),
            what: "the ARK's CRL".into(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_ark_is_self_signed_and_signs_its_ask() {
        let trust = SevTrust::amd();
        for product in Product::ALL {
            let roots = trust.roots(product).expect("pinned roots parse");
            let ark = parse_cert(&roots.ark_der, ChainLink::Ark).expect("ARK");
            let ask = parse_cert(&roots.ask_der, ChainLink::Ask).expect("ASK");
            check_issued_by(&ark, &ark, ChainLink::Ark, product).expect("ARK self-signed");
            check_issued_by(&ask, &ark, ChainLink::Ask, product).expect("ASK signed by ARK");
            let cn = format!("ARK-{}", product.name());
            assert!(ark.subject().to_string().contains(&cn), "{}", ark.subject());
        }
    }
}
