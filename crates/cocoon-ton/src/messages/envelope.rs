//! Message envelopes: the internal message a cocoon wallet sends (one per reference of its
//! external message) and the external-in message handed to a liteserver.
//!
//! Internal (`int_msg_info$0`, as `CocoonWallet::send_pending_transactions` writes it):
//! ```text
//! 0 ihr_disabled=1 bounce bounced=0 | src addr_none 00     (6 bits: 0x18, or 0x10 with StateInit)
//! | dest addr_std | value coins | extra currencies 0 | ihr_fee 0000 | fwd_fee 0000
//! | created_lt:64 = 0 | created_at:32 = 0
//! | init: 0, or 1 1 ^StateInit | body: 1 ^body, or 0 (empty, inline)
//! ```
//! A message carrying a StateInit (a deploy) is sent non-bounceable, so a failed deploy
//! leaves the coins on the new address instead of bouncing them.
//!
//! External (`ext_in_msg_info$10`, as `BaseRunner::send_external_message_coro` writes it):
//! `10 | src addr_none 00 | dest addr_std | import_fee 0000 | init: 0 or 1 1 ^StateInit |
//! body: 1 ^body`.

use std::sync::Arc;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::address::{contract_address, state_init_cell};
use tonlib_core::cell::{ArcCell, Cell, CellBuilder};
use tonlib_core::TonAddress;

use crate::cells::{finish, store_addr, store_coins, CellError};

/// One internal message to be sent from a cocoon wallet.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    /// Destination contract.
    pub dest: TonAddress,
    /// nanoTON attached.
    pub value: NanoTon,
    /// StateInit to deploy the destination with (sent non-bounceable).
    pub state_init: Option<ArcCell>,
    /// Body; `None` sends an empty body.
    pub body: Option<ArcCell>,
}

impl OutgoingMessage {
    /// The wallet send mode the reference uses for it: 1 ("pay fees separately") for a
    /// value of at most 1 nanoTON (the proxy's `save_state`), else 0.
    pub fn send_mode(&self) -> u8 {
        if self.value > 1 {
            0
        } else {
            1
        }
    }
}

/// The message that deploys the contract with `code` and init `data`: to its derived
/// address, carrying the StateInit and an empty body (the runners' `deploy`; values in
/// [`crate::messages::value`]).
pub fn deploy_message(
    code: &ArcCell,
    data: &ArcCell,
    value: NanoTon,
) -> Result<OutgoingMessage, CellError> {
    Ok(OutgoingMessage {
        dest: contract_address(code, data)?,
        value,
        state_init: Some(Arc::new(state_init_cell(code, data)?)),
        body: None,
    })
}

fn store_init(b: &mut CellBuilder, state_init: Option<&ArcCell>) -> Result<(), CellError> {
    match state_init {
        Some(init) => {
            b.store_bit(true)?;
            b.store_bit(true)?;
            b.store_reference(init)?;
        }
        None => {
            b.store_bit(false)?;
        }
    }
    Ok(())
}

/// The internal message cell for `msg`.
pub fn internal_message_cell(msg: &OutgoingMessage) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    let flags = if msg.state_init.is_some() { 0x10 } else { 0x18 };
    b.store_u8(6, flags)?;
    store_addr(&mut b, &msg.dest)?;
    store_coins(&mut b, msg.value)?;
    // Extra currencies (empty dict), ihr_fee and fwd_fee (coins 0), created_lt, created_at.
    b.store_u16(1 + 4 + 4, 0)?;
    b.store_u64(64, 0)?;
    b.store_u32(32, 0)?;
    store_init(&mut b, msg.state_init.as_ref())?;
    match &msg.body {
        Some(body) => {
            b.store_bit(true)?;
            b.store_reference(body)?;
        }
        None => {
            b.store_bit(false)?;
        }
    }
    finish(b)
}

/// The external-in message to `dest` carrying `body` (and `state_init` while the wallet is
/// not deployed yet).
pub fn external_message_cell(
    dest: &TonAddress,
    state_init: Option<&ArcCell>,
    body: &ArcCell,
) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    b.store_u8(2, 0b10)?;
    b.store_u8(2, 0b00)?;
    store_addr(&mut b, dest)?;
    store_coins(&mut b, 0)?;
    store_init(&mut b, state_init)?;
    b.store_bit(true)?;
    b.store_reference(body)?;
    finish(b)
}
