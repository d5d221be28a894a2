//! Client, worker and proxy contract data cells (§6.9 "state parsing on update") as the
//! [`cocoon_ledger::ledger`] state types.
//!
//! ```text
//! client: state:2 | balance:coins | stake:coins | tokens_used:u64 | unlock_ts:u32
//!         | secret_hash:256 | ^(owner | proxy_sc | proxy_pubkey:256) | ^params
//! worker: owner | proxy_sc | proxy_pubkey:256 | state:2 | tokens:u64 | ^params
//! proxy:  owner | proxy_pubkey:256 | root | state:2 | balance:coins | stake:coins
//!         | unlock_ts:u32 | ^params
//! ```
//! Of `^params` only `params_version` is read (a contract with a lower one than the root's
//! is outdated). The 2-bit state is 0 active, 1 closing, 2 (or 3) closed, as the reference runners read it.
//! Fields the data cells do not hold: the proxy contract's `funds` (the money it holds is its
//! account balance, not part of the data) is set to 0, and its
//! `saved_states` come from transactions ([`crate::messages::observed`]), not from data, so
//! they are left empty. The proxy's data `balance` is what the reference calls
//! `ready_for_withdraw`, reported as `commission`. An account without data (not deployed)
//! has no cell to parse; callers handle that case.

use cocoon_ledger::ledger::{
    ClientContractState, ContractStatus, ProxyContractState, WorkerContractState,
};
use tonlib_core::cell::Cell;
use tonlib_core::TonAddress;

use crate::cells::{expect_end, load_addr, load_bits256, load_coins, CellError};

/// Maps the 2-bit contract state.
pub fn contract_status(state: u8) -> ContractStatus {
    match state {
        0 => ContractStatus::Active,
        1 => ContractStatus::Closing,
        _ => ContractStatus::Closed,
    }
}

/// The `params_version` of a contract's `^params` cell (`struct_version:u8 |
/// params_version:u32 | …`, §6.8); the rest of the cell is not needed here.
fn params_version_of(params: &Cell) -> Result<u32, CellError> {
    let mut p = params.parser();
    let _struct_version = p.load_u8(8)?;
    Ok(p.load_u32(32)?)
}

/// Parses a client contract data cell.
pub fn parse_client_state(data: &Cell) -> Result<ClientContractState, CellError> {
    let mut p = data.parser();
    let state = p.load_u8(2)?;
    let balance = load_coins(&mut p)?;
    let stake = load_coins(&mut p)?;
    let tokens_used = p.load_u64(64)?;
    let unlock_ts = p.load_u32(32)?;
    let secret_hash = load_bits256(&mut p)?;
    let identity = p.next_reference()?;
    let params = p.next_reference()?;
    let params_version = params_version_of(&params)?;
    expect_end(&mut p, "the client contract data")?;
    let mut q = identity.parser();
    let owner = load_addr(&mut q)?;
    let proxy_sc = load_addr(&mut q)?;
    let _proxy_key = load_bits256(&mut q)?;
    expect_end(&mut q, "the client contract identity cell")?;
    Ok(ClientContractState {
        owner: owner.to_hex(),
        proxy_sc: proxy_sc.to_hex(),
        status: contract_status(state),
        balance,
        stake,
        tokens_used,
        unlock_ts: u64::from(unlock_ts),
        secret_hash,
        params_version,
    })
}

/// Parses a worker contract data cell.
pub fn parse_worker_state(data: &Cell) -> Result<WorkerContractState, CellError> {
    let mut p = data.parser();
    let owner = load_addr(&mut p)?;
    let proxy_sc = load_addr(&mut p)?;
    let _proxy_key = load_bits256(&mut p)?;
    let state = p.load_u8(2)?;
    let tokens = p.load_u64(64)?;
    let params = p.next_reference()?;
    let params_version = params_version_of(&params)?;
    expect_end(&mut p, "the worker contract data")?;
    Ok(WorkerContractState {
        owner: owner.to_hex(),
        proxy_sc: proxy_sc.to_hex(),
        status: contract_status(state),
        tokens,
        params_version,
        payouts_bounced: 0,
    })
}

/// A proxy contract's data: the ledger state plus the root address it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyContractData {
    /// Ledger view (`funds` 0 and `saved_states` empty: not in the data cell).
    pub state: ProxyContractState,
    /// Root contract the proxy contract belongs to.
    pub root: TonAddress,
}

/// Parses a proxy contract data cell.
pub fn parse_proxy_state(data: &Cell) -> Result<ProxyContractData, CellError> {
    let mut p = data.parser();
    let owner = load_addr(&mut p)?;
    let public_key = load_bits256(&mut p)?;
    let root = load_addr(&mut p)?;
    let state = p.load_u8(2)?;
    let balance = load_coins(&mut p)?;
    let stake = load_coins(&mut p)?;
    let unlock_ts = p.load_u32(32)?;
    let params = p.next_reference()?;
    let params_version = params_version_of(&params)?;
    expect_end(&mut p, "the proxy contract data")?;
    Ok(ProxyContractData {
        state: ProxyContractState {
            owner: owner.to_hex(),
            public_key,
            status: contract_status(state),
            stake,
            commission: balance,
            funds: 0,
            unlock_ts: u64::from(unlock_ts),
            saved_states: Vec::new(),
            registrations: Vec::new(),
            params_version,
        },
        root,
    })
}

#[cfg(test)]
#[path = "contract_state_tests.rs"]
mod tests;
