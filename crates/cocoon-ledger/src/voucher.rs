//! Signed payment vouchers: the `data` of `proxy.signedPayment` (real protocol, §6.2).
//!
//! A voucher is a standard BoC of the "wrapped" cell:
//! ```text
//! outer: op:u32 | qid:u64 | excess_to:addr_std | signature:512 bits     refs: [inner]
//! inner: op:u32 | qid:u64 | tokens:u64 | target:addr_std                (no refs)
//! ```
//! `signature = Ed25519(proxy key, representation hash of inner)`. `excess_to` is not signed:
//! the receiver replaces it with its own wallet before submitting ([`repack`]).
//! A worker voucher (`op 0xa040ad28`) authorises paying the worker contract `tokens` in
//! total; a client voucher (`op 0xbb63ff93`) authorises charging the client contract.
//! The close flow of an old proxy contract uses the same layout: a grant refund
//! (`op 0xefd711e1`) charges a client contract up to `tokens` and closes it, a last payout
//! (`op 0xf5f26a36`) pays a worker contract up to `tokens` and closes it.
//! [`verify`] checks what the contracts check; [`VoucherKeeper`] keeps the highest one.

use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use tonlib_core::cell::{ArcCell, Cell, CellBuilder};
use tonlib_core::TonAddress;

use crate::boc::{self, BocError};

/// `ext_worker_payout_request_signed`.
pub const OP_WORKER_PAYOUT_SIGNED: u32 = 0xa040_ad28;
/// `ext_client_charge_signed`.
pub const OP_CLIENT_CHARGE_SIGNED: u32 = 0xbb63_ff93;
/// `ext_client_grant_refund_signed` (same wrapping, used for the final refund).
pub const OP_CLIENT_GRANT_REFUND_SIGNED: u32 = 0xefd7_11e1;
/// `ext_worker_last_payout_request_signed` (same wrapping; pays and closes an old contract).
pub const OP_WORKER_LAST_PAYOUT_SIGNED: u32 = 0xf5f2_6a36;
/// Upper bound on a voucher BoC (a real one is under 200 bytes).
pub const MAX_VOUCHER_BOC_LEN: usize = 512;

/// Which contract a voucher is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum VoucherKind {
    /// Pay a worker contract (`0xa040ad28`).
    WorkerPayout,
    /// Charge a client contract (`0xbb63ff93`).
    ClientCharge,
    /// Grant a client its final refund after charging `tokens` (`0xefd711e1`).
    ClientGrantRefund,
    /// Pay a worker contract up to `tokens` and close it (`0xf5f26a36`), sent when the
    /// proxy closes an old contract.
    WorkerLastPayout,
}

impl VoucherKind {
    /// The opcode in both cells.
    pub fn op(self) -> u32 {
        match self {
            VoucherKind::WorkerPayout => OP_WORKER_PAYOUT_SIGNED,
            VoucherKind::ClientCharge => OP_CLIENT_CHARGE_SIGNED,
            VoucherKind::ClientGrantRefund => OP_CLIENT_GRANT_REFUND_SIGNED,
            VoucherKind::WorkerLastPayout => OP_WORKER_LAST_PAYOUT_SIGNED,
        }
    }
}

/// Voucher building or checking error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    /// Undecodable bytes.
    #[error(transparent)]
    Boc(#[from] BocError),
    /// Outer opcode is not the expected one.
    #[error("unexpected op {found:#010x}, expected {expected:#010x}")]
    WrongOp {
        /// Found.
        found: u32,
        /// Expected.
        expected: u32,
    },
    /// Outer or inner cell does not have the exact layout.
    #[error("voucher layout: {0}")]
    Layout(&'static str),
    /// Inner op/qid differ from the outer ones.
    #[error("inner op or qid differs from the outer cell")]
    InnerMismatch,
    /// Voucher is for another contract.
    #[error("voucher is addressed to {found}, not {expected}")]
    WrongTarget {
        /// Address in the voucher.
        found: String,
        /// Our address.
        expected: String,
    },
    /// Signature does not verify with the proxy key.
    #[error("bad voucher signature")]
    BadSignature,
}

/// The signed fields of a voucher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherTerms {
    /// Which contract type.
    pub kind: VoucherKind,
    /// Query id (random per voucher, same in both cells).
    pub qid: u64,
    /// Total tokens authorised (cumulative, not a delta).
    pub tokens: u64,
    /// Contract the voucher is for.
    pub target: TonAddress,
}

