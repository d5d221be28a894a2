//! A SEV-SNP peer admitted (or refused) by a `tdx` policy from its RA-TLS
//! certificate: the three SEV extensions built from the synthetic PKI (a real
//! Milan report re-signed with the synthetic VCEK), checked by
//! `check_peer_certificate` as a proxy does during the handshake, and in a
//! full RA-TLS handshake of a worker with a proxy; the router record's SEV
//! variant for the admitted peer; and the verification cache.

mod link_support;
mod sev_support;

use std::sync::Arc;

use cocoon_tee::cache::CachedVerifier;
use cocoon_tee::cert;
use cocoon_tee::cert::{pem_encode, report_data_for_key, CertKey};
use cocoon_tee::dcap::{DcapVerifier, PccsCollateral};
use cocoon_tee::peer_info::{AttestedPeerInfo, Endpoint, PeerReport, RelayedPolicy};
use cocoon_tee::policy::{PolicyConfig, PolicyKind, TdxPolicy};
use cocoon_tee::sev::{
    sev_image_hash, SevError, SevEvidence, SevPolicy, SevReportCache, SevVerification,
};
use cocoon_tee::tls::FixedClock;
use cocoon_tee::tls::{check_peer_certificate, PeerRejected, PeerRole};
use cocoon_tee::{AttestError, PeerIdentity, TeeKind};
use link_support::{
    any_policy, at, client_config, critical_ext, odd_ed25519, odd_params, own, run_link,
    server_config,
};
use sev_support::*;

const SEV_REPORT_DATA_ARCS: [u64; 8] = [1, 3, 6, 1, 4, 1, 12345, 100];
const SEV_REPORT_ARCS: [u64; 8] = [1, 3, 6, 1, 4, 1, 12345, 101];
const SEV_VCEK_ARCS: [u64; 8] = [1, 3, 6, 1, 4, 1, 12345, 102];

fn measurement() -> [u8; 48] {
    MILAN_REPORT[0x90..0xC0].try_into().expect("48 bytes")
}

/// The genuine report with its report data set to SHA-512(`bound_to`),
/// re-signed with the synthetic VCEK.
fn report_bound_to(bound_to: &[u8; 32]) -> Vec<u8> {
    let data = report_data_for_key(bound_to);
    resigned(|r| r[0x50..0x90].copy_from_slice(&data))
}

/// A certificate of `key` carrying `report` and the synthetic VCEK (PEM, as
/// the reference writes it), valid around [`NOW`].
fn sev_certificate(key: &CertKey, report: Vec<u8>) -> Vec<u8> {
    let mut params = odd_params(NOW - 3600, NOW + 3600);
    let exts = &mut params.custom_extensions;
    exts.push(critical_ext(
        &SEV_REPORT_DATA_ARCS,
        report_data_for_key(&key.public_key()).to_vec(),
    ));
    exts.push(critical_ext(&SEV_REPORT_ARCS, report));
    exts.push(critical_ext(
        &SEV_VCEK_ARCS,
        pem_encode("CERTIFICATE", SYN_VCEK).into_bytes(),
    ));
    odd_ed25519(&params, key).0
}

fn sev_verification(crl: &[u8], cache: Option<Arc<SevReportCache>>) -> SevVerification {
    SevVerification::new(
        synthetic_verifier(SevPolicy::default()),
        Arc::new(synthetic_collateral(crl)),
        cache,
    )
}

/// A `tdx` policy with SEV-SNP verification (`sev`); its DCAP side is never reached.
fn tee_policy(config: PolicyConfig, sev: Option<SevVerification>) -> TdxPolicy {
    TdxPolicy {
        name: "tee".into(),
        config,
        verification: CachedVerifier::new(
            DcapVerifier::new(),
            Arc::new(PccsCollateral::new("http://127.0.0.1:9")),
            None,
        ),
        sev,
    }
}

fn admit(policy: &TdxPolicy, cert: &[u8]) -> Result<PeerIdentity, PeerRejected> {
    check_peer_certificate(cert, 0, PeerRole::Client, policy, at(NOW))
}

fn refusal(policy: &TdxPolicy, cert: &[u8]) -> AttestError {
    match admit(policy, cert) {
        Err(PeerRejected::Attestation(e)) => e,
        other => panic!("expected a policy refusal, got {other:?}"),
    }
}

fn allowing_the_milan_guest() -> PolicyConfig {
    PolicyConfig {
        sev_allowed_measurements: vec![measurement()],
        sev_allowed_image_hashes: vec![sev_image_hash(&measurement())],
        ..PolicyConfig::default()
    }
}

