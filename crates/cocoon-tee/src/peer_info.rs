//! The attested-peer-info record a reference `router` writes in front of a
//! plain-TCP stream (tee.md §7.2, runners.md §2.1 item 2, delta-2026-04.md §6.6).
//!
//! With `--serialize-info`, the router does the proof of work and RA-TLS
//! itself and hands the runner side of the connection one length-prefixed
//! record (`u32` LE length ≤ [`MAX_PEER_INFO_LEN`], then the record) naming the
//! verified peer, followed by plain COCOON frames. Two layouts exist:
//!
//! * **v2 (April 2026, written and read):** `i32 2`, `i32 variant` (0 TDX,
//!   1 SEV), the body (TDX: 8×48 measurements, 64 report data, 48 collateral
//!   root hash = 496 bytes; SEV: 48 measurement, 64 report data = 112 bytes),
//!   TL string with the peer's 32-byte Ed25519 key, TL string source IP,
//!   `i32` source port, TL string destination IP, `i32` destination port.
//!   A peer accepted without attestation is a TDX body of zeros.
//! * **v1 (December 2025, read; written only for tests of old routers):**
//!   `i32 has_value` (0/1), if 1 `i32 variant` (0 TDX, 1 SGX) and the body
//!   without the root hash (TDX 448 bytes, SGX 32 + 64), then always the
//!   48-byte collateral root hash, then the same tail as v2.
//!
//! Decoding is strict: the record must be consumed exactly, TL strings must be
//! in canonical form with zero padding (what every reference writer produces),
//! so `encode(decode(b)) == b` for every accepted `b`. Errors never panic.
//! Conversion to a [`crate::PeerIdentity`] and the policy check of a
//! router-verified peer are in [`identity`]; async reading and writing of the
//! framed record in [`io`].

pub mod identity;
pub mod io;
mod wire;

#[cfg(test)]
mod tests;

pub use identity::RelayedPolicy;
pub use io::{read_peer_info, write_peer_info};

use std::net::SocketAddr;

use wire::{Reader, Writer};

/// Largest record accepted (the reference's default framed-read limit).
pub const MAX_PEER_INFO_LEN: usize = 16_536;
/// Size of a v2 TDX body (and of a v1 TDX body plus the collateral root hash).
pub const TDX_BODY_LEN: usize = 8 * 48 + 64 + 48;
/// Size of a v2 SEV body.
pub const SEV_BODY_LEN: usize = 48 + 64;

const V2_MARKER: i32 = 2;
const VARIANT_TDX: i32 = 0;
const VARIANT_SGX_V1: i32 = 1;
const VARIANT_SEV_V2: i32 = 1;

/// Which layout a record uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordVersion {
    /// December 2025: `has_value` form, TDX or SGX.
    V1,
    /// April 2026: version 2, TDX or SEV.
    V2,
}

/// A TDX report as the router relays it (the quote itself stays with the router).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxReport {
    pub mr_td: [u8; 48],
    pub mr_config_id: [u8; 48],
    pub mr_owner: [u8; 48],
    pub mr_owner_config: [u8; 48],
    pub rtmr: [[u8; 48]; 4],
    pub report_data: [u8; 64],
    /// Intel root key id the quote chained to; zero unless verified with DCAP.
    pub collateral_root_hash: [u8; 48],
}

impl TdxReport {
    /// All zero: what a v2 router writes for a peer accepted without attestation.
    pub fn zeroed() -> Self {
        TdxReport {
            mr_td: [0; 48],
            mr_config_id: [0; 48],
            mr_owner: [0; 48],
            mr_owner_config: [0; 48],
            rtmr: [[0; 48]; 4],
            report_data: [0; 64],
            collateral_root_hash: [0; 48],
        }
    }

    /// Whether every measurement (report data and root hash excluded) is zero.
    pub fn measurements_are_zero(&self) -> bool {
        let zero = [0u8; 48];
        [
            &self.mr_td,
            &self.mr_config_id,
            &self.mr_owner,
            &self.mr_owner_config,
        ]
        .into_iter()
        .chain(self.rtmr.iter())
        .all(|m| *m == zero)
    }

    /// Whether the whole body is zero (an unattested peer).
    pub fn is_zero(&self) -> bool {
        self.measurements_are_zero()
            && self.report_data == [0; 64]
            && self.collateral_root_hash == [0; 48]
    }
}

/// An SGX enclave report (v1 only; never accepted as a COCOON peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgxReport {
    pub mr_enclave: [u8; 32],
    pub report_data: [u8; 64],
    pub collateral_root_hash: [u8; 48],
}

/// An AMD SEV-SNP report (v2 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SevReport {
    pub measurement: [u8; 48],
    pub report_data: [u8; 64],
}

