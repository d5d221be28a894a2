//! Decoders the mock chain runs on what it is sent, independent of the builders in
//! [`crate::messages`] and [`crate::wallet`]: the external-in message, the cocoon wallet's
//! signed order, the internal messages it carries, and StateInit cells.

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::boc;
use cocoon_ledger::root_keys::{KeyRegistration, SignedKeyRegistration};
use tonlib_core::cell::{ArcCell, Cell, CellBuilder};
use tonlib_core::TonAddress;

use crate::cells::{expect_end, finish, layout, load_addr, load_bits256, load_coins, CellError};
use crate::wallet::MAX_MESSAGES_PER_EXTERNAL;

/// Largest external message BoC the mock accepts.
pub const MAX_EXTERNAL_BOC_BYTES: usize = 64 * 1024;
/// Most cells in an external message BoC.
pub const MAX_EXTERNAL_CELLS: usize = 512;

/// A decoded external-in message.
pub struct ExternalIn {
    /// Destination wallet.
    pub dest: TonAddress,
    /// StateInit attached (a wallet's first message).
    pub state_init: Option<ArcCell>,
    /// Body (the wallet's signed order).
    pub body: ArcCell,
}

fn load_maybe_init(
    p: &mut tonlib_core::cell::CellParser<'_>,
) -> Result<Option<ArcCell>, CellError> {
    if !p.load_bit()? {
        return Ok(None);
    }
    if !p.load_bit()? {
        return Err(layout("inline StateInit is not supported by the mock"));
    }
    Ok(Some(p.next_reference()?))
}

/// Parses `ext_in_msg_info$10 src:addr_none dest import_fee init body`.
pub fn parse_external(bytes: &[u8]) -> Result<ExternalIn, CellError> {
    let root = boc::parse_single_root(bytes, MAX_EXTERNAL_BOC_BYTES, MAX_EXTERNAL_CELLS)?;
    let mut p = root.parser();
    if p.load_u8(2)? != 0b10 {
        return Err(layout("not an external-in message"));
    }
    if p.load_u8(2)? != 0b00 {
        return Err(layout("external message source is not addr_none"));
    }
    let dest = load_addr(&mut p)?;
    let _import_fee = load_coins(&mut p)?;
    let state_init = load_maybe_init(&mut p)?;
    if !p.load_bit()? {
        return Err(layout("inline external body is not supported by the mock"));
    }
    let body = p.next_reference()?;
    expect_end(&mut p, "the external message")?;
    Ok(ExternalIn {
        dest,
        state_init,
        body,
    })
}

/// A cocoon wallet's signed order.
pub struct WalletOrder {
    /// Ed25519 signature.
    pub signature: [u8; 64],
    /// Representation hash of the order without the signature (what was signed).
    pub signed_hash: [u8; 32],
    /// Sub-wallet id (0).
    pub subwallet: u32,
    /// Expiry (unix seconds).
    pub valid_until: u32,
    /// Wallet seqno the order is for.
    pub seqno: u32,
    /// `(send_mode, internal message)` pairs.
    pub messages: Vec<(u8, ArcCell)>,
}

/// Parses `signature:512 | subwallet:u32 | valid_until:u32 | seqno:u32 | N × mode:u8` with
/// the N ≤ 4 internal messages as references.
pub fn parse_wallet_order(body: &Cell) -> Result<WalletOrder, CellError> {
    let mut p = body.parser();
    let mut signature = [0u8; 64];
    p.load_slice(&mut signature)?;
    let subwallet = p.load_u32(32)?;
    let valid_until = p.load_u32(32)?;
    let seqno = p.load_u32(32)?;
    let count = body.references().len();
    if count == 0 || count > MAX_MESSAGES_PER_EXTERNAL {
        return Err(layout(format!("{count} internal messages in one order")));
    }
    if p.remaining_bits() != count * 8 {
        return Err(layout("send modes do not match the internal messages"));
    }
    let mut modes = Vec::with_capacity(count);
    for _ in 0..count {
        modes.push(p.load_u8(8)?);
    }
    let mut unsigned = CellBuilder::new();
    unsigned.store_u32(32, subwallet)?;
    unsigned.store_u32(32, valid_until)?;
    unsigned.store_u32(32, seqno)?;
    for mode in &modes {
        unsigned.store_u8(8, *mode)?;
    }
    let mut messages = Vec::with_capacity(count);
    for (mode, cell) in modes.into_iter().zip(body.references()) {
        unsigned.store_reference(cell)?;
        messages.push((mode, cell.clone()));
    }
    let signed_hash = boc::cell_hash(&finish(unsigned)?);
    Ok(WalletOrder {
        signature,
        signed_hash,
        subwallet,
        valid_until,
        seqno,
        messages,
    })
}

