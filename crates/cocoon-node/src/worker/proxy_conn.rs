//! One proxy target of the worker: dial, the worker handshake (runners.md §3.3
//! with protocol [1,4]: v2 with a December proxy, v4 with an April one, delta §1.3), then the message loop; reconnect with
//! backoff when the connection drops. Dropping the loop aborts every request
//! it started, which closes their engine connections (cancellation).
//!
//! A `cocoonrs.cancelRequest` from the proxy (our extension,
//! docs/protocol-extensions.md) aborts the one request it names the same way:
//! the engine call is dropped (its TCP connection closes), the slot is freed
//! and counted as cancelled, and nothing more is sent for it. Ids that are
//! not running on this connection are ignored.

use std::collections::HashMap;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use cocoon_ledger::voucher::VoucherKind;
use cocoon_net::{Inbound, InboundMessage, Session};
use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::from_bytes;
use tokio::task::{AbortHandle, JoinSet};

use super::request::LinkTerms;
use super::state::ProxyLink;
use super::{request, WorkerState, WORKER_MAX_PROTO};
use crate::common::cancel::decode_cancel_request;
use crate::common::dial::{dial_proxy, DialConfig};

/// Deadline of each handshake query (reference: 30 s).
pub const HANDSHAKE_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Keeps one proxy connection alive forever.
pub async fn run_proxy_target(state: Arc<WorkerState>, dial: Arc<DialConfig>, address: String) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match connect_and_serve(&state, &dial, &address).await {
            Ok(served) => {
                tracing::warn!(proxy = %address, "proxy connection closed");
                if served {
                    backoff = BACKOFF_MIN;
                }
            }
            Err(e) => tracing::warn!(proxy = %address, error = %e, "proxy connection failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Dials, handshakes and serves; `Ok(true)` when the connection got ready.
async fn connect_and_serve(
    state: &Arc<WorkerState>,
    dial: &DialConfig,
    address: &str,
) -> Result<bool, String> {
    let (session, inbound, peer) = dial_proxy(address, dial).await.map_err(|e| e.to_string())?;
    tracing::info!(proxy = %address, tee = %peer.tee, "connected to proxy, handshaking");
    let terms = match handshake(state, &session, address).await {
        Ok(v) => v,
        Err(e) => {
            session.close();
            return Err(format!("handshake: {e}"));
        }
    };
    let proto = terms.proto;
    tracing::info!(proxy = %address, proto, "worker handshake complete");
    let running = Arc::new(AtomicUsize::new(0));
    let link_id = state.add_link(ProxyLink {
        address: address.to_string(),
        session: session.clone(),
        proto_version: proto,
        running: running.clone(),
    });
    serve(state, &session, inbound, terms, running, address).await;
    state.remove_link(link_id);
    session.close();
    Ok(true)
}

/// The worker side of §3.3; returns the negotiated protocol version and the price per token.
async fn handshake(
    state: &WorkerState,
    session: &Session,
    address: &str,
) -> Result<LinkTerms, String> {
    let s = &state.settings;
    // Bit 2 (`machine_description_json`) only with a minimum of v4: older proxies cannot
    // parse it (delta-2026-04 §1.2).
    let describe = s.min_proto_version >= 4;
    let params = types::worker::Params {
        flags: if describe { 7 } else { 3 },
        worker_owner_address: s.owner_address.clone(),
        model: s.model_name.clone(),
        coefficient: state.coefficient(),
        is_test: Some(s.is_test),
        proxy_cnt: Some(s.proxy_connections.min(i32::MAX as usize) as i32),
        max_active_requests: Some(s.max_active_requests.min(i32::MAX as usize) as i32),
        min_proto_version: Some(s.min_proto_version),
        max_proto_version: Some(WORKER_MAX_PROTO),
        machine_description_json: describe.then(|| s.machine_description_json.clone()),
    };
    let answer = session
        .call(
            &functions::worker::ConnectToProxy { params },
            HANDSHAKE_QUERY_TIMEOUT,
        )
        .await
        .map_err(|e| format!("worker.connectToProxy: {e}"))?;
    let enums::worker::ConnectedToProxy::ConnectedToProxy(connected) = answer;
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
    let min = s.min_proto_version;
    if !(min..=WORKER_MAX_PROTO).contains(&proto) {
        return Err(format!(
            "proxy chose protocol version {proto}, we speak [{min},{WORKER_MAX_PROTO}]"
        ));
    }

    let price_per_token = connect_money(state, address, p, &connected.worker_sc_address).await;
    // Our view of this proxy's counters is not persisted: we compare from zero.
    let compare = functions::worker::CompareBalanceWithProxy {
        tokens_committed_to_blockchain: 0,
        tokens_committed_to_db: 0,
        max_tokens: 0,
    };
    let enums::worker::CompareBalanceWithProxyResult::CompareBalanceWithProxyResult(result) =
        session
            .call(&compare, HANDSHAKE_QUERY_TIMEOUT)
            .await
            .map_err(|e| format!("worker.compareBalanceWithProxy: {e}"))?;
    state.payments.offer(
        address,
        &result.signed_payment,
        result.tokens_committed_to_db,
        result.max_tokens,
    );
    if result.error_code != 0 {
        let ext = functions::worker::ExtendedCompareBalanceWithProxy {
            tokens_committed_to_db: result.tokens_committed_to_db,
            other: Vec::new(),
        };
        session
            .call(&ext, HANDSHAKE_QUERY_TIMEOUT)
            .await
            .map_err(|e| format!("worker.extendedCompareBalanceWithProxy: {e}"))?;
    }
    let complete = functions::worker::ProxyHandshakeComplete {
        is_disabled: state.is_disabled(),
    };
    session
        .call(&complete, HANDSHAKE_QUERY_TIMEOUT)
        .await
        .map_err(|e| format!("worker.proxyHandshakeComplete: {e}"))?;
    Ok(LinkTerms {
        proto,
        price_per_token: i64::try_from(price_per_token).unwrap_or(i64::MAX),
    })
}

/// Starts this proxy's payments entry; with a ledger, our worker contract there is
/// deployed at this first contact (runners.md §6.6) and vouchers are checked against the
/// address in the ledger's contract context. A ledger failure never stops the handshake.
/// Returns the root's price per token in the context used (for the answers' cost fields).
async fn connect_money(
    state: &WorkerState,
    address: &str,
    params: &types::proxy::Params,
    announced_sc: &str,
) -> u64 {
    let owner = &state.settings.owner_address;
    let fallback = &state.settings.contracts;
    let Some(money) = state.money.clone() else {
        state
            .payments
            .connected_in(address, VoucherKind::WorkerPayout, owner, params, fallback);
        return fallback.params.price_per_token;
    };
    let (addr, p, announced) = (address.to_owned(), params.clone(), announced_sc.to_owned());
    let root = tokio::task::spawn_blocking(move || {
        money.prepare(&addr, &p, &announced);
        money.contract_context()
    })
    .await;
    match root {
        Ok(Ok(root)) => {
            state
                .payments
                .connected_in(address, VoucherKind::WorkerPayout, owner, params, &root);
            return root.params.price_per_token;
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "ledger contract context unreadable; vouchers checked under the root config file's");
        }
        Err(e) => tracing::warn!(error = %e, "worker money task failed"),
    }
    state
        .payments
        .connected_in(address, VoucherKind::WorkerPayout, owner, params, fallback);
    fallback.params.price_per_token
}

/// The requests running on one proxy connection, by proxy request id, so a
/// cancel can abort the right task.
#[derive(Default)]
struct RunningRequests {
    tasks: JoinSet<()>,
    by_request: HashMap<[u8; 32], AbortHandle>,
    by_task: HashMap<tokio::task::Id, [u8; 32]>,
}

impl RunningRequests {
    fn spawn(
        &mut self,
        request_id: [u8; 32],
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(task);
        self.by_task.insert(handle.id(), request_id);
        if let Some(previous) = self.by_request.insert(request_id, handle) {
            // A proxy reusing a running id: the older task can no longer be
            // cancelled by id, but still ends on its own deadline.
            tracing::warn!(request = %hex::encode(&request_id[..8]), task = %previous.id(),
                "proxy reused a running request id");
        }
    }

    /// Forgets a finished task.
    fn finished(&mut self, task: tokio::task::Id) {
        if let Some(request_id) = self.by_task.remove(&task) {
            if self.by_request.get(&request_id).map(AbortHandle::id) == Some(task) {
                self.by_request.remove(&request_id);
            }
        }
    }

    /// Aborts the request with this id; false if none runs.
    fn cancel(&mut self, request_id: &[u8; 32]) -> bool {
        match self.by_request.remove(request_id) {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }
}

/// The message loop of a ready connection. Returns when the connection ends;
/// the request tasks are aborted then (JoinSet drop), cancelling their engine calls.
async fn serve(
    state: &Arc<WorkerState>,
    session: &Session,
    mut inbound: Inbound,
    terms: LinkTerms,
    running: Arc<AtomicUsize>,
    address: &str,
) {
    let mut requests = RunningRequests::default();
    loop {
        tokio::select! {
            msg = inbound.next() => match msg {
                None => break,
                Some(InboundMessage::Packet(data)) => {
                    handle_packet(state, session, terms, &running, &mut requests, data, address).await;
                }
                Some(InboundMessage::Query(q)) => {
                    if cocoon_wire::tl::peek_constructor_id(&q.data) == Some(functions::worker::ChangeModel::CONSTRUCTOR_ID) {
                        // Runs beside the requests: the script may take minutes.
                        tokio::spawn(change_model(state.clone(), q, address.to_owned()));
                    } else {
                        // The reference answers unknown queries with a lost promise (code 0).
                        tracing::debug!("unexpected query from proxy; refusing");
                        let _ = q.error(0, cocoon_net::LOST_PROMISE_MESSAGE).await;
                    }
                }
            },
            Some(done) = requests.tasks.join_next_with_id(), if !requests.tasks.is_empty() => {
                let task = match &done {
                    Ok((id, ())) => *id,
                    Err(e) => e.id(),
                };
                requests.finished(task);
            }
        }
    }
    if !requests.tasks.is_empty() {
        tracing::warn!(
            aborted = requests.tasks.len(),
            "proxy connection lost: aborting its engine requests"
        );
    }
    requests.tasks.abort_all();
}

/// `worker.changeModel` from the proxy at `address` (see [`super::change_model`]).
async fn change_model(state: Arc<WorkerState>, q: cocoon_net::IncomingQuery, address: String) {
    let request: functions::worker::ChangeModel = match cocoon_wire::tl::from_bytes(&q.data) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(proxy = %address, error = %e, "malformed worker.changeModel dropped");
            let _ = q
                .error(super::change_model::MODEL_CHANGE_ERROR, "malformed query")
                .await;
            return;
        }
    };
    tracing::info!(proxy = %address, model = %request.new_model, "model change asked by the proxy");
    let outcome = state
        .model_changer
        .change(&state.settings.model_change, &request.new_model)
        .await;
    let _ = match outcome {
        Ok(()) => {
            let answer = enums::worker::ChangedModel::ChangedModel(types::worker::ChangedModel {});
            q.answer(cocoon_wire::tl::to_bytes(&answer)).await
        }
        Err((code, message)) => q.error(code, message).await,
    };
}

