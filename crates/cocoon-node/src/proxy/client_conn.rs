//! One client connection: the handshake of runners.md §3.2 and, once ready, the
//! client's requests and queries.
//!
//! Handshake: `client.connectToProxy` (checks: params flag 1, `is_test`,
//! owner address, config version, protocol version) → `client.connectedToProxy`
//! offering short or long auth → `authorizeWithProxyShort` or
//! `authorizeWithProxyLong` (see [`super::client_auth`]: the client contract's
//! secret hash, or an on-chain registration with the offered nonce) → ready.
//! Every failure answers the query with an error and closes the connection, as
//! the reference does.
//! A client that does not finish within the handshake timeout is dropped.
//!
//! Once ready, a `cocoonrs.cancelRequest` (our extension) for one of this
//! connection's running requests cancels it; unknown ids are ignored. When
//! the connection closes, its running requests are cancelled the same way
//! (each relay then tells its worker, see `relay`).

use std::collections::HashMap;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use cocoon_ledger::address::text_to_wire_form;
use cocoon_net::{Inbound, InboundMessage, IncomingQuery, Session};
use cocoon_tee::PeerIdentity;
use cocoon_wire::schema::{enums, types};
use cocoon_wire::tl::to_bytes;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::client_auth;
use super::messages::{decode_client_packet, decode_client_query, ClientPacket, ClientQuery};
use super::registry::lock;
use super::relay::{run_request, ClientCtx};
use super::{ProxyCounters, ProxyShared, Side};
use crate::common::proto::{self, code, PROXY_VERSIONS};

/// Where a client connection is in its life.
enum State {
    AwaitConnect,
    /// `nonce`: what the client's on-chain registration must carry (long auth).
    AwaitAuth {
        version: i32,
        owner: String,
        nonce: u64,
    },
    Ready(Arc<ClientCtx>),
}

/// How long a closing connection waits for its requests to wind down (and
/// tell their workers) before the rest are aborted.
const CLOSE_DRAIN: Duration = Duration::from_secs(2);

/// This connection's running requests: client request id → cancel switch.
type Running = Arc<Mutex<HashMap<[u8; 32], watch::Sender<bool>>>>;

/// A handshake failure: the query gets this error and the connection closes.
struct Refusal(i32, String);

