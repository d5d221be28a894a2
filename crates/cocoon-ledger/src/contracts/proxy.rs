//! The proxy contract (contracts.md §3.3): it holds the money ([`ProxyContractState::funds`]),
//! books its commission when a worker payout arrives, pays refunds and payouts, and closes
//! in two steps, the second paying everything it holds to its owner.

use super::{not_closed, require, spend, ClientPayload, Emitted, Exit, WorkerPayout};
use crate::accounting::NanoTon;
use crate::ledger::{ContractStatus, ProxyContractState};

/// A proxy handler's result: the new state and the payouts it sends.
pub type ProxyHandled = Result<(ProxyContractState, Vec<Emitted>), Exit>;

/// A new proxy contract as a plain deploy leaves it: stake 0, commission 0, holding
/// `funds` (what the deploy brought beyond gas; 0 on the devnet).
pub fn deployed(
    owner: String,
    public_key: [u8; 32],
    funds: NanoTon,
    params_version: u32,
) -> ProxyContractState {
    ProxyContractState {
        owner,
        public_key,
        status: ContractStatus::Active,
        stake: 0,
        commission: 0,
        funds,
        unlock_ts: 0,
        saved_states: Vec::new(),
        registrations: Vec::new(),
        params_version,
    }
}

fn payout(to: &str, amount: NanoTon) -> Emitted {
    Emitted::Payout {
        to: to.to_string(),
        amount,
    }
}

/// A `client_proxy_request` with a payload from the client contract of `client_owner`
/// (the sender check is the caller's): TOPUP is kept while Active and returned to the
/// client owner otherwise (never refused for state); REFUND(G) pays the amount; REFUND(F)
/// pays `min(amount, stake)` and lowers the stake (a payout of 0 is still sent); both
/// refused when Closed. REGISTER does nothing.
pub fn client_notice(
    p: &ProxyContractState,
    client_owner: &str,
    payload: &ClientPayload,
) -> ProxyHandled {
    let mut p = p.clone();
    let out = match *payload {
        ClientPayload::Register { .. } => Vec::new(),
        ClientPayload::TopUp { amount } => {
            if p.status == ContractStatus::Active {
                p.funds += amount;
                Vec::new()
            } else {
                vec![payout(client_owner, amount)]
            }
        }
        ClientPayload::RefundGranted { amount } => {
            not_closed(p.status)?;
            spend(&mut p, amount)?;
            vec![payout(client_owner, amount)]
        }
        ClientPayload::RefundForce { amount } => {
            not_closed(p.status)?;
            let paid = amount.min(p.stake);
            spend(&mut p, paid)?;
            p.stake -= paid;
            vec![payout(client_owner, paid)]
        }
    };
    Ok((p, out))
}

/// A `worker_proxy_request` payout from the worker contract of `worker_owner` (sender check
/// by the caller): refused when Closed; books `proxy_part` as commission and pays
/// `worker_part` to the worker owner (exit 5 when the proxy cannot cover it).
pub fn worker_notice(
    p: &ProxyContractState,
    worker_owner: &str,
    payout_of: &WorkerPayout,
) -> ProxyHandled {
    not_closed(p.status)?;
    let mut p = p.clone();
    spend(&mut p, payout_of.worker_part)?;
    p.commission += payout_of.proxy_part;
    Ok((p, vec![payout(worker_owner, payout_of.worker_part)]))
}

/// `ext_proxy_payout_request` (anyone) or the owner's text "w": pays the booked commission
/// to the owner (a 0 payout too), commission 0; refused when Closed, exit 5 when the money
/// does not cover it.
pub fn payout_request(p: &ProxyContractState) -> ProxyHandled {
    not_closed(p.status)?;
    let mut p = p.clone();
    let amount = p.commission;
    spend(&mut p, amount)?;
    p.commission = 0;
    let out = vec![payout(&p.owner, amount)];
    Ok((p, out))
}

/// `ext_proxy_increase_stake` (anyone): the proxy keeps `amount` as stake.
pub fn increase_stake(p: &ProxyContractState, amount: NanoTon) -> ProxyHandled {
    not_closed(p.status)?;
    let mut p = p.clone();
    p.stake += amount;
    p.funds += amount;
    Ok((p, Vec::new()))
}

/// Close step 1 (signed request, owner op or text "c"; owner and signature checked by the
/// caller): Active only; Closing until `now + delay`.
pub fn close_request(p: &ProxyContractState, now: u64, delay: u64) -> ProxyHandled {
    require(p.status, ContractStatus::Active)?;
    let mut p = p.clone();
    p.status = ContractStatus::Closing;
    p.unlock_ts = now.saturating_add(delay);
    Ok((p, Vec::new()))
}

/// `owner_proxy_close` or the owner's text "c": Active only (1006), then the owner (1010);
/// close step 1.
pub fn owner_close(p: &ProxyContractState, sender: &str, now: u64, delay: u64) -> ProxyHandled {
    require(p.status, ContractStatus::Active)?;
    owner(p, sender)?;
    close_request(p, now, delay)
}

/// The owner's text "w": not Closed (1006), the owner (1010); pays the booked commission
/// to the owner (in one message with the excess of the value attached).
pub fn owner_withdraw(p: &ProxyContractState, sender: &str) -> ProxyHandled {
    not_closed(p.status)?;
    owner(p, sender)?;
    payout_request(p)
}

fn owner(p: &ProxyContractState, sender: &str) -> Result<(), Exit> {
    if p.owner == sender {
        Ok(())
    } else {
        Err(Exit::NotOwner(1010))
    }
}

/// Close step 2 (signed): Closing only, `now ≥ unlock_ts`; pays everything it holds —
/// stake, booked commission and any client money not refunded — to the owner; Closed with
/// commission, stake and unlock 0.
pub fn close_complete(p: &ProxyContractState, now: u64) -> ProxyHandled {
    require(p.status, ContractStatus::Closing)?;
    if now < p.unlock_ts {
        return Err(Exit::Locked {
            unlock_ts: p.unlock_ts,
            now,
        });
    }
    let mut p = p.clone();
    let amount = std::mem::take(&mut p.funds);
    p.status = ContractStatus::Closed;
    p.commission = 0;
    p.stake = 0;
    p.unlock_ts = 0;
    let out = vec![payout(&p.owner, amount)];
    Ok((p, out))
}
