//! SEV-SNP collateral from AMD's Key Distribution Service (KDS) or a mirror
//! with the same paths, cached in memory and on disk until it expires:
//!
//! * `/vcek/v1/{product}/cert_chain`: ASK then ARK, PEM;
//! * `/vcek/v1/{product}/crl`: the ARK's CRL, DER;
//! * `/vcek/v1/{product}/{hwid hex}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..`
//!   (Turin: `fmcSPL` first): the chip's VCEK, DER.
//!
//! The disk cache is a directory in the reference's `/etc/tee/sev` layout
//! (`<Product>.cert_chain.pem`, `<Product>.cert_chain_crl.pem`, `vcek.pem`),
//! so it can also be read with `--sev-pki`. A product's chain and CRL are
//! kept until the earliest of the ASK's and ARK's notAfter and the CRL's
//! nextUpdate, then fetched again; the VCEK until its notAfter or until the
//! report shows another chip or TCB. Files are written atomically. Whether
//! fetched collateral is genuine is decided by [`super::chain`] on every
//! verification, not here; here it only has to parse and name the product.
//! HTTP is [`crate::http_fetch`] (timeout, size limit), as for Intel's PCS.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::collateral::{SevCollateral, SevCollateralSource, MAX_COLLATERAL_LEN};
use super::error::SevError;
use super::guest::chip_vcek_pem;
use super::product::{Product, TcbVersion};
use super::report::SnpReport;
use super::vcek::Vcek;
use crate::cert::pem_encode;

/// AMD's Key Distribution Service.
pub const AMD_KDS_URL: &str = "https://kdsintf.amd.com";
/// Default total time one KDS request may take.
pub const DEFAULT_KDS_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest KDS response accepted (a chain is about 4 KB, a CRL a few KB).
pub const MAX_KDS_RESPONSE: usize = 256 * 1024;

fn unavailable(detail: impl Into<String>) -> SevError {
    SevError::CollateralUnavailable {
        detail: detail.into(),
    }
}

/// The KDS path of the VCEK for `hw_id` at `tcb`.
pub fn vcek_path(product: Product, hw_id: &[u8], tcb: &TcbVersion) -> String {
    let mut query = Vec::new();
    if let Some(fmc) = tcb.fmc {
        query.push(format!("fmcSPL={fmc}"));
    }
    query.push(format!("blSPL={}", tcb.bootloader));
    query.push(format!("teeSPL={}", tcb.tee));
    query.push(format!("snpSPL={}", tcb.snp));
    query.push(format!("ucodeSPL={}", tcb.microcode));
    format!(
        "/vcek/v1/{}/{}?{}",
        product.name(),
        hex::encode(hw_id),
        query.join("&")
    )
}

/// The chip id prefix that is a `product` hwID (Turin: 8 bytes, else 64).
fn hw_id(report: &SnpReport, product: Product) -> &[u8] {
    let len = if product == Product::Turin { 8 } else { 64 };
    &report.chip_id[..len]
}

/// Talks to a KDS at one base URL.
#[derive(Debug, Clone)]
pub struct KdsClient {
    base_url: String,
    timeout: Duration,
}

impl KdsClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        KdsClient {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            timeout: DEFAULT_KDS_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// GET `path` (blocking; safe inside a tokio runtime).
    fn get(&self, path: &str) -> Result<Vec<u8>, SevError> {
        let url = format!("{}{path}", self.base_url);
        let timeout = self.timeout;
        crate::http_fetch::block_on_helper(move || async move {
            let client = crate::http_fetch::client(timeout)?;
            crate::http_fetch::get_bounded(&client, &url, MAX_KDS_RESPONSE)
                .await
                .map(|(body, _)| body)
        })
        .and_then(|r| r)
        .map_err(|e| unavailable(format!("AMD KDS: {e}")))
    }

