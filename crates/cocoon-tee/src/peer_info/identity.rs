//! From a router's record to a [`PeerIdentity`] and back, and the policy
//! check of a peer the router already verified ([`RelayedPolicy`]).
//!
//! The router did the quote verification (DCAP, report data, its own
//! allowlists); the record carries only its result. So a node behind a router
//! can re-check what the record shows — TEE kind, MRTD, RTMRs, image hash,
//! root key id (SEV-SNP: measurement and image hash), and that the report
//! data is bound to the peer key — but not the quote's signature, TCB status
//! or the TD's debug flag (SEV-SNP: the VCEK chain and guest policy). Those are the
//! router policy's job (run it with the same allowlists, e.g. `@tee:<hash>`).

use sha2::{Digest, Sha256};

use super::{AttestedPeerInfo, Endpoint, PeerReport, RecordVersion, SevReport, TdxReport};
use crate::image_hash::{sgx_image_hash, tdx_image_hash, ZERO_MEASUREMENTS_IMAGE_HASH};
use crate::policy::{check_tdx_identity, PolicyConfig, PolicyKind};
use crate::sev::check_sev_identity;
use crate::{AttestError, PeerIdentity, TdxMeasurements, TeeKind};

impl TdxReport {
    /// The measurements in the form policies check (debug flag unknown: false).
    pub fn measurements(&self) -> TdxMeasurements {
        TdxMeasurements {
            mr_td: self.mr_td,
            mr_config_id: self.mr_config_id,
            mr_owner: self.mr_owner,
            mr_owner_config: self.mr_owner_config,
            rtmr: self.rtmr,
            report_data: self.report_data,
            debug: false,
        }
    }

    fn from_measurements(m: &TdxMeasurements, root_key_id: Option<[u8; 48]>) -> Self {
        TdxReport {
            mr_td: m.mr_td,
            mr_config_id: m.mr_config_id,
            mr_owner: m.mr_owner,
            mr_owner_config: m.mr_owner_config,
            rtmr: m.rtmr,
            report_data: m.report_data,
            collateral_root_hash: root_key_id.unwrap_or([0; 48]),
        }
    }
}

/// The reference's SEV image hash: `SHA-256(measurement ‖ 64 zero bytes)`.
pub fn sev_image_hash(report: &SevReport) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(report.measurement);
    h.update([0u8; 64]);
    h.finalize().into()
}

fn unattested(public_key: [u8; 32]) -> PeerIdentity {
    PeerIdentity {
        public_key,
        tee: TeeKind::None,
        image_hash: ZERO_MEASUREMENTS_IMAGE_HASH,
        tdx: None,
        root_key_id: None,
        sev: None,
    }
}

fn nonzero_root(root: &[u8; 48]) -> Option<[u8; 48]> {
    (*root != [0; 48]).then_some(*root)
}

impl AttestedPeerInfo {
    /// The peer identity the record states. Unattested peers (v1 absent, an
    /// all-zero v2 body of either variant) get [`TeeKind::None`] and the image
    /// hash our policies give unattested peers (`5c55c8f4…4b61`, the hash of
    /// zero TDX measurements; a December runner used 32 zero bytes). Zero
    /// measurements with report data and no root hash are a fake TEE
    /// ([`TeeKind::Fake`]); anything else in a TDX body is [`TeeKind::Tdx`]
    /// with the image hash of tee.md §4.5.
    pub fn to_identity(&self) -> PeerIdentity {
        let key = self.public_key;
        match &self.report {
            PeerReport::Absent => unattested(key),
            PeerReport::Tdx(t) if t.is_zero() => unattested(key),
            PeerReport::Sev(s) if s.measurement == [0; 48] && s.report_data == [0; 64] => {
                unattested(key)
            }
            PeerReport::Tdx(t) => {
                let m = t.measurements();
                let fake = t.measurements_are_zero() && t.collateral_root_hash == [0; 48];
                PeerIdentity {
                    public_key: key,
                    tee: if fake { TeeKind::Fake } else { TeeKind::Tdx },
                    image_hash: tdx_image_hash(&m),
                    tdx: Some(m),
                    root_key_id: nonzero_root(&t.collateral_root_hash),
                    sev: None,
                }
            }
            PeerReport::Sgx(s) => PeerIdentity {
                public_key: key,
                tee: TeeKind::Sgx,
                image_hash: sgx_image_hash(&s.mr_enclave),
                tdx: None,
                root_key_id: nonzero_root(&s.collateral_root_hash),
                sev: None,
            },
            PeerReport::Sev(s) => PeerIdentity {
                public_key: key,
                tee: TeeKind::SevSnp,
                image_hash: sev_image_hash(s),
                tdx: None,
                root_key_id: None,
                sev: Some(s.clone()),
            },
        }
    }