async fn handle_packet(
    state: &Arc<WorkerState>,
    session: &Session,
    terms: LinkTerms,
    running: &Arc<AtomicUsize>,
    requests: &mut RunningRequests,
    data: Vec<u8>,
    address: &str,
) {
    if let Some((request_id, reason)) = decode_cancel_request(&data) {
        let rid = hex::encode(&request_id[..8]);
        if requests.cancel(&request_id) {
            tracing::info!(request = %rid, %reason, "request cancelled by the proxy; engine call aborted");
        } else {
            tracing::debug!(request = %rid, %reason, "cancel for an unknown or finished request ignored");
        }
        return;
    }
    match cocoon_wire::tl::peek_constructor_id(&data) {
        Some(functions::proxy::RunQueryEx::CONSTRUCTOR_ID) => {
            match from_bytes::<functions::proxy::RunQueryEx>(&data) {
                Ok(query) => {
                    let Some(guard) = request::RequestSlot::acquire(state.clone(), running.clone())
                    else {
                        request::send_over_capacity(state, session, terms, &query).await;
                        return;
                    };
                    let (st, sess) = (state.clone(), session.clone());
                    let span = tracing::info_span!(
                        "request",
                        request = %hex::encode(&query.request_id[..8])
                    );
                    requests.spawn(
                        query.request_id,
                        tracing::Instrument::instrument(
                            request::serve_request(st, sess, terms, query, guard),
                            span,
                        ),
                    );
                }
                Err(e) => tracing::warn!(error = %e, "malformed proxy.runQueryEx dropped"),
            }
        }
        Some(types::proxy::WorkerRequestPayment::CONSTRUCTOR_ID) => {
            match from_bytes::<types::proxy::WorkerRequestPayment>(&data) {
                Ok(p) => {
                    state
                        .payments
                        .offer(address, &p.signed_payment, p.db_tokens, p.max_tokens)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "malformed proxy.workerRequestPayment dropped")
                }
            }
        }
        Some(types::proxy::SignedPayment::CONSTRUCTOR_ID)
        | Some(types::proxy::SignedPaymentEmpty::CONSTRUCTOR_ID) => {
            tracing::debug!("bare signed payment from proxy ignored");
        }
        other => {
            tracing::debug!(id = ?other.map(|i| format!("{i:#010x}")), "unknown packet from proxy dropped")
        }
    }
}

#[cfg(test)]
#[path = "proxy_conn_tests.rs"]
mod tests;