    /// ASK then ARK of `product`, PEM.
    pub fn cert_chain(&self, product: Product) -> Result<Vec<u8>, SevError> {
        self.get(&format!("/vcek/v1/{}/cert_chain", product.name()))
    }

    /// The ARK's CRL of `product`, DER.
    pub fn crl(&self, product: Product) -> Result<Vec<u8>, SevError> {
        self.get(&format!("/vcek/v1/{}/crl", product.name()))
    }

    /// The VCEK (DER) that signs `report`, a `product` report.
    pub fn vcek(&self, report: &SnpReport, product: Product) -> Result<Vec<u8>, SevError> {
        let tcb = report.reported_tcb_for(product);
        self.get(&vcek_path(product, hw_id(report, product), &tcb))
    }
}

fn unix(time: i64) -> u64 {
    u64::try_from(time).unwrap_or(0)
}

/// Until when `collateral`'s `product` chain and CRL may be used: the
/// earliest notAfter/nextUpdate; `None` when the chain or CRL is missing.
fn good_until(collateral: &SevCollateral, product: Product) -> Option<u64> {
    let entry = collateral.product(product)?;
    let mut until = u64::MAX;
    for der in [entry.ask_der.as_deref()?, entry.ark_der.as_deref()?] {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        until = until.min(unix(cert.validity().not_after.timestamp()));
    }
    let (_, crl) = CertificateRevocationList::from_der(entry.crl_der.as_deref()?).ok()?;
    if let Some(next) = crl.next_update() {
        until = until.min(unix(next.timestamp()));
    }
    Some(until)
}

fn chain_file(dir: &Path, product: Product) -> PathBuf {
    dir.join(format!("{}.cert_chain.pem", product.name()))
}

fn crl_file(dir: &Path, product: Product) -> PathBuf {
    dir.join(format!("{}.cert_chain_crl.pem", product.name()))
}

/// `bytes` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    let len = std::fs::metadata(path).ok()?.len();
    if len > MAX_COLLATERAL_LEN as u64 {
        return None;
    }
    std::fs::read(path).ok()
}

/// Collateral fetched from a KDS on demand, kept per product until it
/// expires, in memory and (with a cache directory) on disk.
#[derive(Debug)]
pub struct KdsCollateral {
    client: KdsClient,
    cache_dir: Option<PathBuf>,
    memory: Mutex<HashMap<Product, (Arc<SevCollateral>, u64)>>,
    fetches: AtomicU64,
}

