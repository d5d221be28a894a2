//! One worker connection: the handshake of runners.md §3.3 and, once ready,
//! the worker's answers (routed to running requests by proxy request id) and
//! state updates.
//!
//! Handshake: `worker.connectToProxy` (checks: image/model hashes when
//! enabled, params flag 1, `is_test`, model, coefficient in `[0, 10^9)`,
//! `max_active_requests ≥ 1`, `proxy_cnt ≥ 1`, protocol version) →
//! `worker.compareBalanceWithProxy` → optionally
//! `worker.extendedCompareBalanceWithProxy` → `worker.proxyHandshakeComplete`
//! → ready (registered for selection). Unlike the reference, a worker that
//! reports higher committed counters than the proxy gets an error and this
//! connection closes (the reference aborts the process, §13.4), and the
//! extended compare completes instead of wedging the connection (§13.5).
//! Payments: the balance compare and payment status answer with this worker
//! owner's counters and voucher (see `super::payments`).

use std::sync::Arc;

use cocoon_net::{Inbound, InboundMessage, IncomingQuery, Session};
use cocoon_tee::PeerIdentity;
use cocoon_wire::schema::{functions, types};
use cocoon_wire::tl::to_bytes;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, info, warn};

use super::client_conn::{looks_like_ton_address, proxy_params};
use super::messages::{decode_worker_packet, decode_worker_query, WorkerPacket, WorkerQuery};
use super::registry::WorkerConn;
use super::{ProxyCounters, ProxyShared, Side};
use crate::common::proto::{self, code, PROXY_VERSIONS};

/// Highest coefficient a worker may announce (exclusive), as the reference.
const MAX_COEFFICIENT: i32 = 1_000_000_000;

/// What the proxy learned in `worker.connectToProxy`.
#[derive(Debug, Clone)]
struct Announced {
    owner: String,
    model: String,
    coefficient: i32,
    max_active: u32,
    version: i32,
    /// `machine_description_json` (v4 workers), shown in the stats.
    machine_description: serde_json::Value,
}

enum State {
    AwaitConnect,
    AwaitCompare(Announced),
    AwaitComplete(Announced),
    Ready(Arc<WorkerConn>),
}

/// A handshake failure: the query gets this error and the connection closes.
struct Refusal(i32, String);

/// Serves one established worker session until it ends.
pub async fn serve_worker(
    shared: Arc<ProxyShared>,
    session: Session,
    mut inbound: Inbound,
    peer: PeerIdentity,
) {
    if shared.money.as_ref().is_some_and(|m| m.disabled()) {
        info!(peer = %session.peer_label(), "worker refused: the proxy is disabled (its contract is being closed)");
        session.close();
        return;
    }
    ProxyCounters::add(&shared.counters.worker_connections, 1);
    let label = session.peer_label().to_owned();
    info!(peer = %label, tee = %peer.tee, "worker connected");
    let deadline = tokio::time::Instant::now() + shared.settings.handshake_timeout;
    let mut state = State::AwaitConnect;
    loop {
        let ready = matches!(state, State::Ready(_));
        let msg = tokio::select! {
            msg = inbound.next() => msg,
            _ = tokio::time::sleep_until(deadline), if !ready => {
                warn!(peer = %label, "worker did not finish its handshake in time");
                break;
            }
        };
        let Some(msg) = msg else { break };
        match msg {
            InboundMessage::Packet(data) => {
                let State::Ready(conn) = &state else {
                    debug!(peer = %label, "packet before handshake dropped");
                    continue;
                };
                if !on_packet(conn, &data) {
                    break;
                }
            }
            InboundMessage::Query(q) => {
                if let Err(Refusal(code, message)) =
                    on_query(&shared, &session, &peer, &mut state, q).await
                {
                    warn!(peer = %label, code, %message, "worker connection refused");
                    break;
                }
            }
        }
    }
    if let State::Ready(conn) = &state {
        shared.registry.remove(conn);
        conn.close_routes();
        info!(peer = %label, worker_conn = conn.id, model = %conn.model, "worker connection closed");
    } else {
        info!(peer = %label, "worker connection closed before its handshake completed");
    }
    session.close();
}