/// Serves one established client session until it ends.
pub async fn serve_client(
    shared: Arc<ProxyShared>,
    session: Session,
    mut inbound: Inbound,
    peer: PeerIdentity,
) {
    if shared.money.as_ref().is_some_and(|m| m.disabled()) {
        info!(peer = %session.peer_label(), "client refused: the proxy is disabled (its contract is being closed)");
        session.close();
        return;
    }
    ProxyCounters::add(&shared.counters.client_connections, 1);
    let label = session.peer_label().to_owned();
    info!(peer = %label, tee = %peer.tee, "client connected");
    let deadline = tokio::time::Instant::now() + shared.settings.handshake_timeout;
    let mut state = State::AwaitConnect;
    let mut tasks: JoinSet<()> = JoinSet::new();
    let running: Running = Arc::default();
    loop {
        let ready = matches!(state, State::Ready(_));
        let msg = tokio::select! {
            msg = inbound.next() => msg,
            _ = tokio::time::sleep_until(deadline), if !ready => {
                warn!(peer = %label, "client did not finish its handshake in time");
                break;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let Some(msg) = msg else { break };
        match msg {
            InboundMessage::Packet(data) => match (&state, decode_client_packet(&data)) {
                (State::Ready(ctx), ClientPacket::Run(req)) => {
                    let (cancel_tx, cancel_rx) = watch::channel(false);
                    let fresh = match lock(&running).entry(req.request_id) {
                        std::collections::hash_map::Entry::Occupied(_) => false,
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(cancel_tx);
                            true
                        }
                    };
                    if !fresh {
                        let bytes = proto::client_error_bytes(
                            ctx.version,
                            req.request_id,
                            code::PROTOVIOLATION,
                            "duplicate request id",
                            false,
                            proto::now_unix(),
                        );
                        let _ = ctx.session.send(bytes).await;
                        continue;
                    }
                    let (shared, ctx, running) = (shared.clone(), ctx.clone(), running.clone());
                    tasks.spawn(async move {
                        let id = req.request_id;
                        run_request(shared, ctx, req, cancel_rx).await;
                        lock(&running).remove(&id);
                    });
                }
                (State::Ready(_), ClientPacket::Cancel { request_id, reason }) => {
                    let rid = hex::encode(&request_id[..8]);
                    match lock(&running).get(&request_id) {
                        Some(cancel) => {
                            info!(peer = %label, request = %rid, %reason, "client cancels its request");
                            cancel.send_replace(true);
                        }
                        None => {
                            debug!(peer = %label, request = %rid, "cancel for an unknown or finished request ignored")
                        }
                    }
                }
                (_, ClientPacket::Cancel { .. }) => {
                    debug!(peer = %label, "cancel before handshake dropped")
                }
                (_, ClientPacket::Run(_)) => {
                    debug!(peer = %label, "request before handshake dropped")
                }
                (_, ClientPacket::Unknown { constructor }) => {
                    debug!(peer = %label, constructor = ?constructor, "unknown packet from client dropped")
                }
            },
            InboundMessage::Query(q) => {
                if let Err(Refusal(code, message)) =
                    on_query(&shared, &session, &mut state, q).await
                {
                    warn!(peer = %label, code, %message, "client handshake refused");
                    break;
                }
            }
        }
    }
    info!(peer = %label, running = tasks.len(), "client connection closed");
    // Each running request sees the session closed, stops relaying and
    // cancels its worker request; give them a moment, then abort the rest
    // (their routes still cancel at the worker when dropped).
    session.close();
    let drained = tokio::time::timeout(CLOSE_DRAIN, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(peer = %label, left = tasks.len(), "client requests did not end in time; aborting them");
    }
    tasks.abort_all();
}

/// Handles one query; `Err` means the connection must close (the query was
/// already answered with the error).
async fn on_query(
    shared: &ProxyShared,
    session: &Session,
    state: &mut State,
    q: IncomingQuery,
) -> Result<(), Refusal> {
    let query = decode_client_query(&q.data);
    let result = match (&*state, query) {
        (State::AwaitConnect, ClientQuery::Connect(c)) => match check_connect(shared, &c) {
            Ok((version, owner)) => {
                let (auth, nonce) = client_auth::offer(shared, &owner).await;
                let answer = to_bytes(&connected_answer(shared, version, &owner, auth));
                *state = State::AwaitAuth {
                    version,
                    owner,
                    nonce,
                };
                Ok(answer)
            }
            Err(refusal) => Err(refusal),
        },
        (State::AwaitAuth { version, owner, .. }, ClientQuery::AuthShort(a)) => {
            let hash: [u8; 32] = Sha256::digest(&a.data).into();
            match client_auth::expected_secret_hash(shared, owner).await {
                Err(message) => Err(Refusal(code::ERROR, message)),
                Ok(expected) if hash == expected => {
                    let ctx = ClientCtx {
                        session: session.clone(),
                        version: *version,
                        owner: owner.clone(),
                    };
                    info!(owner = %owner, version, "client authorized (short auth)");
                    let answer = to_bytes(&auth_success(shared, &ctx.owner));
                    *state = State::Ready(Arc::new(ctx));
                    Ok(answer)
                }
                Ok(_) => Err(Refusal(code::ERROR, "sha256 mismatch".into())),
            }
        }
        (
            State::AwaitAuth {
                version,
                owner,
                nonce,
            },
            ClientQuery::AuthLong,
        ) => match client_auth::await_registration(shared, session, owner, *nonce).await {
            Ok(()) => {
                let ctx = ClientCtx {
                    session: session.clone(),
                    version: *version,
                    owner: owner.clone(),
                };
                let how = match shared.settings.ledger {
                    Some(_) => "registration seen on the ledger",
                    None => "fake TON",
                };
                info!(owner = %owner, version, how, "client authorized (long auth)");
                let answer = to_bytes(&auth_success(shared, &ctx.owner));
                *state = State::Ready(Arc::new(ctx));
                Ok(answer)
            }
            Err(message) => Err(Refusal(code::ERROR, message)),
        },
        (State::Ready(ctx), ClientQuery::UpdatePaymentStatus) => {
            let pay = shared.payment_snapshot(Side::Client, &ctx.owner);
            Ok(to_bytes(&types::client::PaymentStatus {
                signed_payment: pay.signed_payment,
                db_tokens: pay.db_tokens,
                max_tokens: pay.max_tokens,
            }))
        }
        (State::Ready(_), ClientQuery::GetWorkerTypes) => Ok(to_bytes(&worker_types(shared))),
        (State::Ready(_), ClientQuery::GetWorkerTypesV2) => Ok(to_bytes(&worker_types_v2(shared))),
        (State::Ready(_), ClientQuery::Unknown { constructor }) => {
            debug!(constructor = ?constructor, "unknown query from client");
            let _ = q.error(code::PROTOVIOLATION, "unknown query").await;
            return Ok(());
        }
        (_, other) => Err(Refusal(
            code::PROTOVIOLATION,
            format!("unexpected query in this state: {}", query_name(&other)),
        )),
    };
    match result {
        Ok(bytes) => {
            let _ = q.answer(bytes).await;
            Ok(())
        }
        Err(Refusal(code, message)) => {
            let _ = q.error(code, message.clone()).await;
            Err(Refusal(code, message))
        }
    }
}

fn query_name(q: &ClientQuery) -> &'static str {
    match q {
        ClientQuery::Connect(_) => "client.connectToProxy",
        ClientQuery::AuthShort(_) => "client.authorizeWithProxyShort",
        ClientQuery::AuthLong => "client.authorizeWithProxyLong",
        ClientQuery::UpdatePaymentStatus => "client.updatePaymentStatus",
        ClientQuery::GetWorkerTypes => "client.getWorkerTypes",
        ClientQuery::GetWorkerTypesV2 => "client.getWorkerTypesV2",
        ClientQuery::Unknown { .. } => "unknown",
    }
}

