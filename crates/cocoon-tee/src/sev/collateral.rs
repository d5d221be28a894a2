//! SEV-SNP collateral, read from PEM: per product the ASK → ARK chain and the
//! ARK's CRL as AMD's KDS serves them (`/vcek/v1/{product}/cert_chain`, and
//! `/crl` converted to PEM), plus any VCEKs. One PEM file may hold all of it,
//! or a directory in the reference's layout (`<Product>.cert_chain.pem`,
//! `<Product>.cert_chain_crl.pem`, `vcek.pem`) is read whole.
//!
//! Certificates are sorted by subject common name (`ARK-Milan`, `SEV-Milan`,
//! `SEV-VCEK`), CRLs by issuer (`ARK-Milan`); whether they are genuine is
//! decided by [`super::chain::verify_vcek_chain`], not here.

use std::path::Path;
use std::sync::Arc;

use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::X509Name;

use super::error::SevError;
use super::product::Product;

/// Largest collateral file accepted.
pub const MAX_COLLATERAL_LEN: usize = 1024 * 1024;

/// Where verification gets the collateral of a product: loaded once
/// ([`FixedSevCollateral`]) or fetched and cached ([`super::kds::KdsCollateral`]).
pub trait SevCollateralSource: std::fmt::Debug + Send + Sync {
    /// The collateral to verify a `product` VCEK with at UNIX time `now`.
    fn collateral_for(&self, product: Product, now: u64) -> Result<Arc<SevCollateral>, SevError>;
}

/// Collateral read once (`--sev-pki`).
#[derive(Debug, Clone)]
pub struct FixedSevCollateral(pub Arc<SevCollateral>);

impl SevCollateralSource for FixedSevCollateral {
    fn collateral_for(&self, _: Product, _: u64) -> Result<Arc<SevCollateral>, SevError> {
        Ok(self.0.clone())
    }
}

/// What the collateral holds for one product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductCollateral {
    pub ark_der: Option<Vec<u8>>,
    pub ask_der: Option<Vec<u8>>,
    pub crl_der: Option<Vec<u8>>,
}

/// Chains, CRLs and VCEKs for offline verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SevCollateral {
    products: Vec<(Product, ProductCollateral)>,
    vceks: Vec<Vec<u8>>,
}

fn malformed(reason: impl Into<String>) -> SevError {
    SevError::CollateralMalformed {
        reason: reason.into(),
    }
}

fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// `ARK-Milan` → (Milan, true); `SEV-Milan` → (Milan, false).
fn role(cn: &str) -> Option<(Product, bool)> {
    let (prefix, product) = cn.split_once('-')?;
    let product = Product::ALL.into_iter().find(|p| p.name() == product)?;
    match prefix {
        "ARK" => Some((product, true)),
        "SEV" => Some((product, false)),
        _ => None,
    }
}

impl SevCollateral {
    /// Collateral holding nothing (verification then needs `require_crl`
    /// off, and uses the pinned ASKs).
    pub fn empty() -> SevCollateral {
        SevCollateral::default()
    }

    /// What was read for `product`.
    pub fn product(&self, product: Product) -> Option<&ProductCollateral> {
        self.products
            .iter()
            .find(|(p, _)| *p == product)
            .map(|(_, c)| c)
    }

    fn entry(&mut self, product: Product) -> &mut ProductCollateral {
        if let Some(i) = self.products.iter().position(|(p, _)| *p == product) {
            return &mut self.products[i].1;
        }
        self.products.push((product, ProductCollateral::default()));
        let last = self.products.len() - 1;
        &mut self.products[last].1
    }

    /// The VCEKs (DER) read, in order.
    pub fn vceks(&self) -> &[Vec<u8>] {
        &self.vceks
    }

    /// Add every `CERTIFICATE` and `X509 CRL` block of `pem_text`.
    pub fn add_pem(&mut self, pem_text: &[u8]) -> Result<(), SevError> {
        if pem_text.len() > MAX_COLLATERAL_LEN {
            return Err(malformed(format!(
                "{} bytes of PEM, at most {MAX_COLLATERAL_LEN} accepted",
                pem_text.len()
            )));
        }
        for block in Pem::iter_from_buffer(pem_text) {
            let block = block.map_err(|e| malformed(format!("PEM: {e}")))?;
            match block.label.as_str() {
                "CERTIFICATE" => self.add_certificate(block.contents)?,
                "X509 CRL" => self.add_crl(block.contents)?,
                other => return Err(malformed(format!("unexpected PEM block {other:?}"))),
            }
        }
        Ok(())
    }

    /// Add one certificate (DER): an ARK, an ASK or a VCEK.
    pub fn add_certificate(&mut self, der: Vec<u8>) -> Result<(), SevError> {
        let (_, cert) =
            X509Certificate::from_der(&der).map_err(|e| malformed(format!("certificate: {e}")))?;
        let cn = common_name(cert.subject()).unwrap_or_default();
        if cn == "SEV-VCEK" {
            drop(cert);
            self.vceks.push(der);
            return Ok(());
        }
        let (product, is_ark) =
            role(&cn).ok_or_else(|| malformed(format!("certificate {cn:?} is no ARK/ASK")))?;
        drop(cert);
        let entry = self.entry(product);
        if is_ark {
            entry.ark_der = Some(der);
        } else {
            entry.ask_der = Some(der);
        }
        Ok(())
    }

    /// Add one CRL (DER), filed under the product of its issuing ARK.
    pub fn add_crl(&mut self, der: Vec<u8>) -> Result<(), SevError> {
        let (_, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| malformed(format!("CRL: {e}")))?;
        let cn = common_name(crl.issuer()).unwrap_or_default();
        let product = match role(&cn) {
            Some((product, true)) => product,
            _ => return Err(malformed(format!("CRL issuer {cn:?} is no ARK"))),
        };
        drop(crl);
        self.entry(product).crl_der = Some(der);
        Ok(())
    }

    /// Read a PEM file, or every `*.pem` file of a directory.
    pub fn load(path: &Path) -> Result<SevCollateral, SevError> {
        let io = |e: std::io::Error| malformed(format!("{}: {e}", path.display()));
        let mut collateral = SevCollateral::default();
        if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "pem"))
                .collect();
            files.sort();
            for file in files {
                collateral.add_pem(&read_bounded(&file)?)?;
            }
        } else {
            collateral.add_pem(&read_bounded(path)?)?;
        }
        Ok(collateral)
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, SevError> {
    let len = std::fs::metadata(path)
        .map_err(|e| malformed(format!("{}: {e}", path.display())))?
        .len();
    if len > MAX_COLLATERAL_LEN as u64 {
        return Err(malformed(format!(
            "{}: {len} bytes, at most {MAX_COLLATERAL_LEN} accepted",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| malformed(format!("{}: {e}", path.display())))
}
