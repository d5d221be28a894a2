//! One running client request (runners.md §4.3, §4.6): checks, worker
//! selection, `proxy.runQueryEx` to the worker, and the relay of its answer,
//! parts and errors back to the client.
//!
//! * Failover: if the chosen worker fails (its connection drops, or it answers
//!   with an error other than "invalid request" 621 / "timeout" 652) before its
//!   first answer, the request is sent once more to another worker.
//! * A failure after the first answer reaches the client at once (the
//!   reference waited for the request timeout, §13.11).
//! * Liveness: a worker link that stays silent for `worker_silence_limit` is
//!   closed (see `listener`), which fails its unanswered requests over as
//!   above; a started answer with no part for `stream_stall_limit` ends with
//!   a timeout error to the client and a cancel to the worker.
//! * Cancellation: the reference protocol has no message for it; we use our
//!   extension `cocoonrs.cancelRequest` (docs/protocol-extensions.md). When
//!   the client cancels a request, its connection goes away, or the proxy's
//!   timeout fires, the proxy stops relaying, frees the worker slot at once,
//!   and sends the worker `cocoonrs.cancelRequest` with the proxy request id
//!   (see [`route`]); the worker's later messages for it are dropped (unknown
//!   request id). A reference worker drops the cancel and runs on until its
//!   own timeout.
//! * Each attempt gets a fresh random proxy request id, so late messages of an
//!   abandoned attempt can never be mistaken for the current one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cocoon_e2e::Seed;
use cocoon_net::Session;
use cocoon_wire::schema::types;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

mod build;
mod checks;
mod events;
mod notice;
mod route;

use events::lost_worker;
use route::RouteGuard;

use super::messages::ClientRequest;
use super::registry::{model_base_name, Slot};
use super::reservation::{reservation_tokens, Reservation};
use super::{ProxyCounters, ProxyShared};
use crate::common::proto::{code, now_unix, VERSION_KEYS};

/// Longest request timeout the proxy accepts (seconds).
const MAX_TIMEOUT_S: f64 = 3600.0;

/// The client side of a running request.
#[derive(Debug)]
pub struct ClientCtx {
    pub session: Session,
    /// Negotiated protocol version of the client connection.
    pub version: i32,
    /// Normalised owner address (the client's key).
    pub owner: String,
}

/// How one attempt on one worker ended.
enum AttemptEnd {
    Completed(types::TokensUsed),
    BeforeAnswer {
        code: i32,
        message: String,
        retryable: bool,
        info: Option<types::proxy::QueryFinalInfo>,
    },
    AfterAnswer {
        code: i32,
        message: String,
        info: Option<types::proxy::QueryFinalInfo>,
    },
    ClientGone,
    /// The client sent `cocoonrs.cancelRequest` for this request.
    ClientCancelled,
    /// The proxy's deadline for the request passed.
    TimedOut,
}

/// How a request ended (for the counters and the timeout error).
enum Outcome {
    Success,
    Failed,
    /// The client went away or cancelled; nothing more is sent to it.
    Cancelled,
    TimedOut,
}

/// Mutable progress of a request across attempts.
#[derive(Default)]
struct Progress {
    answered: bool,
    answer_at: Option<f64>,
    /// Tokens billed for attempts that failed at the worker (their notices went out);
    /// `Some` once one did, so the client gets its notice after its error.
    billed_failed: Option<u64>,
}

struct Relay {
    shared: Arc<ProxyShared>,
    client: Arc<ClientCtx>,
    req: ClientRequest,
    start: Instant,
    start_unix: f64,
    /// Becomes true when the client cancels this request.
    cancel: watch::Receiver<bool>,
}

/// Runs one request to completion (answer, error, timeout, client gone, or
/// cancelled by the client through `cancel` becoming true).
pub async fn run_request(
    shared: Arc<ProxyShared>,
    client: Arc<ClientCtx>,
    req: ClientRequest,
    cancel: watch::Receiver<bool>,
) {
    let relay = Relay {
        shared,
        client,
        req,
        start: Instant::now(),
        start_unix: now_unix(),
        cancel,
    };
    let c = &relay.shared.counters;
    ProxyCounters::add(&c.queries, 1);
    ProxyCounters::add(&c.bytes_received, relay.req.query.len() as u64);
    relay.shared.client_running(&relay.client.owner, 1);
    relay.run().await;
    relay.shared.client_running(&relay.client.owner, -1);
    ProxyCounters::add(
        &relay.shared.counters.time_us,
        relay.start.elapsed().as_micros() as u64,
    );
}

impl Relay {
    fn rid(&self) -> String {
        hex::encode(&self.req.request_id[..8])
    }