/// The checks of runners.md §3.2 step 3; the negotiated version and owner.
fn check_connect(
    shared: &ProxyShared,
    c: &cocoon_wire::schema::functions::client::ConnectToProxy,
) -> Result<(i32, String), Refusal> {
    let p = &c.params;
    if p.flags & 1 == 0 {
        return Err(Refusal(code::PROTOVIOLATION, "too old client".into()));
    }
    if p.is_test.unwrap_or(false) != shared.settings.is_test {
        return Err(Refusal(code::PROTOVIOLATION, "is_test mismatch".into()));
    }
    if !looks_like_ton_address(&p.client_owner_address) {
        return Err(Refusal(
            code::PROTOVIOLATION,
            format!("invalid owner address '{}'", p.client_owner_address),
        ));
    }
    if c.min_config_version > shared.settings.config_version {
        return Err(Refusal(
            code::ERROR,
            "root config version is too low".into(),
        ));
    }
    let peer = proto::peer_range(p.flags, p.min_proto_version, p.max_proto_version);
    let version = proto::negotiate(PROXY_VERSIONS, peer)
        .map_err(|e| Refusal(code::PROTOVIOLATION, e.to_string()))?;
    Ok((version, p.client_owner_address.clone()))
}

/// A structural check of a TON address: raw `wc:64hex` or the 48-character
/// user-friendly base64/base64url form. (Full parsing with the checksum
/// lives with the contracts code, later.)
pub fn looks_like_ton_address(s: &str) -> bool {
    if let Some((wc, hex_part)) = s.split_once(':') {
        return wc.parse::<i32>().is_ok()
            && hex_part.len() == 64
            && hex_part.bytes().all(|b| b.is_ascii_hexdigit());
    }
    s.len() == 48
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/'))
}

