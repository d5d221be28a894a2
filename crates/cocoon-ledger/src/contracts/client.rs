//! The client contract (contracts.md §3.1): an accounting `balance` with the `stake` inside
//! it, a token counter and a close flow. It holds no money: top-ups are forwarded to the
//! proxy contract, and every refund is a request the proxy contract pays.

use super::{not_closed, require, ClientPayload, ClientReport, Emitted, Exit, Handled};
use crate::accounting::{NanoTon, Prices};
use crate::ledger::{ClientContractState, ContractStatus};

/// The notice the client sends after an update (the state in it is the new one).
fn notice(client: &ClientContractState, payload: Option<ClientPayload>) -> Emitted {
    Emitted::ClientNotice {
        owner: client.owner.clone(),
        proxy_sc: client.proxy_sc.clone(),
        report: ClientReport::of(client),
        payload,
    }
}

fn done(
    client: ClientContractState,
    payload: Option<ClientPayload>,
) -> Handled<ClientContractState> {
    let out = vec![notice(&client, payload)];
    Ok((client, out))
}

fn owner(client: &ClientContractState, sender: &str, code: u32) -> Result<(), Exit> {
    if client.owner == sender {
        Ok(())
    } else {
        Err(Exit::NotOwner(code))
    }
}

/// A new client contract as its init data has it: balance 0, `stake = min_client_stake`.
pub fn deployed(
    owner: String,
    proxy_sc: String,
    min_client_stake: NanoTon,
    params_version: u32,
) -> ClientContractState {
    ClientContractState {
        owner,
        proxy_sc,
        status: ContractStatus::Active,
        balance: 0,
        stake: min_client_stake,
        tokens_used: 0,
        unlock_ts: 0,
        secret_hash: [0; 32],
        params_version,
    }
}

/// `ext_client_top_up` (anyone): `balance += amount` even while Closing; TOPUP.
pub fn top_up(c: &ClientContractState, amount: NanoTon) -> Handled<ClientContractState> {
    not_closed(c.status)?;
    let mut c = c.clone();
    c.balance += amount;
    done(c, Some(ClientPayload::TopUp { amount }))
}

/// `owner_client_register`: storage unchanged; REGISTER with the nonce.
pub fn register(c: &ClientContractState, sender: &str, nonce: u64) -> Handled<ClientContractState> {
    not_closed(c.status)?;
    owner(c, sender, 1010)?;
    done(c.clone(), Some(ClientPayload::Register { nonce }))
}

/// `owner_client_change_secret_hash`; INFO.
pub fn change_secret_hash(
    c: &ClientContractState,
    sender: &str,
    hash: [u8; 32],
) -> Handled<ClientContractState> {
    not_closed(c.status)?;
    owner(c, sender, 1010)?;
    let mut c = c.clone();
    c.secret_hash = hash;
    done(c, None)
}

/// `owner_client_increase_stake`: only rewrites the figure (strictly larger; no money
/// moves, it may exceed the balance); INFO.
pub fn increase_stake(
    c: &ClientContractState,
    sender: &str,
    new_stake: NanoTon,
) -> Handled<ClientContractState> {
    not_closed(c.status)?;
    owner(c, sender, 1010)?;
    if new_stake <= c.stake {
        return Err(Exit::StakeNotHigher);
    }
    let mut c = c.clone();
    c.stake = new_stake;
    done(c, None)
}

/// `owner_client_withdraw`: Active only, `balance − stake` (strictly positive) comes back
/// through the proxy (REFUND(G)); `balance = stake`.
pub fn withdraw(c: &ClientContractState, sender: &str) -> Handled<ClientContractState> {
    require(c.status, ContractStatus::Active)?;
    owner(c, sender, 1009)?;
    if c.balance <= c.stake {
        return Err(Exit::NothingAboveStake);
    }
    let mut c = c.clone();
    let amount = c.balance - c.stake;
    c.balance = c.stake;
    done(c, Some(ClientPayload::RefundGranted { amount }))
}

/// `owner_client_request_refund`. Active: Closing until `now + delay`, and the money above
/// the stake comes back at once (REFUND(G); INFO when there is none). Closing, strictly
/// after the unlock time: Closed, balance 0, REFUND(F) of the whole balance (the proxy caps
/// it by its stake).
pub fn request_refund(
    c: &ClientContractState,
    sender: &str,
    now: u64,
    delay: u64,
) -> Handled<ClientContractState> {
    not_closed(c.status)?;
    owner(c, sender, 1009)?;
    let mut c = c.clone();
    if c.status == ContractStatus::Active {
        c.status = ContractStatus::Closing;
        c.unlock_ts = now.saturating_add(delay);
        if c.balance > c.stake {
            let amount = c.balance - c.stake;
            c.balance = c.stake;
            return done(c, Some(ClientPayload::RefundGranted { amount }));
        }
        return done(c, None);
    }
    if c.unlock_ts >= now {
        return Err(Exit::Locked {
            unlock_ts: c.unlock_ts,
            now,
        });
    }
    c.status = ContractStatus::Closed;
    let amount = std::mem::take(&mut c.balance);
    done(c, Some(ClientPayload::RefundForce { amount }))
}

/// The charge of a voucher up to `tokens` (cocoon_client.fc:79‑98): `balance −= cost`, or
/// 0 when the cost reaches it (the rest is forgiven). Returns what left the balance.
fn charge_to(c: &mut ClientContractState, tokens: u64, prices: &Prices) -> NanoTon {
    let cost = prices.client_charge(tokens - c.tokens_used);
    let taken = if cost < c.balance { cost } else { c.balance };
    c.balance -= taken;
    c.tokens_used = tokens;
    taken
}

/// `ext_client_charge_signed` (signature checked by the caller): tokens strictly up;
/// allowed while Active or Closing; INFO. No money moves. Also returns what left the
/// balance.
pub fn charge(
    c: &ClientContractState,
    tokens: u64,
    prices: &Prices,
) -> Result<(ClientContractState, Vec<Emitted>, NanoTon), Exit> {
    not_closed(c.status)?;
    if tokens <= c.tokens_used {
        return Err(Exit::TokensNotHigher {
            offered: tokens,
            settled: c.tokens_used,
        });
    }
    let mut c = c.clone();
    let taken = charge_to(&mut c, tokens, prices);
    let (c, out) = done(c, None)?;
    Ok((c, out, taken))
}

/// `ext_client_grant_refund_signed` (signature checked by the caller): tokens may stay
/// equal; charges as [`charge`], then Closed, unlock 0, and the whole balance comes back
/// (REFUND(G), uncapped). Also returns what the charge took.
pub fn grant_refund(
    c: &ClientContractState,
    tokens: u64,
    prices: &Prices,
) -> Result<(ClientContractState, Vec<Emitted>, NanoTon), Exit> {
    if c.status == ContractStatus::Closed && c.balance == 0 {
        return Err(Exit::WrongState(c.status));
    }
    if tokens < c.tokens_used {
        return Err(Exit::TokensNotHigher {
            offered: tokens,
            settled: c.tokens_used,
        });
    }
    let mut c = c.clone();
    let taken = charge_to(&mut c, tokens, prices);
    c.status = ContractStatus::Closed;
    c.unlock_ts = 0;
    let amount = std::mem::take(&mut c.balance);
    let (c, out) = done(c, Some(ClientPayload::RefundGranted { amount }))?;
    Ok((c, out, taken))
}
