//! Every way an attested link is refused, each with its own error: odd peer
//! certificates (built with rcgen), bad proofs of work, stalled peers.

mod link_support;

use std::sync::Arc;
use std::time::Duration;

use cocoon_tee::cert::{report_data_for_key, CertError, CertKey};
use cocoon_tee::link::{self, LinkError};
use cocoon_tee::pow::{PowAnswer, PowChallenge, PowError, ANSWER_LEN, CHALLENGE_LEN};
use cocoon_tee::tls::{OwnCert, PeerRejected, MAX_QUOTE_LEN};
use cocoon_tee::{AttestError, AttestationPolicy};
use link_support::*;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a regular client says about a server presenting `server_key`.
async fn client_verdict(
    server_key: Arc<CertifiedKey>,
    client_policy: Arc<dyn AttestationPolicy>,
) -> LinkError {
    let server = server_config(OwnCert::from_certified_key(server_key), any_policy(), 0);
    let client = client_config(own(&fake_cert()), client_policy);
    match run_link(&server, &client).await.1 {
        Ok(peer) => panic!("client accepted the odd server: {peer:?}"),
        Err(err) => err,
    }
}

/// What a regular server says about a client presenting `client_key`.
async fn server_verdict(
    client_key: Arc<CertifiedKey>,
    server_policy: Arc<dyn AttestationPolicy>,
) -> LinkError {
    let server = server_config(own(&fake_cert()), server_policy, 0);
    let client = client_config(OwnCert::from_certified_key(client_key), any_policy());
    match run_link(&server, &client).await.0 {
        Ok(peer) => panic!("server accepted the odd client: {peer:?}"),
        Err(err) => err,
    }
}

fn valid_now() -> (u64, u64) {
    (NOW_SECS - 3600, NOW_SECS + 3600)
}