    /// A v2 record for `identity`, as a router would write it (the SEV
    /// variant for a SEV-SNP peer). Fails for identities whose measurements
    /// we do not hold (SGX, or a TDX or SEV-SNP kind without measurements).
    pub fn from_identity(
        identity: &PeerIdentity,
        source: Endpoint,
        destination: Endpoint,
    ) -> Result<Self, AttestError> {
        let report = match (identity.tee, &identity.tdx, &identity.sev) {
            (TeeKind::None, _, _) => PeerReport::Tdx(TdxReport::zeroed()),
            (TeeKind::Fake | TeeKind::Tdx, Some(m), _) => {
                PeerReport::Tdx(TdxReport::from_measurements(m, identity.root_key_id))
            }
            (TeeKind::SevSnp, _, Some(sev)) => PeerReport::Sev(sev.clone()),
            (kind, _, _) => {
                return Err(AttestError::Other(format!(
                    "a {kind} peer identity has no measurements a peer-info record can carry"
                )))
            }
        };
        Ok(AttestedPeerInfo {
            version: RecordVersion::V2,
            report,
            public_key: identity.public_key,
            source,
            destination,
        })
    }
}

/// A peer policy applied to a router-verified identity, as far as a record
/// allows (see the module doc): kind, allowlists of MRTD, RTMRs, image hashes
/// and root key ids, report data bound to the key, and the unattested-peer
/// rules of [`crate::policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedPolicy {
    pub name: String,
    pub kind: PolicyKind,
    pub config: PolicyConfig,
}

impl RelayedPolicy {
    /// Accepts or refuses the peer a router vouched for.
    pub fn check(&self, peer: &PeerIdentity) -> Result<(), AttestError> {
        let name = || self.name.clone();
        let has_allowlist = !self.config.allowed_image_hashes.is_empty()
            || !self.config.sev_allowed_image_hashes.is_empty();
        match peer.tee {
            TeeKind::None => {
                if self.config.require_evidence {
                    return Err(AttestError::QuoteMissing { policy: name() });
                }
                if has_allowlist {
                    return Err(AttestError::ImageHashRequiresAttestation { policy: name() });
                }
                return Ok(());
            }
            TeeKind::Sgx => return Err(AttestError::SgxQuoteRejected),
            TeeKind::SevSnp if self.kind == PolicyKind::Fake => {
                return Err(AttestError::SevSnpUnsupported { policy: name() })
            }
            TeeKind::SevSnp if self.kind == PolicyKind::Tdx => {
                let sev = peer.sev.as_ref().ok_or_else(|| {
                    AttestError::malformed("router-verified SEV-SNP peer without a report")
                })?;
                return check_sev_identity(&self.name, &self.config, &peer.public_key, sev)
                    .map(|_| ());
            }
            _ => {}
        }
        match self.kind {
            PolicyKind::Any if has_allowlist => {
                Err(AttestError::ImageHashRequiresAttestation { policy: name() })
            }
            PolicyKind::Any => Ok(()),
            PolicyKind::Tdx if peer.tee == TeeKind::Fake => {
                Err(AttestError::FakeQuoteRejected { policy: name() })
            }
            PolicyKind::Fake if peer.tee != TeeKind::Fake => Err(AttestError::Other(format!(
                "policy {} accepts only fake TEE peers; the router vouches for a {} peer",
                self.name, peer.tee
            ))),
            PolicyKind::Fake | PolicyKind::Tdx => {
                let m = peer.tdx.as_ref().ok_or_else(|| {
                    AttestError::malformed("router-verified TDX peer without measurements")
                })?;
                let root = peer.root_key_id.unwrap_or([0; 48]);
                check_tdx_identity(&self.config, &peer.public_key, m, Some(&root)).map(|_| ())
            }
        }
    }
}
