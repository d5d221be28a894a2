//! Collateral fetching against a local mock PCCS that serves the dcap-qvl
//! vector's collateral the way a PCCS does (API v4: issuer chains in
//! percent-encoded headers, signed JSON bodies, hex root CA CRL). The fetched
//! collateral must verify the quote. Needs `COCOON_VECTORS`.

mod attest_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use attest_support::{collateral, read, time_inside, vectors};
use cocoon_tee::dcap::{
    fetch_collateral, fetch_collateral_blocking, Collateral, CollateralSource, DcapVerifier,
    PccsCollateral, PlatformId,
};
use cocoon_tee::quote::ParsedQuote;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// (status line, headers, body) for a request path.
fn respond(
    c: &Collateral,
    fmspc: &str,
    path: &str,
) -> (&'static str, Vec<(String, String)>, Vec<u8>) {
    let c = c.inner();
    let signed = |key: &str, json: &str, sig: &[u8]| {
        format!(r#"{{"{key}":{json},"signature":"{}"}}"#, hex::encode(sig))
    };
    if path == "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" {
        let h = vec![(
            "SGX-PCK-CRL-Issuer-Chain".into(),
            percent_encode(&c.pck_crl_issuer_chain),
        )];
        ("200 OK", h, c.pck_crl.clone())
    } else if path == format!("/tdx/certification/v4/tcb?fmspc={fmspc}") {
        let h = vec![(
            "TCB-Info-Issuer-Chain".into(),
            percent_encode(&c.tcb_info_issuer_chain),
        )];
        (
            "200 OK",
            h,
            signed("tcbInfo", &c.tcb_info, &c.tcb_info_signature).into_bytes(),
        )
    } else if path == "/tdx/certification/v4/qe/identity" {
        let h = vec![(
            "SGX-Enclave-Identity-Issuer-Chain".into(),
            percent_encode(&c.qe_identity_issuer_chain),
        )];
        (
            "200 OK",
            h,
            signed("enclaveIdentity", &c.qe_identity, &c.qe_identity_signature).into_bytes(),
        )
    } else if path == "/sgx/certification/v4/rootcacrl" {
        (
            "200 OK",
            Vec::new(),
            hex::encode(&c.root_ca_crl).into_bytes(),
        )
    } else {
        ("404 Not Found", Vec::new(), Vec::new())
    }
}

/// Start the mock; returns its base URL and its request counter.
async fn mock_pccs(collateral: Arc<Collateral>, fmspc: String) -> (String, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (collateral, fmspc, counter) = (collateral.clone(), fmspc.clone(), counter.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, headers, body) = respond(&collateral, &fmspc, &path);
                let mut head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    (format!("http://{addr}/"), requests)
}

#[tokio::test(flavor = "multi_thread")]
async fn fetched_collateral_verifies_the_quote() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote");
    let served = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    let now = time_inside(&served);
    let quote = ParsedQuote::parse(&raw).expect("quote");
    let platform = PlatformId::of_quote(&quote).expect("platform");
    assert_eq!((platform.tee, platform.ca), ("tdx", "platform"));
    let (url, _) = mock_pccs(Arc::new(served.clone()), platform.fmspc.clone()).await;

    let fetched = fetch_collateral(&url, &quote).await.expect("fetch");
    let inner = fetched.inner();
    assert_eq!(
        inner.tcb_info,
        served.inner().tcb_info,
        "signed JSON kept byte for byte"
    );
    assert_eq!(inner.qe_identity, served.inner().qe_identity);
    assert_eq!(inner.root_ca_crl, served.inner().root_ca_crl);
    assert_eq!(
        inner.pck_crl_issuer_chain,
        served.inner().pck_crl_issuer_chain
    );
    assert!(inner
        .pck_certificate_chain
        .as_deref()
        .is_some_and(|pem| pem.contains("BEGIN CERTIFICATE")));
    let report = DcapVerifier::new()
        .verify(&raw, &fetched, now)
        .expect("verifies with fetched collateral");
    assert_eq!(report.tcb_status, "UpToDate");

    // The blocking variant works from inside a runtime too (own thread and runtime).
    let blocking = tokio::task::spawn_blocking(move || fetch_collateral_blocking(&url, &quote))
        .await
        .expect("join");
    assert_eq!(
        blocking.expect("blocking fetch").inner().tcb_info,
        served.inner().tcb_info
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pccs_source_fetches_once_per_platform_while_valid() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, "dcap-qvl/tdx_quote");
    let served = collateral(&dir, "dcap-qvl/tdx_quote_collateral.json");
    let (_, until) = served.validity_window().expect("window");
    let now = time_inside(&served);
    let quote = ParsedQuote::parse(&raw).expect("quote");
    let fmspc = PlatformId::of_quote(&quote).expect("platform").fmspc;
    let (url, requests) = mock_pccs(Arc::new(served), fmspc).await;
    let source = PccsCollateral::new(url);
    tokio::task::spawn_blocking(move || {
        let first = source.collateral_for(&quote, now).expect("first fetch");
        assert_eq!(
            requests.load(Ordering::SeqCst),
            4,
            "PCK CRL, TCB info, QE identity, root CA CRL"
        );
        let second = source.collateral_for(&quote, now + 1).expect("cached");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(
            requests.load(Ordering::SeqCst),
            4,
            "served from the per-platform cache"
        );
        source
            .collateral_for(&quote, until)
            .expect("refetched at expiry");
        assert_eq!(requests.load(Ordering::SeqCst), 8);
    })
    .await
    .expect("join");
}

#[tokio::test]
async fn unreachable_pccs_is_collateral_unavailable() {
    let Some(dir) = vectors() else { return };
    let quote = ParsedQuote::parse(&read(&dir, "dcap-qvl/tdx_quote")).expect("quote");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let err = fetch_collateral(&url, &quote).await.unwrap_err();
    assert!(
        matches!(err, cocoon_tee::AttestError::CollateralUnavailable { .. }),
        "{err}"
    );
}