    async fn run(&self) {
        let checked = self
            .precheck()
            .and_then(|timeout| Ok((timeout, self.request_key()?)));
        let (timeout, key) = match checked {
            Ok(ok) => ok,
            Err((code, message)) => return self.reject(code, &message).await,
        };
        let reservation = match self.reserve().await {
            Ok(r) => r,
            Err((code, message)) => return self.reject(code, &message).await,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut progress = Progress::default();
        let outcome = tokio::time::timeout_at(
            deadline,
            self.attempts(&mut progress, deadline, reservation.as_ref(), key.as_ref()),
        )
        .await;
        let c = &self.shared.counters;
        match outcome {
            Ok(Outcome::Success) => ProxyCounters::add(&c.success, 1),
            Ok(Outcome::Failed) => ProxyCounters::add(&c.failed, 1),
            Ok(Outcome::Cancelled) => ProxyCounters::add(&c.cancelled, 1),
            Ok(Outcome::TimedOut) | Err(_) => {
                info!(request = %self.rid(), "request timed out in proxy");
                ProxyCounters::add(&c.failed, 1);
                self.send_error(code::TIMEOUT, "timeout in proxy", None, progress.answered)
                    .await;
            }
        }
        if let (Some(billed), Ok(Outcome::Failed | Outcome::TimedOut) | Err(_)) =
            (progress.billed_failed, &outcome)
        {
            self.notify_client(billed).await;
        }
    }

    /// The request's reservation against its client contract (with a ledger).
    async fn reserve(&self) -> Result<Option<Reservation>, (i32, String)> {
        let r = &self.req;
        let tokens = reservation_tokens(r.max_tokens, r.query.len(), r.max_coefficient)
            .map_err(|e| (code::PROTOVIOLATION, e))?;
        self.shared
            .reserve(&self.client.owner, tokens)
            .await
            .map_err(|e| {
                ProxyCounters::add(&self.shared.counters.refused_balance, 1);
                (code::ERROR, e.to_string())
            })
    }

    async fn reject(&self, code: i32, message: &str) {
        info!(request = %self.rid(), model = %self.req.model_name, code, message, "request rejected");
        ProxyCounters::add(&self.shared.counters.rejected, 1);
        self.send_error(code, message, None, false).await;
    }

    /// Runs up to two attempts. Sends the client every error itself except
    /// the proxy timeout (handled by the caller). An encrypted request (`key`) only goes to
    /// workers of protocol ≥ 3, with the seed in `proxy.runQueryEx.private_key`.
    async fn attempts(
        &self,
        progress: &mut Progress,
        deadline: tokio::time::Instant,
        reservation: Option<&Reservation>,
        key: Option<&Seed>,
    ) -> Outcome {
        let model = model_base_name(&self.req.model_name).to_owned();
        let min_version = if key.is_some() { VERSION_KEYS } else { 0 };
        let mut tried: Vec<u64> = Vec::new();
        let mut last_error: Option<(i32, String, Option<types::proxy::QueryFinalInfo>)> = None;
        while tried.len() < 2 {
            if *self.cancel.borrow() {
                info!(request = %self.rid(), "request cancelled by the client before dispatch");
                return Outcome::Cancelled;
            }
            let max_coefficient = i64::from(self.req.max_coefficient);
            let slot =
                match self
                    .shared
                    .registry
                    .choose(&model, max_coefficient, min_version, &tried)
                {
                    Ok(slot) => slot,
                    Err(e) => {
                        match last_error {
                            Some((code, message, info)) => {
                                self.send_error(code, &message, info.as_ref(), false).await
                            }
                            None => self.reject(e.code(), &e.to_string()).await,
                        }
                        return Outcome::Failed;
                    }
                };
            if !tried.is_empty() {
                ProxyCounters::add(&self.shared.counters.retried, 1);
            }
            tried.push(slot.conn.id);
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let attempt_start = Instant::now();
            let proxy_request_id: [u8; 32] = rand::random();
            let end = self
                .attempt(
                    &slot,
                    proxy_request_id,
                    progress,
                    (remaining, deadline),
                    key,
                )
                .await;
            let ok = matches!(end, AttemptEnd::Completed(_));
            slot.conn.record_outcome(ok, attempt_start.elapsed());
            match end {
                AttemptEnd::Completed(tokens) => {
                    info!(request = %self.rid(), worker_conn = slot.conn.id,
                        tokens = tokens.total_tokens_used,
                        elapsed_ms = self.start.elapsed().as_millis() as u64, "request completed");
                    self.settle_and_notify(&slot.conn, proxy_request_id, &tokens, reservation)
                        .await;
                    return Outcome::Success;
                }
                AttemptEnd::ClientGone => {
                    info!(request = %self.rid(), "client went away; request cancelled");
                    return Outcome::Cancelled;
                }
                AttemptEnd::ClientCancelled => {
                    info!(request = %self.rid(), "request cancelled by the client");
                    return Outcome::Cancelled;
                }
                AttemptEnd::TimedOut => return Outcome::TimedOut,
                AttemptEnd::AfterAnswer {
                    code,
                    message,
                    info,
                } => {
                    warn!(request = %self.rid(), code, %message, "request failed after its answer started");
                    let billed = self
                        .settle_failed(&slot.conn, proxy_request_id, info.as_ref(), reservation)
                        .await;
                    progress.billed_failed = Some(progress.billed_failed.unwrap_or(0) + billed);
                    self.send_error(code, &message, info.as_ref(), true).await;
                    return Outcome::Failed;
                }
                AttemptEnd::BeforeAnswer {
                    code,
                    message,
                    retryable,
                    info,
                } => {
                    warn!(request = %self.rid(), worker_conn = slot.conn.id, code, %message, retryable,
                        "worker failed before answering");
                    let billed = self
                        .settle_failed(&slot.conn, proxy_request_id, info.as_ref(), reservation)
                        .await;
                    progress.billed_failed = Some(progress.billed_failed.unwrap_or(0) + billed);
                    if !retryable {
                        self.send_error(code, &message, info.as_ref(), false).await;
                        return Outcome::Failed;
                    }
                    last_error = Some((code, message, info));
                }
            }
        }
        if let Some((code, message, info)) = last_error {
            self.send_error(code, &message, info.as_ref(), false).await;
        }
        Outcome::Failed
    }

    /// One attempt on one worker connection.
    async fn attempt(
        &self,
        slot: &Slot,
        proxy_request_id: [u8; 32],
        progress: &mut Progress,
        (remaining, deadline): (Duration, tokio::time::Instant),
        key: Option<&Seed>,
    ) -> AttemptEnd {
        let conn = &slot.conn;
        let (tx, mut rx) = mpsc::channel(self.shared.settings.relay_buffer.max(1));
        conn.add_route(proxy_request_id, tx);
        let mut route = RouteGuard::new(conn, &self.shared.counters, proxy_request_id);
        // `worker_request` is the id the worker logs as its `request`.
        info!(request = %self.rid(), worker_request = %hex::encode(&proxy_request_id[..8]),
            worker_conn = conn.id, model = %self.req.model_name, "forwarding to worker");
        let run = self.run_query_bytes(conn, proxy_request_id, remaining, key);
        if conn.session.send(run).await.is_err() {
            route.worker_done();
            return lost_worker(false);
        }
        let mut cancel = self.cancel.clone();
        let stall_limit = self.shared.settings.stream_stall_limit;
        let mut last_event = tokio::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                event = rx.recv() => match event {
                    Some(event) => {
                        last_event = tokio::time::Instant::now();
                        let worker_finished = event.ends_request();
                        if let Some(end) = self.on_event(event, progress).await {
                            if worker_finished {
                                route.worker_done();
                            } else {
                                route.abandon("proxy: answer not relayed");
                            }
                            return end;
                        }
                    }
                    None if conn.is_gone() => return lost_worker(progress.answered),
                    None => {
                        route.abandon("proxy: client too slow");
                        let message = "proxy: client too slow, relay buffer overflow".to_owned();
                        return if progress.answered {
                            AttemptEnd::AfterAnswer { code: code::ERROR, message, info: None }
                        } else {
                            AttemptEnd::BeforeAnswer { code: code::ERROR, message, retryable: false, info: None }
                        };
                    }
                },
                _ = self.client.session.closed() => {
                    route.abandon("proxy: client connection closed");
                    return AttemptEnd::ClientGone;
                }
                _ = cancelled(&mut cancel) => {
                    route.abandon("proxy: cancelled by the client");
                    return AttemptEnd::ClientCancelled;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    route.abandon("proxy: timeout");
                    return AttemptEnd::TimedOut;
                }
                // Before the first answer the request timeout and the worker
                // link's liveness check apply; after it, a stream may not stall.
                _ = tokio::time::sleep_until(last_event + stall_limit), if progress.answered => {
                    route.abandon("proxy: answer stalled");
                    let message = format!(
                        "proxy: worker sent nothing for {} s; stream ended",
                        stall_limit.as_secs_f64()
                    );
                    return AttemptEnd::AfterAnswer { code: code::TIMEOUT, message, info: None };
                }
            }
        }
    }
}

/// Resolves when the client cancels the request; never if the switch is
/// dropped without a cancel.
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    let switch_gone = cancel.wait_for(|cancelled| *cancelled).await.is_err();
    if switch_gone {
        std::future::pending::<()>().await;
    }
}