/// Handles one packet of a ready worker; false closes the connection.
fn on_packet(conn: &WorkerConn, data: &[u8]) -> bool {
    match decode_worker_packet(data) {
        WorkerPacket::Request { request_id, event } => match conn.route(&request_id) {
            Some(tx) => match tx.try_send(event) {
                Ok(()) | Err(TrySendError::Closed(_)) => {}
                Err(TrySendError::Full(_)) => {
                    warn!(
                        worker_conn = conn.id,
                        "relay buffer full (client too slow); request dropped"
                    );
                    conn.remove_route(&request_id);
                }
            },
            None => debug!(
                worker_conn = conn.id,
                "answer for an unknown or finished request dropped"
            ),
        },
        WorkerPacket::EnabledDisabled { disabled } => {
            info!(worker_conn = conn.id, disabled, "worker enabled/disabled");
            conn.set_disabled(disabled);
        }
        WorkerPacket::NewCoefficient { coefficient } => {
            if !(0..MAX_COEFFICIENT).contains(&coefficient) {
                warn!(
                    worker_conn = conn.id,
                    coefficient, "invalid new coefficient; closing the connection"
                );
                return false;
            }
            info!(
                worker_conn = conn.id,
                coefficient, "worker changed its coefficient"
            );
            conn.set_coefficient(i64::from(coefficient));
        }
        WorkerPacket::Unknown { constructor } => {
            debug!(worker_conn = conn.id, constructor = ?constructor, "unknown packet from worker dropped")
        }
    }
    true
}

