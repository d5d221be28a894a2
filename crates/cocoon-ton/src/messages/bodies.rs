//! Builders of every message body the runners send (§6.7 table, delta §3.3).
//!
//! Owner bodies (sent by a client or proxy from its cocoon wallet) are plain cells. Proxy-
//! and key-manager-signed bodies are an inner cell `op | qid | …` wrapped by
//! [`sign_and_wrap`]. Vouchers received from a proxy are re-addressed with
//! [`repacked_voucher_body`] before a client or worker submits them. The `qid` is chosen by
//! the caller (the reference draws a random u64), so every builder is deterministic.

use std::sync::Arc;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::boc;
use cocoon_ledger::root_keys::SignedKeyRegistration;
use cocoon_ledger::voucher::{self, VoucherKind, VoucherTerms, MAX_VOUCHER_BOC_LEN};
use ed25519_dalek::{Signer, SigningKey};
use tonlib_core::cell::{Cell, CellBuilder};
use tonlib_core::TonAddress;

use super::op;
use crate::cells::{finish, layout, store_addr, store_coins, CellError};

fn header(op: u32, qid: u64) -> Result<CellBuilder, CellError> {
    let mut b = CellBuilder::new();
    b.store_u32(32, op)?;
    b.store_u64(64, qid)?;
    Ok(b)
}

/// Proxy → its own contract: `do_not_process | qid | proxy_save_state | seqno:i32 |
/// session_hash:256` (sent with 1 nanoTON; the contract ignores it, the proxy watches for it).
pub fn proxy_save_state_body(
    qid: u64,
    seqno: i32,
    session_hash: &[u8; 32],
) -> Result<Cell, CellError> {
    let mut b = header(op::DO_NOT_PROCESS, qid)?;
    b.store_u32(32, op::PROXY_SAVE_STATE)?;
    b.store_i32(32, seqno)?;
    b.store_slice(session_hash)?;
    finish(b)
}

/// Proxy → its own contract: `ext_proxy_payout_request | qid | send_excesses_to`.
pub fn proxy_payout_request_body(qid: u64, excess_to: &TonAddress) -> Result<Cell, CellError> {
    let mut b = header(op::EXT_PROXY_PAYOUT_REQUEST, qid)?;
    store_addr(&mut b, excess_to)?;
    finish(b)
}

/// Proxy → its contract: `ext_proxy_increase_stake | qid | amount:coins | send_excesses_to`
/// (message value ≥ `amount` + 0.1 TON; the contract keeps `amount` as its stake).
pub fn proxy_increase_stake_body(
    qid: u64,
    amount: NanoTon,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let mut b = header(op::EXT_PROXY_INCREASE_STAKE, qid)?;
    store_coins(&mut b, amount)?;
    store_addr(&mut b, excess_to)?;
    finish(b)
}

/// Client → its contract: `owner_client_register | qid | nonce:u64 | send_excesses_to`.
pub fn client_register_body(
    qid: u64,
    nonce: u64,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let mut b = header(op::OWNER_CLIENT_REGISTER, qid)?;
    b.store_u64(64, nonce)?;
    store_addr(&mut b, excess_to)?;
    finish(b)
}

/// Client → its contract: `owner_client_change_secret_hash | qid | hash:256 | send_excesses_to`.
pub fn client_change_secret_hash_body(
    qid: u64,
    secret_hash: &[u8; 32],
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let mut b = header(op::OWNER_CLIENT_CHANGE_SECRET_HASH, qid)?;
    b.store_slice(secret_hash)?;
    store_addr(&mut b, excess_to)?;
    finish(b)
}

/// Client → its contract: `ext_client_top_up | qid | coins | send_excesses_to` (message value
/// = 0.7 TON + `coins`).
pub fn client_top_up_body(
    qid: u64,
    coins: NanoTon,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let mut b = header(op::EXT_CLIENT_TOP_UP, qid)?;
    store_coins(&mut b, coins)?;
    store_addr(&mut b, excess_to)?;
    finish(b)
}

/// Client → its contract: `owner_client_request_refund | qid | send_excesses_to`.
pub fn client_request_refund_body(qid: u64, excess_to: &TonAddress) -> Result<Cell, CellError> {
    let mut b = header(op::OWNER_CLIENT_REQUEST_REFUND, qid)?;
    store_addr(&mut b, excess_to)?;
    finish(b)
}

