//! SEV-SNP collateral from a local server standing in for AMD's KDS (same
//! paths; the synthetic PKI of `data/sev/synthetic`): the first verification
//! fetches chain and CRL, the second uses the memory cache, a fresh source on
//! the same directory the disk cache; after the CRL's nextUpdate it is
//! fetched again; with the server down a cached, unexpired entry still works
//! and an expired one is a clear error. The chip's VCEK is fetched by hwID
//! and TCB and kept in `vcek.pem`.

mod sev_support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use cocoon_tee::cert::{generate_with_sev_evidence, pem_decode, pem_encode, report_data_for_key};
use cocoon_tee::cert::{CertKey, ParsedCert};
use cocoon_tee::sev::kds::vcek_path;
use cocoon_tee::sev::report::SnpReport;
use cocoon_tee::sev::{
    KdsClient, KdsCollateral, Product, SevCollateralSource, SevError, SevEvidence, SevPolicy,
    SevReportCache, SevVerification,
};
use sev_support::*;

/// A one-thread HTTP/1.1 server answering GETs from `routes`.
struct FakeKds {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl FakeKds {
    fn start(routes: HashMap<String, Vec<u8>>) -> FakeKds {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return; // drops the listener: connections are refused
                }
                let Ok(mut conn) = conn else { continue };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                seen.lock().expect("lock").push(path.clone());
                let (status, body) = match routes.get(&path) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", Vec::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            }
        });
        FakeKds {
            url: format!("http://{addr}"),
            requests,
            stop,
            addr,
        }
    }

    fn count(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        // Wait until the listener is gone.
        for _ in 0..200 {
            if std::net::TcpStream::connect(self.addr).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("fake KDS did not stop");
    }
}

fn synthetic_routes() -> HashMap<String, Vec<u8>> {
    let crl_der = pem_decode(std::str::from_utf8(SYN_CRL).expect("utf8"), "X509 CRL").expect("crl");
    let report = SnpReport::parse(MILAN_REPORT).expect("report");
    let vcek = vcek_path(
        Product::Milan,
        &report.chip_id,
        &report.reported_tcb_for(Product::Milan),
    );
    HashMap::from([
        ("/vcek/v1/Milan/cert_chain".to_owned(), SYN_CHAIN.to_vec()),
        ("/vcek/v1/Milan/crl".to_owned(), crl_der),
        (vcek, SYN_VCEK.to_vec()),
    ])
}

fn cache_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cocoon-sev-kds-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn source(kds: &FakeKds, dir: &std::path::Path) -> Arc<KdsCollateral> {
    let client = KdsClient::new(&kds.url).with_timeout(Duration::from_secs(10));
    Arc::new(KdsCollateral::new(client, Some(dir.to_path_buf())))
}

/// RA-TLS evidence of a fresh key: the real report bound to it, re-signed
/// with the synthetic VCEK; returns (public key, certificate DER).
fn peer_certificate() -> ParsedCert {
    let key = CertKey::generate();
    let data = report_data_for_key(&key.public_key());
    let report = resigned(|r| r[0x50..0x90].copy_from_slice(&data));
    let made = generate_with_sev_evidence(
        key,
        report,
        pem_encode("CERTIFICATE", SYN_VCEK).into_bytes(),
        UNIX_EPOCH + Duration::from_secs(NOW - 60),
    )
    .expect("certificate");
    ParsedCert::from_der(made.cert_der()).expect("parse")
}

fn evidence(cert: &ParsedCert) -> SevEvidence<'_> {
    SevEvidence {
        public_key: &cert.public_key,
        report_data_extension: cert.sev_report_data.as_deref().expect("report data"),
        report: cert.sev_report.as_deref().expect("report"),
        vcek: cert.sev_vcek.as_deref().expect("vcek"),
    }
}