/// What the router verified about the peer's TEE.
// One short-lived value per connection: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerReport {
    /// v1 `has_value = 0`: accepted without attestation (collateral root hash zero).
    Absent,
    Tdx(TdxReport),
    /// v1 only.
    Sgx(SgxReport),
    /// v2 only.
    Sev(SevReport),
}

/// One end of the routed connection, as text IP (may be empty) and port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub ip: String,
    pub port: i32,
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint {
            ip: addr.ip().to_string(),
            port: i32::from(addr.port()),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// The record: the verified peer and the two ends of the routed connection.
/// Reverse proxy: `source` = remote peer, `destination` = us. SOCKS5 /
/// forward proxy: `source` = our local socket, `destination` = remote peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedPeerInfo {
    pub version: RecordVersion,
    pub report: PeerReport,
    /// The peer's Ed25519 certificate key.
    pub public_key: [u8; 32],
    pub source: Endpoint,
    pub destination: Endpoint,
}

/// Why a record was refused (or could not be written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerInfoError {
    #[error("peer-info record of {len} bytes, at most {max} accepted")]
    TooLong { len: usize, max: usize },
    #[error("peer-info record truncated: {what} needs {needed} more bytes, {left} left")]
    Truncated {
        what: &'static str,
        needed: usize,
        left: usize,
    },
    #[error("peer-info record has {count} unread bytes after the destination port")]
    TrailingBytes { count: usize },
    #[error("peer-info record version/has_value {0} unknown (expected 0, 1 or 2)")]
    UnknownVersion(i32),
    #[error("peer-info record ({version:?}) has unknown TEE variant {variant}")]
    UnknownVariant {
        version: RecordVersion,
        variant: i32,
    },
    #[error("peer-info record: unattested peer with a non-zero collateral root hash")]
    CollateralWithoutAttestation,
    #[error("peer-info record: public key of {0} bytes, expected 32")]
    KeyLength(usize),
    #[error("peer-info record: {what} is not a canonical TL string ({reason})")]
    BadString { what: &'static str, reason: String },
    #[error("cannot write a {version:?} peer-info record: {reason}")]
    NotEncodable {
        version: RecordVersion,
        reason: &'static str,
    },
    #[error("reading the peer-info record: {0}")]
    Io(String),
    #[error("no peer-info record within {0:?}")]
    Timeout(std::time::Duration),
}