/// An internal message a wallet sends.
pub struct InternalOut {
    /// Destination.
    pub dest: TonAddress,
    /// nanoTON attached.
    pub value: NanoTon,
    /// StateInit (a deploy).
    pub state_init: Option<ArcCell>,
    /// Body; `None` when empty.
    pub body: Option<ArcCell>,
}

/// Parses `int_msg_info$0 ihr_disabled bounce bounced src:addr_none dest value
/// extra:0 ihr_fee fwd_fee created_lt created_at init body`.
pub fn parse_internal(cell: &Cell) -> Result<InternalOut, CellError> {
    let mut p = cell.parser();
    if p.load_bit()? {
        return Err(layout("not an internal message"));
    }
    let _ihr_disabled = p.load_bit()?;
    let _bounce = p.load_bit()?;
    if p.load_bit()? {
        return Err(layout("a wallet cannot send a bounced message"));
    }
    if p.load_u8(2)? != 0 {
        return Err(layout("internal message source must be addr_none"));
    }
    let dest = load_addr(&mut p)?;
    let value = load_coins(&mut p)?;
    if p.load_bit()? {
        return Err(layout("extra currencies are not supported by the mock"));
    }
    let _ihr_fee = load_coins(&mut p)?;
    let _fwd_fee = load_coins(&mut p)?;
    let _created_lt = p.load_u64(64)?;
    let _created_at = p.load_u32(32)?;
    let state_init = load_maybe_init(&mut p)?;
    let body = if p.load_bit()? {
        Some(p.next_reference()?)
    } else if p.remaining_bits() == 0 && p.remaining_refs() == 0 {
        None
    } else {
        return Err(layout("inline internal body is not supported by the mock"));
    };
    expect_end(&mut p, "the internal message")?;
    Ok(InternalOut {
        dest,
        value,
        state_init,
        body,
    })
}

/// Splits a StateInit `00110 ^code ^data` into code and data.
pub fn parse_state_init(init: &Cell) -> Result<(ArcCell, ArcCell), CellError> {
    let mut p = init.parser();
    if p.load_u8(5)? != 0b00110 {
        return Err(layout("StateInit is not `code + data` only"));
    }
    let code = p.next_reference()?;
    let data = p.next_reference()?;
    expect_end(&mut p, "the StateInit")?;
    Ok((code, data))
}

/// The address a StateInit deploys to (workchain 0).
pub fn state_init_address(init: &Cell) -> TonAddress {
    TonAddress::new(0, tonlib_core::TonHash::from(boc::cell_hash(init)))
}

/// Serializes a body cell to the BoC bytes the devnet engine's voucher checks read.
pub fn body_boc(body: &ArcCell) -> Result<Vec<u8>, CellError> {
    Ok(boc::serialize(Cell::clone(body))?)
}

/// `root_add_public_key_signed`: `op | qid | excess | sig | ^(op | qid | key | type | until)`,
/// the inner head equal to the outer one (the signature is checked by the engine's root).
pub(super) fn parse_key_registration(body: &Cell) -> Result<SignedKeyRegistration, String> {
    let t = |e: tonlib_core::cell::TonCellError| e.to_string();
    let mut p = body.parser();
    let mut head = [0u8; 12];
    p.load_slice(&mut head).map_err(t)?;
    load_addr(&mut p).map_err(|e| e.to_string())?;
    let mut signature = [0u8; 64];
    p.load_slice(&mut signature).map_err(t)?;
    let inner = p.next_reference().map_err(t)?;
    let mut q = inner.parser();
    let mut inner_head = [0u8; 12];
    q.load_slice(&mut inner_head).map_err(t)?;
    if inner_head != head {
        return Err("signed inner cell does not match".into());
    }
    let mut q = inner.parser();
    q.skip_bits(32).map_err(t)?;
    let registration = KeyRegistration {
        query_id: q.load_u64(64).map_err(t)?,
        public_key: load_bits256(&mut q).map_err(|e| e.to_string())?,
        key_type: q.load_u8(8).map_err(t)?,
        valid_until: q.load_u32(32).map_err(t)?,
    };
    if q.remaining_bits() != 0 {
        return Err("trailing bits in the signed inner cell".into());
    }
    Ok(SignedKeyRegistration {
        registration,
        signature,
    })
}