/// Client → its contract: `owner_client_withdraw | qid | send_excesses_to`.
pub fn client_withdraw_body(qid: u64, excess_to: &TonAddress) -> Result<Cell, CellError> {
    let mut b = header(op::OWNER_CLIENT_WITHDRAW, qid)?;
    store_addr(&mut b, excess_to)?;
    finish(b)
}

/// Wraps a signed inner cell as the reference's `sign_and_wrap_message` does:
/// `op | qid | excess_to | Ed25519(key, inner hash):512 | ^inner`, where `op` and `qid` are
/// the inner cell's first 96 bits.
pub fn sign_and_wrap(
    key: &SigningKey,
    inner: Cell,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let signature = key.sign(&boc::cell_hash(&inner)).to_bytes();
    wrap_signed(inner, &signature, excess_to)
}

/// The wrapping of [`sign_and_wrap`] with a signature made elsewhere.
fn wrap_signed(
    inner: Cell,
    signature: &[u8; 64],
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let mut p = inner.parser();
    let op = p.load_u32(32)?;
    let qid = p.load_u64(64)?;
    let mut b = header(op, qid)?;
    store_addr(&mut b, excess_to)?;
    b.store_slice(signature)?;
    b.store_reference(&Arc::new(inner))?;
    finish(b)
}

fn token_inner(op: u32, qid: u64, tokens: u64, target: &TonAddress) -> Result<Cell, CellError> {
    let mut b = header(op, qid)?;
    b.store_u64(64, tokens)?;
    store_addr(&mut b, target)?;
    finish(b)
}

/// Proxy → client/worker contract: a signed voucher body (`ext_client_charge_signed`,
/// `ext_client_grant_refund_signed` or `ext_worker_payout_request_signed`, inner
/// `op | qid | tokens:u64 | target`). Same bytes as [`cocoon_ledger::voucher::sign`].
pub fn signed_voucher_body(
    key: &SigningKey,
    terms: &VoucherTerms,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let inner = voucher::inner_cell(terms).map_err(|e| layout(e.to_string()))?;
    sign_and_wrap(key, inner, excess_to)
}

/// Proxy (closing an old contract) → worker contract:
/// `ext_worker_last_payout_request_signed`, inner `op | qid | tokens:u64 | worker_sc`.
pub fn worker_last_payout_body(
    key: &SigningKey,
    qid: u64,
    tokens: u64,
    worker_sc: &TonAddress,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let inner = token_inner(
        op::EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED,
        qid,
        tokens,
        worker_sc,
    )?;
    sign_and_wrap(key, inner, excess_to)
}

/// The two signed messages that close an old proxy contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyCloseStep {
    /// `ext_proxy_close_request_signed` (first step).
    Request,
    /// `ext_proxy_close_complete_request_signed` (after the close delay).
    Complete,
}

/// Proxy → its old contract: a signed close request or close completion, inner
/// `op | qid | proxy_sc`.
pub fn proxy_close_body(
    key: &SigningKey,
    step: ProxyCloseStep,
    qid: u64,
    proxy_sc: &TonAddress,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let op = match step {
        ProxyCloseStep::Request => op::EXT_PROXY_CLOSE_REQUEST_SIGNED,
        ProxyCloseStep::Complete => op::EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED,
    };
    let mut b = header(op, qid)?;
    store_addr(&mut b, proxy_sc)?;
    sign_and_wrap(key, finish(b)?, excess_to)
}

/// Key manager → root: `root_add_public_key_signed`, inner `op | qid | public_key:256 |
/// key_type:u8 | valid_until:u32` (delta §3.3, built by
/// [`cocoon_ledger::root_keys::KeyRegistration::inner_cell`]) wrapped with the key manager's
/// signature.
pub fn root_add_public_key_body(
    signed: &SignedKeyRegistration,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let inner = signed
        .registration
        .inner_cell()
        .map_err(|e| layout(e.to_string()))?;
    wrap_signed(inner, &signed.signature, excess_to)
}

/// Client/worker → its contract: a voucher received from the proxy with `excess_to`
/// replaced by the submitter's wallet (the signature stays valid). `voucher_boc` is the
/// `proxy.signedPayment` data; it is parsed with the strict bounded reader.
pub fn repacked_voucher_body(
    voucher_boc: &[u8],
    kind: VoucherKind,
    excess_to: &TonAddress,
) -> Result<Cell, CellError> {
    let bytes = voucher::repack(voucher_boc, kind, excess_to).map_err(|e| layout(e.to_string()))?;
    let cell = boc::parse_single_root(&bytes, MAX_VOUCHER_BOC_LEN, 2)?;
    Ok(Cell::clone(&cell))
}
