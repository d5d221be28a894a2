//! Shared helpers for the attestation tests: test vectors located through
//! `COCOON_VECTORS`, synthetic quotes, fixed verification times.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cocoon_tee::dcap::Collateral;
use cocoon_tee::quote::{INTEL_QE_VENDOR_ID, TD10_BODY_LEN, TEE_TYPE_TDX};

/// The vectors directory, or `None` (after printing why) when `COCOON_VECTORS` is unset.
pub fn vectors() -> Option<PathBuf> {
    match std::env::var_os("COCOON_VECTORS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            println!("skipped: COCOON_VECTORS not set");
            None
        }
    }
}

/// A vector file; a missing file fails the test.
pub fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("vector {} missing: {e}", path.display()))
}

pub fn collateral(dir: &std::path::Path, name: &str) -> Collateral {
    let path = dir.join(name);
    Collateral::from_file(&path).unwrap_or_else(|e| panic!("collateral {}: {e}", path.display()))
}

/// A UNIX time in the middle of the collateral's validity window.
pub fn time_inside(collateral: &Collateral) -> u64 {
    let (from, until) = collateral.validity_window().expect("validity window");
    assert!(from < until, "collateral window is empty: {from}..{until}");
    from + (until - from) / 2
}

pub fn system_time(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

/// A syntactically valid v4 TDX quote (no real signature): header, TD 1.0
/// body with the given MRTD first byte and TDATTRIBUTES, empty signature data.
pub fn synthetic_tdx_quote(mrtd_byte: u8, td_attributes: u64) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&4u16.to_le_bytes());
    q.extend_from_slice(&2u16.to_le_bytes());
    q.extend_from_slice(&TEE_TYPE_TDX.to_le_bytes());
    q.extend_from_slice(&[0; 4]);
    q.extend_from_slice(&INTEL_QE_VENDOR_ID);
    q.extend_from_slice(&[0; 20]);
    let mut body = vec![0u8; TD10_BODY_LEN];
    body[120..128].copy_from_slice(&td_attributes.to_le_bytes());
    body[136] = mrtd_byte;
    q.extend_from_slice(&body);
    q.extend_from_slice(&0u32.to_le_bytes());
    q
}