/// A built or verified voucher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voucher {
    /// Signed fields.
    pub terms: VoucherTerms,
    /// Unsigned `excess_to` address in the outer cell.
    pub excess_to: TonAddress,
    /// Representation hash of the inner (signed) cell.
    pub inner_hash: [u8; 32],
    /// The BoC bytes (what goes into `proxy.signedPayment`).
    pub boc: Vec<u8>,
}

/// Builds the inner (signed) cell.
pub fn inner_cell(terms: &VoucherTerms) -> Result<Cell, VoucherError> {
    let mut b = CellBuilder::new();
    b.store_u32(32, terms.kind.op()).map_err(BocError::from)?;
    b.store_u64(64, terms.qid).map_err(BocError::from)?;
    b.store_u64(64, terms.tokens).map_err(BocError::from)?;
    boc::store_addr_std(&mut b, &terms.target)?;
    Ok(b.build().map_err(BocError::from)?)
}

fn outer_cell(
    op: u32,
    qid: u64,
    excess_to: &TonAddress,
    signature: &[u8; 64],
    inner: ArcCell,
) -> Result<Cell, VoucherError> {
    let mut b = CellBuilder::new();
    b.store_u32(32, op).map_err(BocError::from)?;
    b.store_u64(64, qid).map_err(BocError::from)?;
    boc::store_addr_std(&mut b, excess_to)?;
    b.store_slice(signature).map_err(BocError::from)?;
    b.store_reference(&inner).map_err(BocError::from)?;
    Ok(b.build().map_err(BocError::from)?)
}

/// Signs a voucher with the proxy key.
pub fn sign(
    key: &SigningKey,
    terms: VoucherTerms,
    excess_to: &TonAddress,
) -> Result<Voucher, VoucherError> {
    let inner = inner_cell(&terms)?;
    let inner_hash = boc::cell_hash(&inner);
    let signature = key.sign(&inner_hash).to_bytes();
    let outer = outer_cell(
        terms.kind.op(),
        terms.qid,
        excess_to,
        &signature,
        Arc::new(inner),
    )?;
    let boc = boc::serialize(outer)?;
    Ok(Voucher {
        terms,
        excess_to: excess_to.clone(),
        inner_hash,
        boc,
    })
}

struct Decoded {
    voucher: Voucher,
    signature: [u8; 64],
    inner: ArcCell,
}

fn decode(bytes: &[u8], kind: VoucherKind) -> Result<Decoded, VoucherError> {
    let outer = boc::parse_single_root(bytes, MAX_VOUCHER_BOC_LEN, 2)?;
    let mut p = outer.parser();
    let op = p.load_u32(32).map_err(BocError::from)?;
    if op != kind.op() {
        return Err(VoucherError::WrongOp {
            found: op,
            expected: kind.op(),
        });
    }
    let qid = p.load_u64(64).map_err(BocError::from)?;
    let excess_to = boc::load_addr_std(&mut p)?;
    let mut signature = [0u8; 64];
    p.load_slice(&mut signature).map_err(BocError::from)?;
    if p.remaining_bits() != 0 {
        return Err(VoucherError::Layout("extra bits in the outer cell"));
    }
    let [inner] = outer.references() else {
        return Err(VoucherError::Layout(
            "outer cell must have exactly one reference",
        ));
    };
    let mut q = inner.parser();
    let inner_op = q.load_u32(32).map_err(BocError::from)?;
    let inner_qid = q.load_u64(64).map_err(BocError::from)?;
    let tokens = q.load_u64(64).map_err(BocError::from)?;
    let target = boc::load_addr_std(&mut q)?;
    if q.remaining_bits() != 0 || !inner.references().is_empty() {
        return Err(VoucherError::Layout("extra data in the inner cell"));
    }
    if inner_op != op || inner_qid != qid {
        return Err(VoucherError::InnerMismatch);
    }
    let voucher = Voucher {
        terms: VoucherTerms {
            kind,
            qid,
            tokens,
            target,
        },
        excess_to,
        inner_hash: boc::cell_hash(inner),
        boc: bytes.to_vec(),
    };
    Ok(Decoded {
        voucher,
        signature,
        inner: inner.clone(),
    })
}

