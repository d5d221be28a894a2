//! How a client proves it may spend its client contract (runners.md §3.2 steps 4–6).
//!
//! With a ledger (devnet or TON) each connection gets a random 64-bit nonce. A client whose
//! contract is on the ledger and active is offered **short** auth: it sends its secret,
//! accepted iff `sha256(secret)` equals the hash the contract holds *now* (the client may
//! have changed it during the handshake). Anyone else is offered **long** auth: the client
//! sends `owner_client_register(nonce)` from its wallet to its client contract, which
//! forwards the nonce to our proxy contract; `client.authorizeWithProxyLong` is answered
//! once that registration — from this owner, with this nonce — is seen on the ledger
//! (polled; at most [`LONG_AUTH_TIMEOUT`], the reference client's own timeout), and the
//! contract is active. Only the wallet's owner can make its contract send that, so nobody
//! can spend another owner's contract by naming it.
//!
//! Without a ledger (fake-TON mode, §6.10): short auth against `sha256("")` with nonce 0,
//! and long auth succeeds at once.

use std::time::Duration;

use cocoon_ledger::address::parse_address;
use cocoon_ledger::ledger::{ContractStatus, Ledger, LedgerError};
use cocoon_net::Session;
use cocoon_wire::schema::{enums, types};
use tonlib_core::TonAddress;

use super::{ProxyShared, Side};

/// How long `client.authorizeWithProxyLong` waits for the client's registration.
pub const LONG_AUTH_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the ledger is read while waiting for a registration.
const REGISTRATION_POLL: Duration = Duration::from_millis(250);

/// The auth a client is offered in `client.connectedToProxy`, and the nonce its long auth
/// must carry (0 without a ledger).
pub async fn offer(shared: &ProxyShared, owner: &str) -> (enums::client::ProxyConnectionAuth, u64) {
    use enums::client::ProxyConnectionAuth::{ProxyConnectionAuthLong, ProxyConnectionAuthShort};
    if shared.settings.ledger.is_none() {
        let short = types::client::ProxyConnectionAuthShort {
            secret_hash: shared.settings.client_secret_hash,
            nonce: 0,
        };
        return (ProxyConnectionAuthShort(short), 0);
    }
    // Never 0 (the fake-TON nonce). On the wire a `long`, in the contract a u64: same bits.
    let nonce = rand::random::<u64>().max(1);
    let wire_nonce = nonce as i64;
    match active_contract_hash(shared, owner).await {
        Ok(secret_hash) => (
            ProxyConnectionAuthShort(types::client::ProxyConnectionAuthShort {
                secret_hash,
                nonce: wire_nonce,
            }),
            nonce,
        ),
        Err(_) => (
            ProxyConnectionAuthLong(types::client::ProxyConnectionAuthLong { nonce: wire_nonce }),
            nonce,
        ),
    }
}

/// The secret hash short auth is checked against: the one the client contract holds
/// (read now), or `sha256("")` without a ledger.
pub async fn expected_secret_hash(shared: &ProxyShared, owner: &str) -> Result<[u8; 32], String> {
    if shared.settings.ledger.is_none() {
        return Ok(shared.settings.client_secret_hash);
    }
    active_contract_hash(shared, owner).await
}