/// Handles one query; `Err` closes the connection (after answering the error).
async fn on_query(
    shared: &ProxyShared,
    session: &Session,
    peer: &PeerIdentity,
    state: &mut State,
    q: IncomingQuery,
) -> Result<(), Refusal> {
    let query = decode_worker_query(&q.data);
    let result: Result<Vec<u8>, Refusal> = match (std::mem::replace(state, State::AwaitConnect), query) {
        (State::AwaitConnect, WorkerQuery::Connect(c)) => check_connect(shared, peer, &c).map(|a| {
            let answer = types::worker::ConnectedToProxy { params: proxy_params(shared, a.version), worker_sc_address: shared.wire_sc_address(Side::Worker, &a.owner) };
            info!(owner = %a.owner, model = %a.model, version = a.version, "worker announced itself");
            *state = State::AwaitCompare(a);
            to_bytes(&answer)
        }),
        (State::AwaitCompare(a), WorkerQuery::CompareBalance(c)) => {
            let pay = shared.payment_snapshot(Side::Worker, &a.owner);
            let (ours_blockchain, ours_db, ours_max) = (pay.blockchain_tokens, pay.db_tokens, pay.max_tokens);
            if c.tokens_committed_to_blockchain > ours_blockchain || c.tokens_committed_to_db > ours_db {
                Err(Refusal(
                    code::ERROR,
                    format!(
                        "balance mismatch: worker reports committed tokens blockchain={} db={}, proxy has blockchain={} db={}",
                        c.tokens_committed_to_blockchain, c.tokens_committed_to_db, ours_blockchain, ours_db
                    ),
                ))
            } else {
                *state = State::AwaitComplete(a);
                Ok(to_bytes(&types::worker::CompareBalanceWithProxyResult {
                    signed_payment: pay.signed_payment,
                    tokens_committed_to_db: ours_db,
                    max_tokens: ours_max,
                    error_code: i32::from(c.max_tokens > ours_max),
                }))
            }
        }
        (State::AwaitComplete(a), WorkerQuery::ExtendedCompareBalance(e)) => {
            // The reference answers "not implemented" and then wedges (§13.5);
            // we answer success and go on with the handshake.
            debug!(tokens_committed_to_db = e.tokens_committed_to_db, other_len = e.other.len(), "extended balance compare");
            *state = State::AwaitComplete(a);
            Ok(to_bytes(&types::worker::ExtendedCompareBalanceWithProxyResult { error_code: 0 }))
        }
        (State::AwaitComplete(a), WorkerQuery::HandshakeComplete(h)) => {
            let conn = register(shared, session, peer, a, h);
            *state = State::Ready(conn);
            Ok(to_bytes(&types::worker::ProxyHandshakeCompleted {}))
        }
        (State::Ready(conn), WorkerQuery::UpdatePaymentStatus) => {
            let pay = shared.payment_snapshot(Side::Worker, &conn.owner);
            *state = State::Ready(conn);
            Ok(to_bytes(&types::worker::PaymentStatus { signed_payment: pay.signed_payment, db_tokens: pay.db_tokens, max_tokens: pay.max_tokens }))
        }
        (State::Ready(conn), other) => {
            *state = State::Ready(conn);
            let constructor = match other {
                WorkerQuery::Unknown { constructor } => constructor,
                _ => None,
            };
            debug!(query = query_name(&other), constructor = ?constructor, "unexpected query from a ready worker");
            let _ = q.error(code::PROTOVIOLATION, "unknown query").await;
            return Ok(());
        }
        (_, other) => Err(Refusal(code::PROTOVIOLATION, format!("unexpected query during the handshake: {}", query_name(&other)))),
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

fn query_name(q: &WorkerQuery) -> &'static str {
    match q {
        WorkerQuery::Connect(_) => "worker.connectToProxy",
        WorkerQuery::CompareBalance(_) => "worker.compareBalanceWithProxy",
        WorkerQuery::ExtendedCompareBalance(_) => "worker.extendedCompareBalanceWithProxy",
        WorkerQuery::HandshakeComplete(_) => "worker.proxyHandshakeComplete",
        WorkerQuery::UpdatePaymentStatus => "worker.updatePaymentStatus",
        WorkerQuery::Unknown { .. } => "unknown",
    }
}

/// The checks of runners.md §3.3 step 3.
fn check_connect(
    shared: &ProxyShared,
    peer: &PeerIdentity,
    c: &functions::worker::ConnectToProxy,
) -> Result<Announced, Refusal> {
    let p = &c.params;
    let refuse = |m: String| Err(Refusal(code::PROTOVIOLATION, m));
    if let Err(why) = shared.settings.worker_allowed(&peer.image_hash, &p.model) {
        return refuse(why);
    }
    if p.flags & 1 == 0 {
        return refuse("too old worker".into());
    }
    if p.is_test.unwrap_or(false) != shared.settings.is_test {
        return refuse("is_test mismatch".into());
    }
    if !looks_like_ton_address(&p.worker_owner_address) {
        return refuse(format!(
            "invalid owner address '{}'",
            p.worker_owner_address
        ));
    }
    if p.model.is_empty() {
        return refuse("empty model name".into());
    }
    if !(0..MAX_COEFFICIENT).contains(&p.coefficient) {
        return refuse(format!("invalid coefficient {}", p.coefficient));
    }
    let max_active = p.max_active_requests.unwrap_or(0);
    if max_active < 1 {
        return refuse(format!("invalid max_active_requests {max_active}"));
    }
    let proxy_cnt = p.proxy_cnt.unwrap_or(0);
    if proxy_cnt < 1 {
        return refuse(format!("invalid proxy_cnt {proxy_cnt}"));
    }
    let peer_versions = proto::peer_range(p.flags, p.min_proto_version, p.max_proto_version);
    let version = proto::negotiate(PROXY_VERSIONS, peer_versions)
        .map_err(|e| Refusal(code::PROTOVIOLATION, e.to_string()))?;
    // ceil(max_active / proxy_cnt), both ≥ 1 here.
    let per_connection = (max_active.unsigned_abs()).div_ceil(proxy_cnt.unsigned_abs());
    Ok(Announced {
        owner: p.worker_owner_address.clone(),
        model: p.model.clone(),
        coefficient: p.coefficient,
        max_active: per_connection,
        version,
        machine_description: machine_description(p.machine_description_json.as_deref()),
    })
}

/// Makes a worker connection selectable.
fn register(
    shared: &ProxyShared,
    session: &Session,
    peer: &PeerIdentity,
    a: Announced,
    h: functions::worker::ProxyHandshakeComplete,
) -> Arc<WorkerConn> {
    let mut conn = WorkerConn::new(
        shared.registry.next_conn_id(),
        a.owner,
        a.model,
        peer.image_hash,
        a.version,
        a.max_active,
        i64::from(a.coefficient),
        h.is_disabled,
        session.clone(),
    );
    conn.machine_description = a.machine_description;
    let conn = Arc::new(conn);
    shared.registry.insert(conn.clone());
    info!(worker_conn = conn.id, model = %conn.model, coefficient = a.coefficient, max_active = conn.max_active,
        disabled = h.is_disabled, version = conn.version, "worker ready");
    conn
}

/// The longest `machine_description_json` kept (bytes); longer ones are shown as `{}`.
pub const MACHINE_DESCRIPTION_MAX: usize = 16 * 1024;

/// A worker's `machine_description_json` as shown in the stats: the JSON object it sent, or
/// `{}` when it sent none, one that is not a JSON object, or one over
/// [`MACHINE_DESCRIPTION_MAX`] (the worker is not refused for it; a line is logged).
fn machine_description(sent: Option<&str>) -> serde_json::Value {
    let empty = || serde_json::Value::Object(Default::default());
    let Some(text) = sent else {
        return empty();
    };
    if text.len() > MACHINE_DESCRIPTION_MAX {
        warn!(
            bytes = text.len(),
            "worker machine description too long; shown as {{}}"
        );
        return empty();
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => v,
        _ => {
            warn!("worker machine description is not a JSON object; shown as {{}}");
            empty()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{machine_description, MACHINE_DESCRIPTION_MAX};
    use serde_json::json;

    #[test]
    fn machine_descriptions_are_json_objects_or_shown_empty() {
        assert_eq!(machine_description(None), json!({}));
        assert_eq!(
            machine_description(Some(r#"{"gpu":"H100"}"#)),
            json!({"gpu": "H100"})
        );
        for bad in ["[1,2]", "\"text\"", "{not json", "", "null"] {
            assert_eq!(machine_description(Some(bad)), json!({}), "{bad:?}");
        }
        let long = format!(r#"{{"x":"{}"}}"#, "a".repeat(MACHINE_DESCRIPTION_MAX));
        assert_eq!(
            machine_description(Some(&long)),
            json!({}),
            "over the limit"
        );
    }
}