impl KdsCollateral {
    pub fn new(client: KdsClient, cache_dir: Option<PathBuf>) -> Self {
        KdsCollateral {
            client,
            cache_dir,
            memory: Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn client(&self) -> &KdsClient {
        &self.client
    }

    /// How many times collateral was fetched from the KDS (not the caches).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A product's chain and CRL from the disk cache, if still good at `now`.
    fn read_disk_cache(&self, product: Product, now: u64) -> Option<(SevCollateral, u64)> {
        let dir = self.cache_dir.as_deref()?;
        let mut collateral = SevCollateral::empty();
        collateral
            .add_pem(&read_small(&chain_file(dir, product))?)
            .ok()?;
        collateral
            .add_pem(&read_small(&crl_file(dir, product))?)
            .ok()?;
        let until = good_until(&collateral, product)?;
        (now < until).then_some((collateral, until))
    }

    /// Fetch a product's chain and CRL, check they parse and are that
    /// product's, and store them on disk.
    fn fetch(&self, product: Product, now: u64) -> Result<(SevCollateral, u64), SevError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let chain_pem = self.client.cert_chain(product)?;
        let crl_der = self.client.crl(product)?;
        let crl_pem = pem_encode("X509 CRL", &crl_der);
        let mut collateral = SevCollateral::empty();
        collateral.add_pem(&chain_pem)?;
        collateral.add_pem(crl_pem.as_bytes())?;
        let until = good_until(&collateral, product).ok_or_else(|| {
            unavailable(format!(
                "AMD KDS at {} sent no complete {product} chain and CRL",
                self.client.base_url
            ))
        })?;
        if until <= now {
            return Err(unavailable(format!(
                "AMD KDS at {} sent {product} collateral that expired at {until} (now {now})",
                self.client.base_url
            )));
        }
        if let Some(dir) = &self.cache_dir {
            let stored = std::fs::create_dir_all(dir)
                .and_then(|()| write_atomically(&chain_file(dir, product), &chain_pem))
                .and_then(|()| write_atomically(&crl_file(dir, product), crl_pem.as_bytes()));
            if let Err(e) = stored {
                tracing::warn!(dir = %dir.display(), error = %e, "SEV-SNP collateral: could not write the disk cache");
            }
        }
        Ok((collateral, until))
    }

    /// This chip's VCEK for `report` (PEM): from `vcek.pem` in the cache
    /// directory when it is the chip's, for the reported TCB and unexpired;
    /// else fetched (and stored there). The product is `product`, else the
    /// one the report's CPUID names (report version 3 and later).
    pub fn vcek_for(
        &self,
        report: &SnpReport,
        product: Option<Product>,
        now: u64,
    ) -> Result<Vec<u8>, SevError> {
        let product = product.or(report.cpu_product()).ok_or_else(|| {
            unavailable(format!(
                "the report (version {}) names no known CPU (family {:#x}, model {:#x}); say which product (Milan, Genoa, Turin) to ask the KDS for its VCEK",
                report.version, report.cpuid_family, report.cpuid_model
            ))
        })?;
        let tcb = report.reported_tcb_for(product);
        let cached = self.cache_dir.as_deref().map(|dir| dir.join("vcek.pem"));
        if let Some(pem) = cached.as_deref().and_then(read_small) {
            let usable = Vcek::parse(&pem).ok().is_some_and(|vcek| {
                vcek.tcb == tcb
                    && chip_vcek_pem(report, &pem).is_ok()
                    && X509Certificate::from_der(&vcek.der)
                        .is_ok_and(|(_, c)| now < unix(c.validity().not_after.timestamp()))
            });
            if usable {
                return Ok(pem);
            }
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let der = self.client.vcek(report, product)?;
        let pem = chip_vcek_pem(report, &der)?.into_bytes();
        if let (Some(path), Some(dir)) = (&cached, &self.cache_dir) {
            let stored = std::fs::create_dir_all(dir).and_then(|()| write_atomically(path, &pem));
            if let Err(e) = stored {
                tracing::warn!(path = %path.display(), error = %e, "SEV-SNP VCEK: could not write the disk cache");
            }
        }
        Ok(pem)
    }
}

impl SevCollateralSource for KdsCollateral {
    fn collateral_for(&self, product: Product, now: u64) -> Result<Arc<SevCollateral>, SevError> {
        if let Ok(memory) = self.memory.lock() {
            if let Some((collateral, until)) = memory.get(&product) {
                if now < *until {
                    return Ok(collateral.clone());
                }
            }
        }
        let (collateral, until) = match self.read_disk_cache(product, now) {
            Some(found) => found,
            None => self.fetch(product, now)?,
        };
        let collateral = Arc::new(collateral);
        if let Ok(mut memory) = self.memory.lock() {
            memory.insert(product, (collateral.clone(), until));
        }
        Ok(collateral)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcek_paths_name_every_spl_in_the_products_order() {
        let milan = TcbVersion {
            fmc: None,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
        };
        assert_eq!(
            vcek_path(Product::Milan, &[0xab, 0x01], &milan),
            "/vcek/v1/Milan/ab01?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"
        );
        let turin = TcbVersion {
            fmc: Some(1),
            ..milan
        };
        assert_eq!(
            vcek_path(Product::Turin, &[0xff], &turin),
            "/vcek/v1/Turin/ff?fmcSPL=1&blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"
        );
    }
}
