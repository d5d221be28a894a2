//! One proxy target of the client: dial, the client handshake (runners.md §3.2,
//! protocol [1,4]; fake-TON short auth with `sha256(secret_string)`), then the
//! answer loop that routes `client.queryAnswer*Ex` to waiting requests by id.
//! When the connection ends, every waiting request sees its channel close at
//! once (and fails over or ends with an error); then we reconnect with backoff.
//!
//! Liveness: the link pings a quiet proxy and closes after the dial config's
//! `silence_limit` without a frame ([`DialConfig::silence_limit`]), so a hung proxy
//! (stopped, or its host gone) is noticed within that bound instead of a TCP timeout.
//! After a failed or lost connection the slot dials its next candidate: the proxies
//! registered beyond `proxy_connections` are shared out as spares among the slots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cocoon_ledger::voucher::VoucherKind;
use cocoon_net::{CloseReason, Inbound, InboundMessage, Session};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::from_bytes;
use sha2::{Digest, Sha256};
use tonlib_core::TonAddress;

use super::state::ReadyProxy;
use super::{ClientState, CLIENT_MAX_PROTO, CLIENT_MIN_PROTO};
use crate::common::dial::{dial_proxy, DialConfig};

/// Deadline of the connect query (reference: 30 s).
pub const CONNECT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of the auth query (reference: 300 s, for the on-chain long auth).
pub const AUTH_QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long long auth may take: a little over the proxy's own 300 s wait for our on-chain
/// registration, so its explanation arrives before we give up.
pub const LONG_AUTH_QUERY_TIMEOUT: Duration = Duration::from_secs(310);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The addresses slot `index` of `slots` dials in turn: its own target first, then the
/// spares (registered proxies beyond the targets) whose position modulo `slots` is `index`.
pub fn slot_candidates(targets: &[String], spares: &[String], index: usize) -> Vec<String> {
    let slots = targets.len().max(1);
    targets
        .get(index)
        .into_iter()
        .chain(spares.iter().skip(index).step_by(slots))
        .cloned()
        .collect()
}