/// The terms a voucher of `kind` states, **unverified** (no signature or target check): for
/// stats and tests; anything that pays or trusts a voucher goes through [`verify`].
pub fn peek_terms(bytes: &[u8], kind: VoucherKind) -> Result<VoucherTerms, VoucherError> {
    decode(bytes, kind).map(|d| d.voucher.terms)
}

/// Verifies a voucher as the target contract does: expected op, exact layout, inner op/qid
/// equal to the outer ones, target equal to `ours`, valid signature by `proxy_key`.
pub fn verify(
    bytes: &[u8],
    kind: VoucherKind,
    ours: &TonAddress,
    proxy_key: &VerifyingKey,
) -> Result<Voucher, VoucherError> {
    let decoded = decode(bytes, kind)?;
    let target = &decoded.voucher.terms.target;
    if target != ours {
        return Err(VoucherError::WrongTarget {
            found: target.to_hex(),
            expected: ours.to_hex(),
        });
    }
    let signature = Signature::from_bytes(&decoded.signature);
    proxy_key
        .verify(&decoded.voucher.inner_hash, &signature)
        .map_err(|_| VoucherError::BadSignature)?;
    Ok(decoded.voucher)
}

/// Replaces the unsigned `excess_to` address (what a receiver does before submitting the
/// voucher to its contract). The signature stays valid.
pub fn repack(
    bytes: &[u8],
    kind: VoucherKind,
    excess_to: &TonAddress,
) -> Result<Vec<u8>, VoucherError> {
    let decoded = decode(bytes, kind)?;
    let outer = outer_cell(
        kind.op(),
        decoded.voucher.terms.qid,
        excess_to,
        &decoded.signature,
        decoded.inner,
    )?;
    Ok(boc::serialize(outer)?)
}

/// Outcome of offering a voucher to a [`VoucherKeeper`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// New highest voucher, now kept.
    Accepted {
        /// Its token total.
        tokens: u64,
    },
    /// Valid but not above the kept one (equal or lower).
    NotHigher {
        /// Tokens of the offered voucher.
        offered: u64,
        /// Tokens of the kept one.
        kept: u64,
    },
}

/// Keeps the highest valid voucher a client or worker has received from one proxy.
#[derive(Clone, Debug)]
pub struct VoucherKeeper {
    kind: VoucherKind,
    ours: TonAddress,
    proxy_key: VerifyingKey,
    best: Option<Voucher>,
}

impl VoucherKeeper {
    /// Keeper for vouchers of `kind` addressed to our contract `ours`, signed by `proxy_key`.
    pub fn new(kind: VoucherKind, ours: TonAddress, proxy_key: VerifyingKey) -> VoucherKeeper {
        VoucherKeeper {
            kind,
            ours,
            proxy_key,
            best: None,
        }
    }
    /// Verifies `bytes` and keeps it when it authorises more tokens than the kept one.
    /// The kept voucher offered again (the proxy repeats it until its next chain commit)
    /// is recognised by its bytes and not verified again.
    pub fn offer(&mut self, bytes: &[u8]) -> Result<Offer, VoucherError> {
        if let Some(kept) = self.best.as_ref().filter(|kept| kept.boc == bytes) {
            return Ok(Offer::NotHigher {
                offered: kept.terms.tokens,
                kept: kept.terms.tokens,
            });
        }
        let voucher = verify(bytes, self.kind, &self.ours, &self.proxy_key)?;
        let offered = voucher.terms.tokens;
        match &self.best {
            Some(kept) if kept.terms.tokens >= offered => Ok(Offer::NotHigher {
                offered,
                kept: kept.terms.tokens,
            }),
            _ => {
                self.best = Some(voucher);
                Ok(Offer::Accepted { tokens: offered })
            }
        }
    }
    /// The kept voucher, if any.
    pub fn best(&self) -> Option<&Voucher> {
        self.best.as_ref()
    }
    /// Tokens of the kept voucher (0 if none).
    pub fn tokens(&self) -> u64 {
        self.best.as_ref().map_or(0, |v| v.terms.tokens)
    }
}

#[cfg(test)]
#[path = "voucher_tests.rs"]
mod tests;