#[test]
fn first_verification_fetches_then_the_caches_answer() {
    let kds = FakeKds::start(synthetic_routes());
    let dir = cache_dir("caches");
    let kds_source = source(&kds, &dir);
    // No report cache: every verification asks the collateral source.
    let verification = SevVerification::with_source(
        synthetic_verifier(SevPolicy::default()),
        kds_source.clone(),
        None,
    );
    let cert = peer_certificate();
    verification
        .verify(&evidence(&cert), NOW)
        .expect("first verification");
    assert_eq!(kds.count(), 2, "chain and CRL fetched");
    assert_eq!(kds_source.fetches(), 1);
    verification
        .verify(&evidence(&cert), NOW + 60)
        .expect("second verification");
    assert_eq!(kds.count(), 2, "memory cache");
    assert!(dir.join("Milan.cert_chain.pem").is_file());
    assert!(dir.join("Milan.cert_chain_crl.pem").is_file());

    // A new source on the same directory (a restart) reads the disk cache.
    let restarted = source(&kds, &dir);
    restarted
        .collateral_for(Product::Milan, NOW)
        .expect("from disk");
    assert_eq!((kds.count(), restarted.fetches()), (2, 0));
    // The directory is in the reference's layout: --sev-pki reads it too.
    let loaded = cocoon_tee::sev::SevCollateral::load(&dir).expect("load");
    assert!(loaded
        .product(Product::Milan)
        .is_some_and(|c| c.crl_der.is_some()));

    // After the CRL's nextUpdate the collateral is fetched again; the
    // server still has the old CRL, so that is a clear error.
    let err = verification
        .verify(&evidence(&cert), AFTER_SYN_CRL)
        .unwrap_err();
    assert_eq!(kds.count(), 4, "re-fetched after expiry");
    assert!(
        matches!(&err, SevError::CollateralUnavailable { detail } if detail.contains("expired")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_the_server_down_the_unexpired_cache_still_works() {
    let kds = FakeKds::start(synthetic_routes());
    let dir = cache_dir("down");
    source(&kds, &dir)
        .collateral_for(Product::Milan, NOW)
        .expect("fetched");
    kds.stop();

    let verification = SevVerification::with_source(
        synthetic_verifier(SevPolicy::default()),
        source(&kds, &dir),
        Some(Arc::new(SevReportCache::default())),
    );
    let cert = peer_certificate();
    verification
        .verify(&evidence(&cert), NOW)
        .expect("cached collateral, server down");

    let err = source(&kds, &dir)
        .collateral_for(Product::Milan, AFTER_SYN_CRL)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SEV-SNP collateral unavailable: AMD KDS: GET http://"),
        "{err}"
    );
    assert!(err.contains("/vcek/v1/Milan/cert_chain"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_chips_vcek_is_fetched_by_hwid_and_tcb_and_kept() {
    let kds = FakeKds::start(synthetic_routes());
    let dir = cache_dir("vcek");
    let report = SnpReport::parse(MILAN_REPORT).expect("report");
    let kds_source = source(&kds, &dir);
    let err = kds_source
        .vcek_for(&report, None, NOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("say which product"), "version 2 report: {err}");
    let pem = kds_source
        .vcek_for(&report, Some(Product::Milan), NOW)
        .expect("VCEK");
    assert_eq!(
        pem_decode(std::str::from_utf8(&pem).expect("PEM"), "CERTIFICATE").expect("der"),
        SYN_VCEK
    );
    let path = kds.requests.lock().expect("lock")[0].clone();
    assert!(
        path.starts_with("/vcek/v1/Milan/")
            && path.ends_with("?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115"),
        "{path}"
    );
    assert_eq!(std::fs::read(dir.join("vcek.pem")).expect("vcek.pem"), pem);
    assert_eq!(
        source(&kds, &dir)
            .vcek_for(&report, Some(Product::Milan), NOW)
            .expect("cached"),
        pem
    );
    assert_eq!(kds.count(), 1, "second VCEK from vcek.pem");

    // Unknown paths (another chip) are HTTP errors, reported as such.
    let mut other = MILAN_REPORT.to_vec();
    other[0x1A0] ^= 1;
    let other = SnpReport::parse(&other).expect("report");
    let err = source(&kds, &dir)
        .vcek_for(&other, Some(Product::Milan), NOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("HTTP 404"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