#[test]
fn policy_allowing_the_guest_admits_a_sev_peer() {
    let key = CertKey::generate();
    let cert = sev_certificate(&key, report_bound_to(&key.public_key()));
    let policy = tee_policy(
        allowing_the_milan_guest(),
        Some(sev_verification(SYN_CRL, None)),
    );
    let peer = admit(&policy, &cert).expect("SEV-SNP peer admitted");
    assert_eq!(peer.tee, TeeKind::SevSnp);
    assert_eq!(peer.public_key, key.public_key());
    assert_eq!(peer.image_hash, sev_image_hash(&measurement()));
    let sev = peer.sev.as_ref().expect("SEV report kept");
    assert_eq!(sev.measurement, measurement());
    assert_eq!(sev.report_data, report_data_for_key(&key.public_key()));
    assert!(peer.tdx.is_none() && peer.root_key_id.is_none());

    // The record a router writes for this peer is the SEV variant, and a node
    // behind the router re-checks it under the same policy.
    let record = AttestedPeerInfo::from_identity(&peer, Endpoint::default(), Endpoint::default())
        .expect("SEV record");
    assert!(matches!(record.report, PeerReport::Sev(_)));
    let decoded = AttestedPeerInfo::decode(&record.encode().expect("encode")).expect("decode");
    assert_eq!(decoded.to_identity(), peer);
    let relayed = RelayedPolicy {
        name: "tee".into(),
        kind: PolicyKind::Tdx,
        config: allowing_the_milan_guest(),
    };
    relayed.check(&peer).expect("relayed SEV peer admitted");
    let other_guest = RelayedPolicy {
        config: PolicyConfig {
            sev_allowed_measurements: vec![[7; 48]],
            ..PolicyConfig::default()
        },
        ..relayed
    };
    assert!(matches!(
        other_guest.check(&peer),
        Err(AttestError::SevSnp(SevError::MeasurementNotAllowed { .. }))
    ));
}

#[test]
fn report_bound_to_another_key_is_refused() {
    let key = CertKey::generate();
    let cert = sev_certificate(&key, report_bound_to(&[0x43; 32]));
    let policy = tee_policy(
        allowing_the_milan_guest(),
        Some(sev_verification(SYN_CRL, None)),
    );
    assert_eq!(
        refusal(&policy, &cert),
        AttestError::SevSnp(SevError::ReportDataMismatch)
    );
}

#[test]
fn guest_not_on_the_allowlists_is_refused() {
    let key = CertKey::generate();
    let cert = sev_certificate(&key, report_bound_to(&key.public_key()));
    let sev = || Some(sev_verification(SYN_CRL, None));
    let other_measurement = PolicyConfig {
        sev_allowed_measurements: vec![[7; 48]],
        ..PolicyConfig::default()
    };
    assert_eq!(
        refusal(&tee_policy(other_measurement, sev()), &cert),
        AttestError::SevSnp(SevError::MeasurementNotAllowed {
            measurement: hex::encode(measurement())
        })
    );
    let other_image = PolicyConfig {
        sev_allowed_image_hashes: vec![[9; 32]],
        ..PolicyConfig::default()
    };
    assert_eq!(
        refusal(&tee_policy(other_image, sev()), &cert),
        AttestError::ImageHashNotAllowed {
            image_hash: hex::encode(sev_image_hash(&measurement()))
        }
    );
    // A policy pinning only TDX images does not silently admit any SNP guest.
    let tdx_images_only = PolicyConfig {
        allowed_image_hashes: vec![[9; 32]],
        ..PolicyConfig::default()
    };
    assert_eq!(
        refusal(&tee_policy(tdx_images_only, sev()), &cert),
        AttestError::SevAllowlistMissing {
            policy: "tee".into()
        }
    );
}

#[test]
fn unverifiable_evidence_is_refused() {
    let key = CertKey::generate();
    let cert = sev_certificate(&key, report_bound_to(&key.public_key()));
    let revoked = tee_policy(
        PolicyConfig::default(),
        Some(sev_verification(SYN_CRL_REVOKING_ASK, None)),
    );
    assert!(
        matches!(
            refusal(&revoked, &cert),
            AttestError::SevSnp(SevError::Revoked { .. })
        ),
        "{:?}",
        admit(&revoked, &cert)
    );
    // AMD's real roots: the synthetic chain is not theirs.
    let amd = tee_policy(
        PolicyConfig::default(),
        Some(SevVerification::new(
            amd_verifier(),
            Arc::new(synthetic_collateral(SYN_CRL)),
            None,
        )),
    );
    assert!(matches!(
        refusal(&amd, &cert),
        AttestError::SevSnp(SevError::ArkNotPinned { .. })
    ));
    let tampered = sev_certificate(&key, {
        let mut report = report_bound_to(&key.public_key());
        report[0x90] ^= 1;
        report
    });
    let policy = tee_policy(
        PolicyConfig::default(),
        Some(sev_verification(SYN_CRL, None)),
    );
    assert_eq!(
        refusal(&policy, &tampered),
        AttestError::SevSnp(SevError::SignatureInvalid)
    );
}