/// `proxy.params` as the proxy announces itself. Addresses go out in the reference's wire
/// form (non-bounceable, our testnet flag): reference peers compare the flags too.
pub fn proxy_params(shared: &ProxyShared, version: i32) -> types::proxy::Params {
    let s = &shared.settings;
    types::proxy::Params {
        flags: 1 | if version > 0 { 2 } else { 0 },
        proxy_public_key: s.public_key,
        proxy_owner_address: text_to_wire_form(&s.owner_address, s.is_testnet),
        proxy_sc_address: text_to_wire_form(&s.proxy_sc_address, s.is_testnet),
        is_test: Some(s.is_test),
        proto_version: (version > 0).then_some(version),
    }
}

fn connected_answer(
    shared: &ProxyShared,
    version: i32,
    owner: &str,
    auth: enums::client::ProxyConnectionAuth,
) -> types::client::ConnectedToProxy {
    types::client::ConnectedToProxy {
        params: proxy_params(shared, version),
        client_sc_address: shared.wire_sc_address(Side::Client, owner),
        auth,
        signed_payment: shared.payment_snapshot(Side::Client, owner).signed_payment,
    }
}

fn auth_success(shared: &ProxyShared, owner: &str) -> types::client::AuthorizationWithProxySuccess {
    let pay = shared.payment_snapshot(Side::Client, owner);
    types::client::AuthorizationWithProxySuccess {
        signed_payment: pay.signed_payment,
        tokens_committed_to_db: pay.db_tokens,
        max_tokens: pay.max_tokens,
    }
}

/// Enabled connections of every model, sorted by coefficient.
fn enabled_by_model(
    shared: &ProxyShared,
) -> Vec<(String, Vec<super::registry::ConnState>, Vec<u32>)> {
    shared
        .registry
        .snapshot()
        .into_iter()
        .map(|(model, conns)| {
            let mut list: Vec<_> = conns
                .iter()
                .map(|c| (c.state(), c.max_active))
                .filter(|(s, _)| !s.disabled)
                .collect();
            list.sort_by_key(|(s, _)| s.coefficient);
            let (states, caps) = list.into_iter().unzip();
            (model, states, caps)
        })
        .collect()
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// `client.workerTypes` (v0 form): min / median / max coefficient per model.
fn worker_types(shared: &ProxyShared) -> types::client::WorkerTypes {
    let types = enabled_by_model(shared)
        .into_iter()
        .map(|(name, states, _)| {
            let coef = |i: usize| states.get(i).map_or(0, |s| clamp_i32(s.coefficient));
            types::client::WorkerType {
                name,
                active_workers: clamp_i32(states.len() as i64),
                coefficient_min: coef(0),
                coefficient_bucket50: coef(states.len() / 2),
                coefficient_max: coef(states.len().saturating_sub(1)),
            }
        })
        .collect();
    types::client::WorkerTypes { types }
}

/// `client.workerTypesV2`: every model with its enabled connections.
fn worker_types_v2(shared: &ProxyShared) -> types::client::WorkerTypesV2 {
    let types = enabled_by_model(shared)
        .into_iter()
        .map(|(name, states, caps)| types::client::WorkerTypeV2 {
            name,
            workers: states
                .iter()
                .zip(caps)
                .map(|(s, cap)| types::client::WorkerInstanceV2 {
                    flags: 0,
                    coefficient: clamp_i32(s.coefficient),
                    active_requests: clamp_i32(i64::from(s.running)),
                    max_active_requests: clamp_i32(i64::from(cap)),
                })
                .collect(),
        })
        .collect();
    types::client::WorkerTypesV2 { types }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ton_address_shapes() {
        assert!(looks_like_ton_address(
            "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m"
        ));
        assert!(looks_like_ton_address(&format!("0:{}", "ab".repeat(32))));
        assert!(looks_like_ton_address(&format!("-1:{}", "AB".repeat(32))));
        assert!(!looks_like_ton_address(""));
        assert!(!looks_like_ton_address("x:00"));
        assert!(!looks_like_ton_address(&"A".repeat(47)));
        assert!(!looks_like_ton_address(&format!("0:{}", "zz".repeat(32))));
    }
}