impl AttestedPeerInfo {
    /// Decodes a record (without its length prefix).
    pub fn decode(bytes: &[u8]) -> Result<Self, PeerInfoError> {
        if bytes.len() > MAX_PEER_INFO_LEN {
            return Err(PeerInfoError::TooLong {
                len: bytes.len(),
                max: MAX_PEER_INFO_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let first = r.i32("version")?;
        let (version, report) = match first {
            V2_MARKER => (RecordVersion::V2, read_v2_report(&mut r)?),
            0 | 1 => (RecordVersion::V1, read_v1_report(&mut r, first == 1)?),
            other => return Err(PeerInfoError::UnknownVersion(other)),
        };
        let key = r.string("public key")?;
        let public_key: [u8; 32] = key
            .try_into()
            .map_err(|_| PeerInfoError::KeyLength(key.len()))?;
        let source = read_endpoint(&mut r, "source ip")?;
        let destination = read_endpoint(&mut r, "destination ip")?;
        r.finish()?;
        Ok(AttestedPeerInfo {
            version,
            report,
            public_key,
            source,
            destination,
        })
    }

    /// Decodes a framed record: `u32` LE length, then exactly that many bytes.
    pub fn decode_framed(bytes: &[u8]) -> Result<Self, PeerInfoError> {
        let mut r = Reader::new(bytes);
        let len = r.u32("length prefix")? as usize;
        if len > MAX_PEER_INFO_LEN {
            return Err(PeerInfoError::TooLong {
                len,
                max: MAX_PEER_INFO_LEN,
            });
        }
        let body = r.bytes(len, "record")?;
        r.finish()?;
        Self::decode(body)
    }

    /// Encodes the record (without its length prefix) in its own `version`.
    /// Fails for SEV in v1, SGX in v2, [`PeerReport::Absent`] in v2 (use a
    /// zero TDX body) or anything longer than [`MAX_PEER_INFO_LEN`].
    pub fn encode(&self) -> Result<Vec<u8>, PeerInfoError> {
        let mut w = Writer::default();
        match (self.version, &self.report) {
            (RecordVersion::V2, PeerReport::Tdx(t)) => {
                w.i32(V2_MARKER);
                w.i32(VARIANT_TDX);
                write_tdx_report(&mut w, t);
            }
            (RecordVersion::V2, PeerReport::Sev(s)) => {
                w.i32(V2_MARKER);
                w.i32(VARIANT_SEV_V2);
                w.raw(&s.measurement);
                w.raw(&s.report_data);
            }
            (RecordVersion::V1, PeerReport::Absent) => {
                w.i32(0);
                w.raw(&[0; 48]);
            }
            (RecordVersion::V1, PeerReport::Tdx(t)) => {
                w.i32(1);
                w.i32(VARIANT_TDX);
                write_tdx_report(&mut w, t);
            }
            (RecordVersion::V1, PeerReport::Sgx(s)) => {
                w.i32(1);
                w.i32(VARIANT_SGX_V1);
                w.raw(&s.mr_enclave);
                w.raw(&s.report_data);
                w.raw(&s.collateral_root_hash);
            }
            (version, report) => {
                let reason = match report {
                    PeerReport::Absent => {
                        "v2 has no absent form (an unattested peer is a zero TDX body)"
                    }
                    PeerReport::Sgx(_) => "SGX reports exist only in v1",
                    _ => "SEV reports exist only in v2",
                };
                return Err(PeerInfoError::NotEncodable { version, reason });
            }
        }
        w.string(&self.public_key);
        for end in [&self.source, &self.destination] {
            w.string(end.ip.as_bytes());
            w.i32(end.port);
        }
        let out = w.into_bytes();
        if out.len() > MAX_PEER_INFO_LEN {
            return Err(PeerInfoError::TooLong {
                len: out.len(),
                max: MAX_PEER_INFO_LEN,
            });
        }
        Ok(out)
    }

    /// Encodes the record with its `u32` LE length prefix, as the router sends it.
    pub fn encode_framed(&self) -> Result<Vec<u8>, PeerInfoError> {
        let body = self.encode()?;
        let mut out = Vec::with_capacity(4 + body.len());
        // Cannot truncate: encode() caps the length at MAX_PEER_INFO_LEN.
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }
}

fn read_endpoint(r: &mut Reader<'_>, what: &'static str) -> Result<Endpoint, PeerInfoError> {
    let ip = r.string(what)?;
    let ip = std::str::from_utf8(ip)
        .map_err(|e| PeerInfoError::BadString {
            what,
            reason: format!("not UTF-8: {e}"),
        })?
        .to_owned();
    let port = r.i32("port")?;
    Ok(Endpoint { ip, port })
}

/// The 496-byte TDX body: the same bytes in v2 and in v1 (where the root hash
/// formally follows the optional attestation).
fn read_tdx_report(r: &mut Reader<'_>) -> Result<TdxReport, PeerInfoError> {
    Ok(TdxReport {
        mr_td: r.array("MRTD")?,
        mr_config_id: r.array("MRCONFIGID")?,
        mr_owner: r.array("MROWNER")?,
        mr_owner_config: r.array("MROWNERCONFIG")?,
        rtmr: [
            r.array("RTMR0")?,
            r.array("RTMR1")?,
            r.array("RTMR2")?,
            r.array("RTMR3")?,
        ],
        report_data: r.array("REPORTDATA")?,
        collateral_root_hash: r.array("collateral root hash")?,
    })
}

fn write_tdx_report(w: &mut Writer, t: &TdxReport) {
    for m in [&t.mr_td, &t.mr_config_id, &t.mr_owner, &t.mr_owner_config] {
        w.raw(m);
    }
    for m in &t.rtmr {
        w.raw(m);
    }
    w.raw(&t.report_data);
    w.raw(&t.collateral_root_hash);
}

fn read_v2_report(r: &mut Reader<'_>) -> Result<PeerReport, PeerInfoError> {
    match r.i32("variant")? {
        VARIANT_TDX => Ok(PeerReport::Tdx(read_tdx_report(r)?)),
        VARIANT_SEV_V2 => Ok(PeerReport::Sev(SevReport {
            measurement: r.array("SEV measurement")?,
            report_data: r.array("SEV report data")?,
        })),
        variant => Err(PeerInfoError::UnknownVariant {
            version: RecordVersion::V2,
            variant,
        }),
    }
}

fn read_v1_report(r: &mut Reader<'_>, has_value: bool) -> Result<PeerReport, PeerInfoError> {
    if !has_value {
        let root: [u8; 48] = r.array("collateral root hash")?;
        if root != [0; 48] {
            return Err(PeerInfoError::CollateralWithoutAttestation);
        }
        return Ok(PeerReport::Absent);
    }
    match r.i32("variant")? {
        VARIANT_TDX => Ok(PeerReport::Tdx(read_tdx_report(r)?)),
        VARIANT_SGX_V1 => Ok(PeerReport::Sgx(SgxReport {
            mr_enclave: r.array("MRENCLAVE")?,
            report_data: r.array("SGX report data")?,
            collateral_root_hash: r.array("collateral root hash")?,
        })),
        variant => Err(PeerInfoError::UnknownVariant {
            version: RecordVersion::V1,
            variant,
        }),
    }
}