#[test]
fn tee_policy_without_sev_collateral_refuses_sev_as_unsupported() {
    let key = CertKey::generate();
    let cert = sev_certificate(&key, report_bound_to(&key.public_key()));
    assert_eq!(
        refusal(&tee_policy(PolicyConfig::default(), None), &cert),
        AttestError::SevSnpUnsupported {
            policy: "tee".into()
        }
    );
}

#[test]
fn cache_serves_repeats_and_expires_with_the_crl() {
    let key = [0x42; 32];
    let report = report_bound_to(&key);
    let binding = report_data_for_key(&key);
    let evidence = SevEvidence {
        public_key: &key,
        report_data_extension: &binding,
        report: &report,
        vcek: SYN_VCEK,
    };
    let cache = Arc::new(SevReportCache::default());
    let verification = sev_verification(SYN_CRL, Some(cache.clone()));
    let first = verification.verify(&evidence, NOW).expect("verified");
    let again = verification.verify(&evidence, NOW + 60).expect("cached");
    assert!(
        Arc::ptr_eq(&first, &again),
        "second verification is the cached one"
    );
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, cache.len()), (1, 1, 1));

    // A hit still checks the binding to the presented key.
    let other_key = [0x43; 32];
    let other_binding = report_data_for_key(&other_key);
    let replayed = SevEvidence {
        public_key: &other_key,
        report_data_extension: &other_binding,
        ..evidence
    };
    assert_eq!(
        verification.verify(&replayed, NOW + 60).unwrap_err(),
        SevError::ReportDataMismatch
    );
    // After the CRL's nextUpdate the entry is gone and the full check refuses.
    assert!(matches!(
        verification.verify(&evidence, AFTER_SYN_CRL),
        Err(SevError::CrlOutdated { .. })
    ));
    assert_eq!(cache.stats().hits, 2);
}

#[test]
fn cached_report_is_appraised_again_by_a_stricter_verifier() {
    let key = [0x42; 32];
    let binding = report_data_for_key(&key);
    let debug_report = resigned(|r| {
        r[0x50..0x90].copy_from_slice(&binding);
        r[0x0A] |= 0x08; // guest policy bit 19: debugging allowed
    });
    let evidence = SevEvidence {
        public_key: &key,
        report_data_extension: &binding,
        report: &debug_report,
        vcek: SYN_VCEK,
    };
    let cache = Arc::new(SevReportCache::default());
    let collateral = Arc::new(synthetic_collateral(SYN_CRL));
    let lenient = SevVerification::new(
        synthetic_verifier(SevPolicy {
            allow_debug: true,
            ..SevPolicy::default()
        }),
        collateral.clone(),
        Some(cache.clone()),
    );
    lenient.verify(&evidence, NOW).expect("debug guest allowed");
    let strict = SevVerification::new(
        synthetic_verifier(SevPolicy::default()),
        collateral,
        Some(cache.clone()),
    );
    assert!(matches!(
        strict.verify(&evidence, NOW),
        Err(SevError::DebugPolicy { .. })
    ));
    assert_eq!(
        cache.stats().hits,
        1,
        "the strict verifier was served from the cache"
    );
}

#[tokio::test]
async fn proxy_admits_a_sev_worker_over_ra_tls() {
    let key = CertKey::generate();
    let report = report_bound_to(&key.public_key());
    let vcek_pem = pem_encode("CERTIFICATE", SYN_VCEK).into_bytes();
    let worker_cert = cert::generate_with_sev_evidence(key, report, vcek_pem, at(NOW - 3600))
        .expect("SEV-SNP certificate");
    let proxy_cert = cert::generate(None, at(NOW - 3600)).expect("proxy certificate");
    let policy = tee_policy(
        allowing_the_milan_guest(),
        Some(sev_verification(SYN_CRL, None)),
    );
    let mut proxy = server_config(own(&proxy_cert), Arc::new(policy), 0);
    proxy.clock = Arc::new(FixedClock(at(NOW)));
    let mut worker = client_config(own(&worker_cert), any_policy());
    worker.clock = Arc::new(FixedClock(at(NOW)));
    let (at_proxy, at_worker) = run_link(&proxy, &worker).await;
    let peer = at_proxy.expect("proxy admits the SEV-SNP worker");
    assert_eq!(peer.tee, TeeKind::SevSnp);
    assert_eq!(peer.public_key, worker_cert.public_key());
    assert_eq!(peer.image_hash, sev_image_hash(&measurement()));
    assert_eq!(
        at_worker.expect("worker accepts the proxy").tee,
        TeeKind::None
    );
}
