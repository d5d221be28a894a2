//! One proxy target of the client: dial, the client handshake (runners.md §3.2,
//! protocol [1,4]; fake-TON short auth with `sha256(secret_string)`), then the
//! answer loop that routes `client.queryAnswer*Ex` to waiting requests by id.
//! When the connection ends, every waiting request sees its channel close at
//! once (and fails over or ends with an error); then we reconnect with backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cocoon_ledger::voucher::VoucherKind;
use cocoon_net::{Inbound, InboundMessage, Session};
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

/// Keeps one proxy connection alive forever.
pub async fn run_proxy_target(
    state: Arc<ClientState>,
    dial: Arc<DialConfig>,
    index: usize,
    address: String,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let result = connect_and_serve(&state, &dial, index, &address).await;
        let error = match result {
            Ok(served) => {
                if served {
                    backoff = BACKOFF_MIN;
                }
                tracing::warn!(proxy = %address, "proxy connection closed");
                "connection closed".to_string()
            }
            Err(e) => {
                tracing::warn!(proxy = %address, error = %e, "proxy connection failed");
                e
            }
        };
        state.set_ready(index, None, Some(error));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn connect_and_serve(
    state: &ClientState,
    dial: &DialConfig,
    index: usize,
    address: &str,
) -> Result<bool, String> {
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
    // Wake every waiting request: their senders go away with the map entries.
    ready.lock_pending().clear();
    Ok(true)
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
