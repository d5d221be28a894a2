//! The SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI, table "ATTESTATION_REPORT
//! Structure"): 1184 bytes, little-endian, fixed offsets. Parsing checks only
//! the size; what is acceptable is judged in [`super::verify`].

use super::error::SevError;
use super::product::{Product, TcbVersion};

/// Size of an ATTESTATION_REPORT.
pub const SNP_REPORT_LEN: usize = 1184;
/// The signature covers bytes `[0, SIGNED_LEN)`.
pub const SNP_SIGNED_LEN: usize = 0x2A0;
/// Signature algorithm 1: ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Guest policy bit: a migration agent may be associated with the guest.
pub const POLICY_MIGRATE_MA: u64 = 1 << 18;
/// Guest policy bit: debugging is allowed (the host can decrypt guest memory).
pub const POLICY_DEBUG: u64 = 1 << 19;

const OFF_VERSION: usize = 0x00;
const OFF_GUEST_SVN: usize = 0x04;
const OFF_POLICY: usize = 0x08;
const OFF_FAMILY_ID: usize = 0x10;
const OFF_IMAGE_ID: usize = 0x20;
const OFF_VMPL: usize = 0x30;
const OFF_SIG_ALGO: usize = 0x34;
const OFF_CURRENT_TCB: usize = 0x38;
const OFF_PLATFORM_INFO: usize = 0x40;
const OFF_KEY_FLAGS: usize = 0x48;
const OFF_REPORT_DATA: usize = 0x50;
const OFF_MEASUREMENT: usize = 0x90;
const OFF_HOST_DATA: usize = 0xC0;
const OFF_REPORTED_TCB: usize = 0x180;
const OFF_CPUID_FAMILY: usize = 0x188;
const OFF_CPUID_MODEL: usize = 0x189;
const OFF_CHIP_ID: usize = 0x1A0;
const OFF_SIG_R: usize = 0x2A0;
const OFF_SIG_S: usize = 0x2E8;
const SIG_COMPONENT_LEN: usize = 72;

/// The fields of a report this verifier reads. Raw bytes are kept for the
/// signature check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnpReport {
    raw: Box<[u8; SNP_REPORT_LEN]>,
    pub version: u32,
    pub guest_svn: u32,
    /// Guest policy (bit 19 debug, bit 18 migration agent, bit 16 SMT …).
    pub policy: u64,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: u32,
    pub signature_algo: u32,
    /// Raw 64-bit TCB versions; decode with [`TcbVersion::decode`].
    pub current_tcb: u64,
    pub reported_tcb: u64,
    pub platform_info: u64,
    /// Bit 1 of the key flags: chip id replaced by zeros.
    pub mask_chip_id: bool,
    /// Bits 2–4 of the key flags: 0 = VCEK, 1 = VLEK, 7 = none.
    pub signing_key: u32,
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    /// CPUID family and model (report version 3 and later; 0 before).
    pub cpuid_family: u8,
    pub cpuid_model: u8,
    pub chip_id: [u8; 64],
}

fn array<const N: usize>(raw: &[u8; SNP_REPORT_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = raw.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

fn le_u32(raw: &[u8; SNP_REPORT_LEN], at: usize) -> u32 {
    u32::from_le_bytes(array(raw, at))
}

fn le_u64(raw: &[u8; SNP_REPORT_LEN], at: usize) -> u64 {
    u64::from_le_bytes(array(raw, at))
}

impl SnpReport {
    /// Read a report; only its size is checked.
    pub fn parse(bytes: &[u8]) -> Result<Self, SevError> {
        let size_error = || SevError::ReportSize {
            len: bytes.len(),
            expected: SNP_REPORT_LEN,
        };
        if bytes.len() != SNP_REPORT_LEN {
            return Err(size_error());
        }
        let raw: Box<[u8; SNP_REPORT_LEN]> = bytes
            .to_vec()
            .into_boxed_slice()
            .try_into()
            .map_err(|_| size_error())?;
        let key_flags = le_u32(&raw, OFF_KEY_FLAGS);
        Ok(SnpReport {
            version: le_u32(&raw, OFF_VERSION),
            guest_svn: le_u32(&raw, OFF_GUEST_SVN),
            policy: le_u64(&raw, OFF_POLICY),
            family_id: array(&raw, OFF_FAMILY_ID),
            image_id: array(&raw, OFF_IMAGE_ID),
            vmpl: le_u32(&raw, OFF_VMPL),
            signature_algo: le_u32(&raw, OFF_SIG_ALGO),
            current_tcb: le_u64(&raw, OFF_CURRENT_TCB),
            reported_tcb: le_u64(&raw, OFF_REPORTED_TCB),
            platform_info: le_u64(&raw, OFF_PLATFORM_INFO),
            mask_chip_id: key_flags & 0b10 != 0,
            signing_key: (key_flags >> 2) & 0b111,
            report_data: array(&raw, OFF_REPORT_DATA),
            measurement: array(&raw, OFF_MEASUREMENT),
            host_data: array(&raw, OFF_HOST_DATA),
            cpuid_family: array::<1>(&raw, OFF_CPUID_FAMILY)[0],
            cpuid_model: array::<1>(&raw, OFF_CPUID_MODEL)[0],
            chip_id: array(&raw, OFF_CHIP_ID),
            raw,
        })
    }

    /// The whole report as received.
    pub fn as_bytes(&self) -> &[u8; SNP_REPORT_LEN] {
        &self.raw
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        self.raw.get(..SNP_SIGNED_LEN).unwrap_or_default()
    }

    /// The signature as `r ‖ s`, 48 big-endian bytes each (the form ring's
    /// `ECDSA_P384_SHA384_FIXED` takes), or `None` when a component does not
    /// fit in 48 bytes (the report stores 72 little-endian bytes each).
    pub fn signature_p384_fixed(&self) -> Option<[u8; 96]> {
        let r: [u8; SIG_COMPONENT_LEN] = array(&self.raw, OFF_SIG_R);
        let s: [u8; SIG_COMPONENT_LEN] = array(&self.raw, OFF_SIG_S);
        let mut out = [0u8; 96];
        for (component, dst) in [(r, 0usize), (s, 48usize)] {
            let (low, high) = component.split_at(48);
            if high.iter().any(|&b| b != 0) {
                return None;
            }
            for (i, b) in low.iter().rev().enumerate() {
                out[dst + i] = *b;
            }
        }
        Some(out)
    }

    /// The reported TCB, decoded for `product`'s encoding.
    pub fn reported_tcb_for(&self, product: Product) -> TcbVersion {
        TcbVersion::decode(self.reported_tcb, product)
    }

    /// The CPU product named by the report's CPUID fields (report version 3
    /// and later), or `None` when they are absent (zero) or unknown.
    pub fn cpu_product(&self) -> Option<Product> {
        Product::from_cpuid(self.cpuid_family, self.cpuid_model)
    }
}