#[tokio::test]
async fn claims_extension_not_matching_the_key() {
    let key = CertKey::generate();
    let (nb, na) = valid_now();
    let mut params = odd_params(nb, na);
    params.custom_extensions.push(critical_ext(
        &QUOTE_ARCS,
        report_data_for_key(&key.public_key()).to_vec(),
    ));
    params
        .custom_extensions
        .push(critical_ext(&CLAIMS_ARCS, vec![0xab; 32]));
    let (_, odd) = odd_ed25519(&params, &key);
    let err = client_verdict(odd, fake_policy()).await;
    assert!(
        matches!(
            err,
            LinkError::PeerRejected(PeerRejected::ClaimsMismatch { claims_len: 32 })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn claims_extension_without_quote() {
    let key = CertKey::generate();
    let (nb, na) = valid_now();
    let mut params = odd_params(nb, na);
    params
        .custom_extensions
        .push(critical_ext(&CLAIMS_ARCS, key.public_key().to_vec()));
    let (_, odd) = odd_ed25519(&params, &key);
    let err = server_verdict(odd, fake_policy()).await;
    assert!(
        matches!(
            err,
            LinkError::PeerRejected(PeerRejected::ClaimsWithoutQuote)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_critical_extension() {
    let key = CertKey::generate();
    let (nb, na) = valid_now();
    let mut params = odd_params(nb, na);
    params
        .custom_extensions
        .push(critical_ext(&[1, 2, 3, 4, 5], vec![0x05, 0x00]));
    let (_, odd) = odd_ed25519(&params, &key);
    let err = client_verdict(odd, any_policy()).await;
    match err {
        LinkError::PeerRejected(PeerRejected::UnknownCriticalExtension { oid }) => {
            assert_eq!(oid, "1.2.3.4.5")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn chain_with_an_intermediate() {
    let leaf = fake_cert();
    let extra = fake_cert();
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&leaf.key().to_pkcs8_v1_der().into())
        .expect("key");
    let chain = vec![
        CertificateDer::from(leaf.cert_der().to_vec()),
        CertificateDer::from(extra.cert_der().to_vec()),
    ];
    let err = server_verdict(Arc::new(CertifiedKey::new(chain, signer)), fake_policy()).await;
    assert!(
        matches!(
            err,
            LinkError::PeerRejected(PeerRejected::Intermediates { count: 1 })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn ecdsa_key() {
    let (nb, na) = valid_now();
    let (_, odd) = odd_with_alg(&odd_params(nb, na), &rcgen::PKCS_ECDSA_P256_SHA256);
    let err = client_verdict(odd, any_policy()).await;
    match err {
        LinkError::PeerRejected(PeerRejected::Cert(CertError::KeyNotEd25519 { algorithm })) => {
            assert_eq!(algorithm, "1.2.840.10045.2.1")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn expired_certificate() {
    let key = CertKey::generate();
    let (_, odd) = odd_ed25519(&odd_params(NOW_SECS - 2 * 86_400, NOW_SECS - 86_400), &key);
    let err = client_verdict(odd, any_policy()).await;
    assert!(
        matches!(err, LinkError::PeerRejected(PeerRejected::Expired { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn not_yet_valid_certificate() {
    // Our own generator, dated one minute in the future.
    let future = cocoon_tee::cert::generate(None, at(NOW_SECS + 60)).expect("cert");
    let err = server_verdict(OwnCert::new(&future).expect("own").current(), any_policy()).await;
    match err {
        LinkError::PeerRejected(PeerRejected::NotYetValid { not_before, now }) => {
            assert_eq!((not_before, now), ((NOW_SECS + 60) as i64, NOW_SECS as i64))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn quote_bound_to_another_key() {
    let key = CertKey::generate();
    let other = CertKey::generate();
    let (nb, na) = valid_now();
    let mut params = odd_params(nb, na);
    params.custom_extensions.push(critical_ext(
        &QUOTE_ARCS,
        report_data_for_key(&other.public_key()).to_vec(),
    ));
    params
        .custom_extensions
        .push(critical_ext(&CLAIMS_ARCS, key.public_key().to_vec()));
    let (_, odd) = odd_ed25519(&params, &key);
    let err = client_verdict(odd, fake_policy()).await;
    assert!(
        matches!(err, LinkError::Attestation(AttestError::ReportDataMismatch)),
        "{err:?}"
    );
}

#[tokio::test]
async fn oversize_quote() {
    let key = CertKey::generate();
    let (nb, na) = valid_now();
    let mut params = odd_params(nb, na);
    params
        .custom_extensions
        .push(critical_ext(&QUOTE_ARCS, vec![0u8; MAX_QUOTE_LEN + 1]));
    let (_, odd) = odd_ed25519(&params, &key);
    let err = server_verdict(odd, fake_policy()).await;
    assert!(
        matches!(err, LinkError::PeerRejected(PeerRejected::QuoteTooLarge { size, max }) if size == MAX_QUOTE_LEN + 1 && max == MAX_QUOTE_LEN),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_proof_of_work() {
    let server = server_config(own(&fake_cert()), fake_policy(), 12);
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let cheater = async move {
        let mut bytes = [0u8; CHALLENGE_LEN];
        peer.read_exact(&mut bytes).await.expect("challenge");
        let challenge = PowChallenge::decode(&bytes).expect("decode");
        let bad = (0..)
            .find(|n| !challenge.is_solved_by(*n))
            .expect("a failing nonce");
        peer.write_all(&PowAnswer { nonce: bad }.encode())
            .await
            .expect("answer");
        peer
    };
    let (result, _peer) = tokio::join!(link::accept(server_io, &server), cheater);
    match result {
        Err(LinkError::PowInvalid(PowError::InsufficientWork { needed, got })) => {
            assert_eq!(needed, 12);
            assert!(got < 12);
        }
        other => panic!("{:?}", other.map(|(_, peer)| peer)),
    }
}

#[tokio::test]
async fn garbage_instead_of_proof_of_work() {
    let server = server_config(own(&fake_cert()), fake_policy(), 12);
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let garbage = async move {
        let mut bytes = [0u8; CHALLENGE_LEN];
        peer.read_exact(&mut bytes).await.expect("challenge");
        peer.write_all(&[0x16, 0x03, 0x01, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0])
            .await
            .expect("write");
        peer
    };
    let (result, _peer) = tokio::join!(link::accept(server_io, &server), garbage);
    assert!(
        matches!(
            result,
            Err(LinkError::PowInvalid(PowError::BadAnswerMagic {
                got: 0x0001_0316
            }))
        ),
        "{:?}",
        result.map(|(_, peer)| peer)
    );
}

#[tokio::test]
async fn proof_of_work_too_hard_is_refused_by_the_client() {
    let server = server_config(own(&fake_cert()), fake_policy(), 30);
    let client = client_config(own(&fake_cert()), fake_policy());
    let (at_server, at_client) = run_link(&server, &client).await;
    assert!(
        matches!(at_client, Err(LinkError::PowTooHard { asked: 30, max: 28 })),
        "{at_client:?}"
    );
    // The client hung up without answering.
    assert!(
        matches!(at_server, Err(LinkError::PowIo(_))),
        "{at_server:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn silent_client_times_out_in_pow_phase() {
    let mut server = server_config(own(&fake_cert()), fake_policy(), 8);
    server.pow_timeout = Duration::from_secs(5);
    let (server_io, _silent_peer) = tokio::io::duplex(4096);
    let result = link::accept(server_io, &server).await;
    assert!(matches!(result, Err(LinkError::PowTimeout(d)) if d == Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn client_stalling_after_pow_times_out_in_tls_phase() {
    let mut server = server_config(own(&fake_cert()), fake_policy(), 4);
    server.tls_timeout = Duration::from_secs(7);
    let (server_io, mut peer) = tokio::io::duplex(4096);
    let staller = async move {
        let mut bytes = [0u8; CHALLENGE_LEN];
        peer.read_exact(&mut bytes).await.expect("challenge");
        let challenge = PowChallenge::decode(&bytes).expect("decode");
        let nonce = (0..).find(|n| challenge.is_solved_by(*n)).expect("nonce");
        peer.write_all(&PowAnswer { nonce }.encode())
            .await
            .expect("answer");
        peer // keep the stream open, send no ClientHello
    };
    let (result, _peer) = tokio::join!(link::accept(server_io, &server), staller);
    assert!(
        matches!(result, Err(LinkError::TlsTimeout(d)) if d == Duration::from_secs(7)),
        "{:?}",
        result.map(|(_, peer)| peer)
    );
}

#[tokio::test(start_paused = true)]
async fn server_stalling_after_pow_times_out_in_tls_phase() {
    let mut client = client_config(own(&fake_cert()), fake_policy());
    client.tls_timeout = Duration::from_secs(9);
    let (client_io, mut peer) = tokio::io::duplex(4096);
    let staller = async move {
        peer.write_all(
            &PowChallenge {
                difficulty: 2,
                salt: [3; 16],
            }
            .encode(),
        )
        .await
        .expect("challenge");
        let mut answer = [0u8; ANSWER_LEN];
        peer.read_exact(&mut answer).await.expect("answer");
        peer // read the ClientHello never; answer nothing
    };
    let (result, _peer) = tokio::join!(link::connect(client_io, &client), staller);
    assert!(
        matches!(result, Err(LinkError::TlsTimeout(d)) if d == Duration::from_secs(9)),
        "{:?}",
        result.map(|(_, peer)| peer)
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_sends_no_challenge_is_left_after_the_challenge_timeout() {
    let mut client = client_config(own(&fake_cert()), fake_policy());
    client.challenge_timeout = Duration::from_secs(2);
    // The server end is held open but never written: a hung (stopped) server.
    let (client_io, _hung_server) = tokio::io::duplex(4096);
    let result = link::connect(client_io, &client)
        .await
        .map(|(_, peer)| peer);
    assert!(
        matches!(result, Err(LinkError::PowNoChallenge(d)) if d == Duration::from_secs(2)),
        "{result:?}"
    );
}
