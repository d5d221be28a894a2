//! Helpers shared by the devnet integration tests: wallets, keys and proxy-signed vouchers.

#![allow(dead_code)]

use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms};
use ed25519_dalek::SigningKey;
use tonlib_core::{TonAddress, TonHash};

/// A plain wallet address `0:<byte × 32>`.
pub fn wallet(byte: u8) -> TonAddress {
    TonAddress::new(0, TonHash::from([byte; 32]))
}

/// A deterministic proxy signing key.
pub fn proxy_key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

/// A voucher for `tokens` signed by `key`, addressed to `target`.
pub fn voucher(
    key: &SigningKey,
    kind: VoucherKind,
    tokens: u64,
    target: &TonAddress,
    qid: u64,
) -> Vec<u8> {
    voucher::sign(
        key,
        VoucherTerms {
            kind,
            qid,
            tokens,
            target: target.clone(),
        },
        &wallet(0xFE),
    )
    .expect("sign voucher")
    .boc
}