/// Keeps one proxy slot connected forever, dialling `candidates` in turn (the first is
/// preferred; the next one is tried after a failure or a lost connection).
pub async fn run_proxy_target(
    state: Arc<ClientState>,
    dial: Arc<DialConfig>,
    index: usize,
    candidates: Vec<String>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut turn = 0usize;
    loop {
        let Some(address) = candidates.get(turn % candidates.len().max(1)).cloned() else {
            return;
        };
        state.set_address(index, &address);
        let result = connect_and_serve(&state, &dial, index, &address).await;
        let error = match result {
            Ok(reason) => {
                backoff = BACKOFF_MIN;
                let error = lost_connection_message(&address, &reason);
                tracing::warn!(proxy = %address, reason = %reason, "proxy connection closed");
                error
            }
            Err(e) => {
                tracing::warn!(proxy = %address, error = %e, "proxy connection failed");
                e
            }
        };
        state.set_ready(index, None, Some(error));
        turn = turn.wrapping_add(1);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// How a lost proxy connection is reported to requests and on the stats page.
pub(crate) fn lost_connection_message(address: &str, reason: &CloseReason) -> String {
    match reason {
        CloseReason::IdleTimeout(limit) => format!(
            "proxy {address} went silent: no answer to pings for {:.1} s (connection dropped)",
            limit.as_secs_f64()
        ),
        other => format!("connection to proxy {address} lost: {other}"),
    }
}

/// Dials, handshakes and serves until the connection ends; `Ok` with why it ended
/// once it was ready.
async fn connect_and_serve(
    state: &ClientState,
    dial: &DialConfig,
    index: usize,
    address: &str,
) -> Result<CloseReason, String> {
    let (session, inbound, peer) = dial_proxy(address, dial).await.map_err(|e| e.to_string())?;
    tracing::info!(proxy = %address, tee = %peer.tee, "connected to proxy, handshaking");
    let proto = match handshake(state, &session, address).await {
        Ok(v) => v,
        Err(e) => {
            session.close();
            return Err(format!("handshake: {e}"));
        }
    };
    tracing::info!(proxy = %address, proto, "client handshake complete");
    let ready = ReadyProxy {
        address: address.to_string(),
        session: session.clone(),
        proto_version: proto,
        pending: Arc::new(Mutex::new(HashMap::new())),
    };
    state.set_ready(index, Some(ready.clone()), None);
    route_answers(state, &ready, inbound).await;
    state.set_ready(index, None, None);
    session.close();
    let reason = session.closed().await;
    // Wake every waiting request: their senders go away with the map entries.
    ready.lock_pending().clear();
    Ok(reason)
}

/// The client side of §3.2; returns the negotiated protocol version.
async fn handshake(state: &ClientState, session: &Session, address: &str) -> Result<i32, String> {
    let s = &state.settings;
    let connect = functions::client::ConnectToProxy {
        params: types::client::Params {
            flags: 3,
            client_owner_address: s.owner_address.clone(),
            is_test: Some(s.is_test),
            min_proto_version: Some(CLIENT_MIN_PROTO),
            max_proto_version: Some(CLIENT_MAX_PROTO),
        },
        min_config_version: s.config_version,
    };
    let enums::client::ConnectedToProxy::ConnectedToProxy(connected) = session
        .call(&connect, CONNECT_QUERY_TIMEOUT)
        .await
        .map_err(|e| format!("client.connectToProxy: {e}"))?;
    let p = &connected.params;
    if p.flags & 3 == 0 {
        return Err("proxy params carry no flags (too old proxy)".into());
    }
    if p.is_test.unwrap_or(false) != s.is_test {
        return Err(format!(
            "proxy is_test={:?} but we are is_test={}",
            p.is_test, s.is_test
        ));
    }
    let proto = if p.flags & 2 != 0 {
        p.proto_version.unwrap_or(0)
    } else {
        0
    };
    if !(CLIENT_MIN_PROTO..=CLIENT_MAX_PROTO).contains(&proto) {
        return Err(format!("proxy chose protocol version {proto}, we speak [{CLIENT_MIN_PROTO},{CLIENT_MAX_PROTO}]"));
    }

    let client_sc = prepare_money(state, address, p, &connected.client_sc_address).await?;
    let our_hash: [u8; 32] = Sha256::digest(s.secret_string.as_bytes()).into();
    // As the reference client: short auth when the proxy holds our secret's hash, else long
    // auth (on a ledger: an on-chain registration carrying the proxy's nonce).
    let (short, nonce) = match &connected.auth {
        enums::client::ProxyConnectionAuth::ProxyConnectionAuthShort(short) => {
            (short.secret_hash == our_hash, short.nonce)
        }
        enums::client::ProxyConnectionAuth::ProxyConnectionAuthLong(long) => (false, long.nonce),
    };
    let auth = match short {
        true => session
            .call(
                &functions::client::AuthorizeWithProxyShort {
                    data: s.secret_string.as_bytes().to_vec(),
                },
                AUTH_QUERY_TIMEOUT,
            )
            .await
            .map_err(|e| format!("client.authorizeWithProxyShort: {e}"))?,
        false => {
            // The wire's `long` is the contract's u64 nonce, bit for bit.
            register(state, address, client_sc, nonce as u64).await?;
            session
                .call(
                    &functions::client::AuthorizeWithProxyLong {},
                    LONG_AUTH_QUERY_TIMEOUT,
                )
                .await
                .map_err(|e| format!("client.authorizeWithProxyLong: {e}"))?
        }
    };
    match auth {
        enums::client::AuthorizationWithProxy::AuthorizationWithProxySuccess(ok) => {
            state.payments.offer(
                address,
                &ok.signed_payment,
                ok.tokens_committed_to_db,
                ok.max_tokens,
            );
            Ok(proto)
        }
        enums::client::AuthorizationWithProxy::AuthorizationWithProxyFailed(f) => Err(format!(
            "proxy refused authorization: {} {}",
            f.error_code, f.error
        )),
    }
}

/// Long auth on a ledger: our registration with the proxy's `nonce`, sent through our
/// contract at that proxy. Without a ledger (fake TON) there is nothing to send.
async fn register(
    state: &ClientState,
    address: &str,
    client_sc: Option<TonAddress>,
    nonce: u64,
) -> Result<(), String> {
    let (Some(money), Some(client_sc)) = (state.money.clone(), client_sc) else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || money.register(&client_sc, nonce))
        .await
        .map_err(|e| format!("client money task: {e}"))?
        .map_err(|e| format!("long auth registration at proxy {address}: {e}"))
}

/// Before any request goes through this proxy: with a ledger, our client contract there
/// is deployed, staked, keyed with our secret hash and topped up (runners.md §6.4); the
/// vouchers we receive are checked against the contract address the ledger's root params
/// give. Without a ledger, vouchers are checked under the devnet default params.
async fn prepare_money(
    state: &ClientState,
    address: &str,
    params: &types::proxy::Params,
    announced_sc: &str,
) -> Result<Option<TonAddress>, String> {
    let owner = &state.settings.owner_address;
    let Some(money) = state.money.clone() else {
        state.payments.connected_in(
            address,
            VoucherKind::ClientCharge,
            owner,
            params,
            &state.settings.contracts,
        );
        return Ok(None);
    };
    let (addr, p, announced) = (address.to_owned(), params.clone(), announced_sc.to_owned());
    let (root, prepared) = tokio::task::spawn_blocking(move || {
        (
            money.contract_context(),
            money.prepare(&addr, &p, &announced),
        )
    })
    .await
    .map_err(|e| format!("client money task: {e}"))?;
    let root = root.map_err(|e| format!("ledger root config: {e}"))?;
    state
        .payments
        .connected_in(address, VoucherKind::ClientCharge, owner, params, &root);
    let client_sc = prepared.map_err(|e| format!("client contract: {e}"))?;
    Ok(Some(client_sc))
}

/// Routes answers to waiting requests until the connection ends.
async fn route_answers(state: &ClientState, proxy: &ReadyProxy, mut inbound: Inbound) {
    while let Some(msg) = inbound.next().await {
        match msg {
            InboundMessage::Packet(data) => {
                let answer = match from_bytes::<enums::client::QueryAnswerEx>(&data) {
                    Ok(a) => a,
                    Err(_) => {
                        if let Ok(p) = from_bytes::<types::proxy::ClientRequestPayment>(&data) {
                            state.payments.offer(
                                &proxy.address,
                                &p.signed_payment,
                                p.db_tokens,
                                p.max_tokens,
                            );
                        } else {
                            // Legacy v0 answers are not used here.
                            tracing::trace!(len = data.len(), "packet from proxy ignored");
                        }
                        continue;
                    }
                };
                let id = answer_request_id(&answer);
                let sender = proxy.lock_pending().get(&id).cloned();
                match sender {
                    // A slow reader applies back-pressure on this connection (bounded channel).
                    Some(tx) => {
                        if tx.send(answer).await.is_err() {
                            proxy.lock_pending().remove(&id);
                        }
                    }
                    None => tracing::debug!("answer for an unknown or finished request dropped"),
                }
            }
            InboundMessage::Query(q) => {
                let _ = q.error(0, cocoon_net::LOST_PROMISE_MESSAGE).await;
            }
        }
    }
}

pub(crate) fn answer_request_id(a: &enums::client::QueryAnswerEx) -> [u8; 32] {
    match a {
        enums::client::QueryAnswerEx::QueryAnswerEx(x) => x.request_id,
        enums::client::QueryAnswerEx::QueryAnswerPartEx(x) => x.request_id,
        enums::client::QueryAnswerEx::QueryAnswerErrorEx(x) => x.request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn spares_are_shared_out_among_the_slots() {
        let targets = names(&["a", "b"]);
        let spares = names(&["c", "d", "e"]);
        assert_eq!(
            slot_candidates(&targets, &spares, 0),
            names(&["a", "c", "e"])
        );
        assert_eq!(slot_candidates(&targets, &spares, 1), names(&["b", "d"]));
        assert_eq!(slot_candidates(&targets, &[], 0), names(&["a"]));
    }

    #[test]
    fn a_silent_proxy_is_named_as_such() {
        let silent =
            lost_connection_message("p:1", &CloseReason::IdleTimeout(Duration::from_secs(6)));
        assert!(
            silent.contains("p:1 went silent") && silent.contains("6.0 s"),
            "{silent}"
        );
        let closed = lost_connection_message("p:1", &CloseReason::PeerClosed);
        assert!(closed.contains("lost: peer closed"), "{closed}");
    }
}
