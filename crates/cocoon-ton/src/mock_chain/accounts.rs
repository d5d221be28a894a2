//! The account states the mock chain serves: data cells written in the documented layouts
//! (§6.9, see [`crate::contract_state`]) from the devnet engine's contract states, so the
//! backend parses them exactly as it parses real ones.

use std::sync::Arc;

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::{
    ClientContractState, ContractStatus, ProxyContractState, WorkerContractState,
};
use ed25519_dalek::VerifyingKey;
use tonlib_core::cell::{ArcCell, Cell, CellBuilder};
use tonlib_core::TonAddress;

use crate::cells::{finish, layout, store_addr, store_coins, CellError};

fn status_bits(status: ContractStatus) -> u8 {
    match status {
        ContractStatus::Active => 0,
        ContractStatus::Closing => 1,
        ContractStatus::Closed => 2,
    }
}

fn unlock_u32(unlock_ts: u64) -> Result<u32, CellError> {
    u32::try_from(unlock_ts).map_err(|_| layout("unlock_ts does not fit 32 bits"))
}

fn params_ref(init_data: &ArcCell, index: usize) -> Result<ArcCell, CellError> {
    Ok(init_data.reference(index)?.clone())
}

/// A deployed cocoon wallet's data: `seqno:u32 | 0:u32 | pubkey:256 | 0:u32 | owner`.
pub fn wallet_data(
    seqno: u32,
    public_key: &VerifyingKey,
    owner: &TonAddress,
) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    b.store_u32(32, seqno)?;
    b.store_u32(32, 0)?;
    b.store_slice(public_key.as_bytes())?;
    b.store_u32(32, 0)?;
    store_addr(&mut b, owner)?;
    finish(b)
}

/// A proxy contract's data from its engine state; `^params` taken from its init data.
pub fn proxy_data(
    state: &ProxyContractState,
    owner: &TonAddress,
    root: &TonAddress,
    init_data: &ArcCell,
) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    store_addr(&mut b, owner)?;
    b.store_slice(&state.public_key)?;
    store_addr(&mut b, root)?;
    b.store_u8(2, status_bits(state.status))?;
    store_coins(&mut b, state.commission)?;
    store_coins(&mut b, state.stake)?;
    b.store_u32(32, unlock_u32(state.unlock_ts)?)?;
    b.store_reference(&params_ref(init_data, 0)?)?;
    finish(b)
}

/// A client contract's data; the identity and `^params` cells taken from its init data.
pub fn client_data(state: &ClientContractState, init_data: &ArcCell) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    b.store_u8(2, status_bits(state.status))?;
    store_coins(&mut b, state.balance)?;
    store_coins(&mut b, state.stake)?;
    b.store_u64(64, state.tokens_used)?;
    b.store_u32(32, unlock_u32(state.unlock_ts)?)?;
    b.store_slice(&state.secret_hash)?;
    b.store_reference(&params_ref(init_data, 0)?)?;
    b.store_reference(&params_ref(init_data, 1)?)?;
    finish(b)
}

/// A worker contract's data; `^params` taken from its init data.
pub fn worker_data(
    state: &WorkerContractState,
    owner: &TonAddress,
    proxy_sc: &TonAddress,
    proxy_key: &[u8; 32],
    init_data: &ArcCell,
) -> Result<Cell, CellError> {
    let mut b = CellBuilder::new();
    store_addr(&mut b, owner)?;
    store_addr(&mut b, proxy_sc)?;
    b.store_slice(proxy_key)?;
    b.store_u8(2, status_bits(state.status))?;
    b.store_u64(64, state.tokens)?;
    b.store_reference(&params_ref(init_data, 0)?)?;
    finish(b)
}

/// The balance a proxy contract account holds in the simulation (gas aside).
pub fn proxy_balance(state: &ProxyContractState) -> NanoTon {
    state.funds
}

/// Wraps a built cell.
pub fn arc(cell: Cell) -> ArcCell {
    Arc::new(cell)
}