/// Waits for `owner`'s registration with `nonce` at our proxy contract (long auth). Without
/// a ledger it succeeds at once. Gives up when `session` closes or after
/// [`LONG_AUTH_TIMEOUT`].
pub async fn await_registration(
    shared: &ProxyShared,
    session: &Session,
    owner: &str,
    nonce: u64,
) -> Result<(), String> {
    let Some(ledger) = shared.settings.ledger.clone() else {
        return Ok(());
    };
    let owner_address = parse_address(owner)
        .map_err(|e| format!("owner address {owner}: {e}"))?
        .address;
    let proxy_sc = parse_address(&shared.settings.proxy_sc_address)
        .map_err(|e| format!("our proxy contract address: {e}"))?
        .address;
    // The registration proves ownership; the contract must also be usable. On TON the
    // proxy may not have read the client contract yet when the registration shows up:
    // "not synced" keeps the wait going.
    let wait = async {
        loop {
            if registered(&ledger, &proxy_sc, &owner_address, nonce).await? {
                match contract_hash(shared, owner).await {
                    Ok(_) => return Ok::<(), String>(()),
                    // A registration comes through the contract, so it exists: the ledger
                    // has not caught up with it yet.
                    Err(ContractError::NotReadable(_) | ContractError::Unknown(_)) => {}
                    Err(ContractError::Refused(e)) => return Err(e),
                }
            }
            tokio::time::sleep(REGISTRATION_POLL).await;
        }
    };
    tokio::select! {
        seen = tokio::time::timeout(LONG_AUTH_TIMEOUT, wait) => match seen {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(format!(
                    "no owner_client_register with nonce {nonce} from {owner} reached this \
                     proxy's contract within {} s",
                    LONG_AUTH_TIMEOUT.as_secs()
                ))
            }
        },
        _ = session.closed() => return Err("connection closed during long auth".into()),
    }
    Ok(())
}

async fn registered(
    ledger: &std::sync::Arc<dyn Ledger>,
    proxy_sc: &TonAddress,
    owner: &TonAddress,
    nonce: u64,
) -> Result<bool, String> {
    let (ledger, proxy_sc, owner) = (ledger.clone(), proxy_sc.clone(), owner.clone());
    tokio::task::spawn_blocking(move || match ledger.proxy_state(&proxy_sc) {
        Ok(state) => Ok(state.registration(nonce, &owner).is_some()),
        // Not readable right now (e.g. a TON refresh lagging): keep waiting.
        Err(LedgerError::UnknownContract(_) | LedgerError::Storage(_)) => Ok(false),
        Err(e) => Err(format!("our proxy contract: {e}")),
    })
    .await
    .map_err(|e| format!("ledger read failed: {e}"))?
}

/// Why a client contract cannot be used (yet).
enum ContractError {
    /// The ledger cannot say right now (e.g. a TON backend that has not read it yet).
    NotReadable(String),
    /// The ledger does not know the contract.
    Unknown(String),
    /// Not active, or unreadable for good.
    Refused(String),
}

impl ContractError {
    fn text(self) -> String {
        match self {
            ContractError::NotReadable(e)
            | ContractError::Unknown(e)
            | ContractError::Refused(e) => e,
        }
    }
}

/// The secret hash of `owner`'s client contract at this proxy, if it is on the ledger and
/// active.
async fn active_contract_hash(shared: &ProxyShared, owner: &str) -> Result<[u8; 32], String> {
    contract_hash(shared, owner)
        .await
        .map_err(ContractError::text)
}

async fn contract_hash(shared: &ProxyShared, owner: &str) -> Result<[u8; 32], ContractError> {
    let Some(ledger) = shared.settings.ledger.clone() else {
        return Err(ContractError::Refused("no ledger".into()));
    };
    let sc = shared.sc_address(Side::Client, owner);
    let address = parse_address(&sc)
        .map_err(|e| ContractError::Refused(format!("client contract address of {owner}: {e}")))?
        .address;
    let state = tokio::task::spawn_blocking(move || ledger.client_state(&address))
        .await
        .map_err(|e| ContractError::Refused(format!("ledger read failed: {e}")))?
        .map_err(|e| match e {
            LedgerError::UnknownContract(_) => ContractError::Unknown(format!(
                "no client contract {sc} on the ledger yet: deploy it, then use long auth \
                 (owner_client_register)"
            )),
            LedgerError::Storage(e) => {
                ContractError::NotReadable(format!("client contract {sc}: {e}"))
            }
            e => ContractError::Refused(format!("client contract {sc}: {e}")),
        })?;
    if state.status != ContractStatus::Active {
        return Err(ContractError::Refused(format!(
            "client contract {sc} is not active ({:?})",
            state.status
        )));
    }
    Ok(state.secret_hash)
}
