//! Report bodies carried by a quote: the TDX TD report (TD 1.0 and TD 1.5)
//! and the SGX enclave report. Layouts per Intel's DCAP quote format
//! (summarised in tee.md §4.1).

use super::reader::Reader;
use crate::{AttestError, TdxMeasurements};

/// Size of a TD 1.0 report body.
pub const TD10_BODY_LEN: usize = 584;
/// Size of a TD 1.5 report body (TD 1.0 + TEE_TCB_SVN2 + MRSERVICETD).
pub const TD15_BODY_LEN: usize = 648;
/// Size of an SGX enclave report body.
pub const SGX_BODY_LEN: usize = 384;

/// TDATTRIBUTES bit 0: DEBUG (the host can read and write the TD's memory).
pub const TD_ATTR_DEBUG: u64 = 1 << 0;
/// TDATTRIBUTES bits 4..6: performance-monitoring/profiling features that,
/// like DEBUG, expose TD state to the host (Intel's QVL rejects them too).
pub const TD_ATTR_PROFILING_MASK: u64 = 0x70;
/// TDATTRIBUTES bit 28: SEPT_VE_DISABLE.
pub const TD_ATTR_SEPT_VE_DISABLE: u64 = 1 << 28;

/// SGX ATTRIBUTES.DEBUG (bit 1 of the flags).
pub const SGX_ATTR_DEBUG: u64 = 1 << 1;

/// Extra fields of a TD 1.5 report body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Td15Extension {
    pub tee_tcb_svn2: [u8; 16],
    pub mr_service_td: [u8; 48],
}

/// A TDX TD report body as carried by a v4/v5 quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReportBody {
    pub tee_tcb_svn: [u8; 16],
    pub mr_seam: [u8; 48],
    pub mr_signer_seam: [u8; 48],
    pub seam_attributes: [u8; 8],
    pub td_attributes: [u8; 8],
    pub xfam: [u8; 8],
    pub mr_td: [u8; 48],
    pub mr_config_id: [u8; 48],
    pub mr_owner: [u8; 48],
    pub mr_owner_config: [u8; 48],
    pub rtmr: [[u8; 48]; 4],
    pub report_data: [u8; 64],
    /// Present for TD 1.5 bodies (v5 quotes, body type 3).
    pub td15: Option<Td15Extension>,
}

impl TdReportBody {
    pub(crate) fn read(r: &mut Reader<'_>, td15: bool) -> Result<Self, AttestError> {
        let tee_tcb_svn = r.array("TEE_TCB_SVN")?;
        let mr_seam = r.array("MRSEAM")?;
        let mr_signer_seam = r.array("MRSIGNERSEAM")?;
        let seam_attributes = r.array("SEAMATTRIBUTES")?;
        let td_attributes = r.array("TDATTRIBUTES")?;
        let xfam = r.array("XFAM")?;
        let mr_td = r.array("MRTD")?;
        let mr_config_id = r.array("MRCONFIGID")?;
        let mr_owner = r.array("MROWNER")?;
        let mr_owner_config = r.array("MROWNERCONFIG")?;
        let rtmr = [
            r.array("RTMR0")?,
            r.array("RTMR1")?,
            r.array("RTMR2")?,
            r.array("RTMR3")?,
        ];
        let report_data = r.array("REPORTDATA")?;
        let td15 = if td15 {
            Some(Td15Extension {
                tee_tcb_svn2: r.array("TEE_TCB_SVN2")?,
                mr_service_td: r.array("MRSERVICETD")?,
            })
        } else {
            None
        };
        Ok(TdReportBody {
            tee_tcb_svn,
            mr_seam,
            mr_signer_seam,
            seam_attributes,
            td_attributes,
            xfam,
            mr_td,
            mr_config_id,
            mr_owner,
            mr_owner_config,
            rtmr,
            report_data,
            td15,
        })
    }

    /// TDATTRIBUTES as a little-endian integer.
    pub fn td_attributes_u64(&self) -> u64 {
        u64::from_le_bytes(self.td_attributes)
    }

    /// TDATTRIBUTES.DEBUG (bit 0).
    pub fn is_debug(&self) -> bool {
        self.td_attributes_u64() & TD_ATTR_DEBUG != 0
    }

    /// The measurements COCOON uses (image hash inputs, report data, debug flag).
    pub fn measurements(&self) -> TdxMeasurements {
        TdxMeasurements {
            mr_td: self.mr_td,
            mr_config_id: self.mr_config_id,
            mr_owner: self.mr_owner,
            mr_owner_config: self.mr_owner_config,
            rtmr: self.rtmr,
            report_data: self.report_data,
            debug: self.is_debug(),
        }
    }
}

/// An SGX enclave report body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgxReportBody {
    pub cpu_svn: [u8; 16],
    pub misc_select: u32,
    pub attributes: [u8; 16],
    pub mr_enclave: [u8; 32],
    pub mr_signer: [u8; 32],
    pub isv_prod_id: u16,
    pub isv_svn: u16,
    pub report_data: [u8; 64],
}

impl SgxReportBody {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, AttestError> {
        let cpu_svn = r.array("CPUSVN")?;
        let misc_select = r.u32("MISCSELECT")?;
        r.skip(28, "reserved")?;
        let attributes = r.array("ATTRIBUTES")?;
        let mr_enclave = r.array("MRENCLAVE")?;
        r.skip(32, "reserved")?;
        let mr_signer = r.array("MRSIGNER")?;
        r.skip(96, "reserved")?;
        let isv_prod_id = r.u16("ISVPRODID")?;
        let isv_svn = r.u16("ISVSVN")?;
        r.skip(60, "reserved")?;
        let report_data = r.array("REPORTDATA")?;
        Ok(SgxReportBody {
            cpu_svn,
            misc_select,
            attributes,
            mr_enclave,
            mr_signer,
            isv_prod_id,
            isv_svn,
            report_data,
        })
    }

    /// ATTRIBUTES.DEBUG.
    pub fn is_debug(&self) -> bool {
        let mut flags = [0u8; 8];
        flags.copy_from_slice(&self.attributes[..8]);
        u64::from_le_bytes(flags) & SGX_ATTR_DEBUG != 0
    }
}
