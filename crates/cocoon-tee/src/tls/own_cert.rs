//! Our own certificate as rustls presents it, replaceable at run time: a
//! refreshed certificate (the reference regenerates it hourly) is used by
//! every handshake that starts after [`OwnCert::replace`].

use std::sync::{Arc, PoisonError, RwLock};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::cert::CertAndKey;

/// Shared handle to the certificate and key we present; clones share it.
#[derive(Debug, Clone)]
pub struct OwnCert {
    current: Arc<RwLock<Arc<CertifiedKey>>>,
}

impl OwnCert {
    /// Present `cert` (an Ed25519 RA-TLS certificate and key).
    pub fn new(cert: &CertAndKey) -> Result<Self, rustls::Error> {
        Ok(Self::from_certified_key(Arc::new(certified_key(cert)?)))
    }

    /// Present an arbitrary rustls certificate chain and key (any algorithm;
    /// used to build deliberately odd peers in tests).
    pub fn from_certified_key(key: Arc<CertifiedKey>) -> Self {
        Self {
            current: Arc::new(RwLock::new(key)),
        }
    }

    /// Use `cert` for handshakes that start from now on.
    pub fn replace(&self, cert: &CertAndKey) -> Result<(), rustls::Error> {
        let key = Arc::new(certified_key(cert)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// The certificate and key presented right now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// rustls form of our certificate. `CertifiedKey::from_der`/`with_single_cert`
/// would run webpki's `keys_match`, which cannot parse RA-TLS certificates, so
/// the key is loaded directly (ring accepts the PKCS#8 v1 form).
fn certified_key(cert: &CertAndKey) -> Result<CertifiedKey, rustls::Error> {
    let pkcs8 = PrivatePkcs8KeyDer::from(cert.key().to_pkcs8_v1_der());
    let signing_key = rustls::crypto::ring::sign::any_eddsa_type(&pkcs8)?;
    Ok(CertifiedKey::new(
        vec![CertificateDer::from(cert.cert_der().to_vec())],
        signing_key,
    ))
}

impl ResolvesServerCert for OwnCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl ResolvesClientCert for OwnCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
