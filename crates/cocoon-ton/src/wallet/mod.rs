//! The cocoon wallet (§6.7): the reference runners' own wallet contract through which every
//! internal message is sent.
//!
//! * Address: workchain 0, hash of the StateInit `[code, data]`. The **code cell is
//!   supplied by the caller** (configuration or read from the chain); this crate embeds no
//!   compiled contract code. Init data: `u32 0 | u32 0 | pubkey:256 | u32 0 | owner:addr_std`;
//!   the first `u32` is the seqno the deployed wallet keeps there.
//! * Signed body: `signature:512 | subwallet:u32 = 0 | valid_until:u32 | seqno:u32 |
//!   N × send_mode:u8`, with the N ≤ 4 internal messages as references, where the signature
//!   is Ed25519 over the representation hash of the same cell without the signature.
//! * External message: see [`crate::messages::envelope`]; the StateInit rides along while
//!   the wallet's seqno is 0 (not deployed yet).
//!
//! [`sender::WalletSender`] is the "one message in flight" state machine on top.

pub mod sender;

use std::sync::Arc;

use cocoon_ledger::accounting::{NanoTon, ONE_TON};
use cocoon_ledger::address::{contract_address, state_init_cell};
use cocoon_ledger::boc;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use tonlib_core::cell::{ArcCell, Cell, CellBuilder};
use tonlib_core::TonAddress;

use crate::cells::{finish, store_addr, CellError};
use crate::messages::{external_message_cell, internal_message_cell, OutgoingMessage};

pub use sender::{ExternalSend, MessageTicket, PollResult, WalletSender};

/// At most this many internal messages per external message.
pub const MAX_MESSAGES_PER_EXTERNAL: usize = 4;
/// `valid_until = now + VALID_FOR_SECS`.
pub const VALID_FOR_SECS: u64 = 3600;
/// An unconfirmed external message is sent again after this many seconds.
pub const RESEND_AFTER_SECS: u64 = 30;
/// Below this balance the wallet sends nothing (the reference's low-balance threshold).
pub const MIN_BALANCE: NanoTon = ONE_TON * 21 / 10;
/// Below this balance an operator should be warned.
pub const WARN_BALANCE: NanoTon = 5 * ONE_TON;
/// Kept back for fees on top of the message values.
pub const COINS_RESERVE: NanoTon = ONE_TON / 10;
/// At most this much value leaves in one external message.
pub const MAX_VALUE_PER_EXTERNAL: NanoTon = 1000 * ONE_TON;

/// Wallet error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// Cell building failed.
    #[error(transparent)]
    Cell(#[from] CellError),
    /// Zero or more than [`MAX_MESSAGES_PER_EXTERNAL`] messages.
    #[error("an external message carries 1 to 4 internal messages, not {0}")]
    MessageCount(usize),
    /// The signing key does not belong to this wallet.
    #[error("signing key does not match the wallet public key")]
    KeyMismatch,
    /// `now + 3600` does not fit the 32-bit `valid_until`.
    #[error("time {0} is out of the 32-bit range")]
    ClockOutOfRange(u64),
}

/// The wallet's init data cell: `u32 0 | u32 0 | pubkey:256 | u32 0 | owner`.
pub fn wallet_data_cell(public_key: &VerifyingKey, owner: &TonAddress) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    b.store_u32(32, 0)?;
    b.store_u32(32, 0)?;
    b.store_slice(public_key.as_bytes())?;
    b.store_u32(32, 0)?;
    store_addr(&mut b, owner)?;
    finish(b)
}

/// The seqno of a deployed wallet: the first 32 bits of its data cell.
pub fn parse_wallet_seqno(data: &Cell) -> Result<u32, CellError> {
    Ok(data.parser().load_u32(32)?)
}

/// A cocoon wallet: its code (from the caller), init data, StateInit and address.
#[derive(Clone, Debug)]
pub struct CocoonWallet {
    public_key: VerifyingKey,
    owner: TonAddress,
    state_init: ArcCell,
    address: TonAddress,
}

impl CocoonWallet {
    /// The wallet of `public_key` owned by `owner`, running `code`.
    pub fn new(
        code: ArcCell,
        public_key: VerifyingKey,
        owner: TonAddress,
    ) -> Result<CocoonWallet, CellError> {
        let data = Arc::new(wallet_data_cell(&public_key, &owner)?);
        let state_init = Arc::new(state_init_cell(&code, &data)?);
        let address = contract_address(&code, &data)?;
        Ok(CocoonWallet {
            public_key,
            owner,
            state_init,
            address,
        })
    }

    /// Wallet address (workchain 0).
    pub fn address(&self) -> &TonAddress {
        &self.address
    }

    /// StateInit cell (attached while the wallet is not deployed).
    pub fn state_init(&self) -> &ArcCell {
        &self.state_init
    }

    /// Public key in the init data.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    /// Owner in the init data.
    pub fn owner(&self) -> &TonAddress {
        &self.owner
    }

    /// The signed external body for `messages` at `seqno`, valid until `valid_until`.
    pub fn signed_body(
        &self,
        key: &SigningKey,
        seqno: u32,
        valid_until: u32,
        messages: &[OutgoingMessage],
    ) -> Result<Cell, WalletError> {
        if key.verifying_key() != self.public_key {
            return Err(WalletError::KeyMismatch);
        }
        if messages.is_empty() || messages.len() > MAX_MESSAGES_PER_EXTERNAL {
            return Err(WalletError::MessageCount(messages.len()));
        }
        let mut internals = Vec::with_capacity(messages.len());
        for msg in messages {
            internals.push(Arc::new(internal_message_cell(msg)?));
        }
        let mut unsigned = CellBuilder::new();
        let mut signed = CellBuilder::new();
        let fields = |b: &mut CellBuilder| -> Result<(), CellError> {
            b.store_u32(32, 0)?;
            b.store_u32(32, valid_until)?;
            b.store_u32(32, seqno)?;
            for msg in messages {
                b.store_u8(8, msg.send_mode())?;
            }
            for cell in &internals {
                b.store_reference(cell)?;
            }
            Ok(())
        };
        fields(&mut unsigned)?;
        let signature = key.sign(&boc::cell_hash(&finish(unsigned)?)).to_bytes();
        signed.store_slice(&signature).map_err(CellError::from)?;
        fields(&mut signed)?;
        Ok(finish(signed)?)
    }

    /// The external message carrying `body`, with the StateInit attached when `seqno` is 0.
    pub fn external_message(&self, body: &ArcCell, seqno: u32) -> Result<Cell, CellError> {
        let init = (seqno == 0).then_some(&self.state_init);
        external_message_cell(&self.address, init, body)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
