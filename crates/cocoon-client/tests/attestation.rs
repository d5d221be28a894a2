//! The library's attestation check: a proxy whose certificate carries a tampered quote is
//! refused during the RA-TLS handshake, before any prompt byte is sent; a policy that does
//! not require a TEE is refused unless the app opts out by name.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use cocoon_client::{Cocoon, Error};
use cocoon_node::common::dial::TeeMode;
use cocoon_node::proxy::{self, GateOptions, ProxyListeners};
use cocoon_tee::{AttestError, QuoteProvider, TeeKind};
use support::*;

/// A simulated TEE whose quotes are altered after the fact: the report data no longer
/// matches the certificate key.
#[derive(Debug)]
struct TamperedQuotes;

impl QuoteProvider for TamperedQuotes {
    fn kind(&self) -> TeeKind {
        TeeKind::Fake
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
        let mut quote = report_data.to_vec();
        quote[0] ^= 1;
        Ok(quote)
    }
}

/// A proxy (fake TEE gate) that presents a certificate with a tampered quote.
async fn tampered_proxy() -> cocoon_node::proxy::ProxyHandle {
    let opts = GateOptions {
        tee: TeeMode::Fake,
        worker_policy: "fake".into(),
        client_policy: "any".into(),
        pow_difficulty: 0,
    };
    let (gate, own) = proxy::build_gate(&opts).expect("gate");
    let tampered =
        cocoon_tee::cert::generate(Some(&TamperedQuotes), SystemTime::now()).expect("cert");
    own.replace(&tampered).expect("replace");
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let listeners = ProxyListeners {
        workers: Some(bind().await.expect("bind")),
        clients: Some(bind().await.expect("bind")),
        ..ProxyListeners::default()
    };
    proxy::start(settings(), gate, listeners)
        .await
        .expect("proxy starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_proxy_quote_is_refused_before_any_prompt_byte() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let proxy = tampered_proxy().await;
    let result = builder(root_for(&proxy, vec![]))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await;
    let Err(Error::Connect { reasons, .. }) = result else {
        panic!("a tampered proxy must not be connected to");
    };
    eprintln!("refused: {reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("attested link")),
        "{reasons:?}"
    );
    // No client session was ever established, so no request (no prompt byte) arrived.
    let counters = &proxy.shared.counters;
    assert_eq!(counters.client_connections.load(Ordering::Relaxed), 0);
    assert_eq!(counters.queries.load(Ordering::Relaxed), 0);

    // The same proxy with attestation skipped by name: connected (so the refusal above was
    // the quote check, not the network).
    let skipped = Cocoon::builder()
        .wallet(OWNER, "")
        .root(root_for(&proxy, vec![]))
        .insecure_skip_attestation_i_understand()
        .connect_timeout(WAIT)
        .connect()
        .await;
    assert!(skipped.is_ok(), "{:?}", skipped.err());
}

#[tokio::test]
async fn a_policy_without_a_tee_needs_a_named_opt_out() {
    let proxy_free_root = cocoon_node::config::LocalRootConfig::default();
    for name in ["any", "fake"] {
        let err = Cocoon::builder()
            .wallet(OWNER, "")
            .root(proxy_free_root.clone())
            .policy(name)
            .connect()
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(&err, Error::Config(m) if m.contains("say so by name")),
            "{name}: {err}"
        );
    }
}
