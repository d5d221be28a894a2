//! Shared test helpers: the §2.3 keys and access to `COCOON_VECTORS`.
#![allow(dead_code)]

use std::path::PathBuf;

use cocoon_e2e::{PublicKey, Seed};

/// The caller seed of the vectors: bytes 0..=31.
pub fn caller_seed() -> Seed {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    Seed::from_bytes(bytes)
}

/// The reference key manager's fixed test seed.
pub fn km_seed() -> Seed {
    let bytes =
        hex::decode("070ad82e6132dab32067fb720afd0060555a64f905bbec0dc2849088951b3a63").unwrap();
    Seed::from_bytes(bytes.try_into().unwrap())
}

pub fn key(hex_text: &str) -> PublicKey {
    PublicKey(hex::decode(hex_text).unwrap().try_into().unwrap())
}

pub const CALLER_PUBLIC: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
pub const KM_PUBLIC: &str = "fb67d0fcd338f20e0d4957d9e82adc101d2e3513a448a3ab46052ee1b88c5818";

/// The encryption vectors folder. Without `COCOON_VECTORS` the test is skipped (saying
/// why), except under CI (`CI` set), where a missing vector set fails.
pub fn encryption_vectors() -> Option<PathBuf> {
    match std::env::var_os("COCOON_VECTORS") {
        Some(dir) => Some(PathBuf::from(dir).join("encryption")),
        None if std::env::var_os("CI").is_some() => {
            panic!("COCOON_VECTORS is not set, and CI is: the encryption vectors are required")
        }
        None => {
            println!("skipped: COCOON_VECTORS not set (the April-2026 encryption vectors)");
            None
        }
    }
}

/// A vector file; a missing file fails the test.
pub fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("vector {} missing: {e}", path.display()))
}
