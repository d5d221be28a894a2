//! Building the TL messages of a running request: the stamped header answer,
//! answer parts, final infos and errors for the client, and the run-query
//! message for the worker.

use std::time::Duration;

use cocoon_e2e::Seed;
use cocoon_wire::schema::{functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};

use super::{Progress, Relay};
use crate::common::proto::{self, now_unix, VERSION_EX, VERSION_KEYS, VERSION_TIMESTAMPS};
use crate::proxy::registry::WorkerConn;
use crate::proxy::Side;

impl Relay {
    /// Adds `X-Cocoon-Proxy-Start/End` to the worker's `http.response`.
    pub(super) fn stamp_answer(&self, answer: &[u8]) -> Option<Vec<u8>> {
        let mut response = from_bytes::<types::http::Response>(answer).ok()?;
        let header = |name: &str, t: f64| types::http::Header {
            name: name.to_owned(),
            value: proto::header_time(t),
        };
        response
            .headers
            .push(header("X-Cocoon-Proxy-Start", self.start_unix));
        response
            .headers
            .push(header("X-Cocoon-Proxy-End", now_unix()));
        Some(to_bytes(&response))
    }

    /// The client message carrying an answer (`first`) or a part.
    pub(super) fn answer_bytes(
        &self,
        first: bool,
        answer: Vec<u8>,
        completed: bool,
        info: Option<&types::proxy::QueryFinalInfo>,
        progress: &Progress,
    ) -> Vec<u8> {
        let request_id = self.req.request_id;
        if self.client.version >= VERSION_EX {
            let flags = u32::from(completed);
            let final_info = completed.then(|| self.client_final_info(info, progress.answer_at));
            if first {
                to_bytes(&types::client::QueryAnswerEx {
                    request_id,
                    answer,
                    flags,
                    final_info,
                })
            } else {
                to_bytes(&types::client::QueryAnswerPartEx {
                    request_id,
                    answer,
                    flags,
                    final_info,
                })
            }
        } else {
            let request_tokens_used =
                info.map_or_else(proto::zero_tokens, |i| i.tokens_used.clone());
            if first {
                to_bytes(&types::client::QueryAnswer {
                    answer,
                    is_completed: completed,
                    request_id,
                    request_tokens_used,
                })
            } else {
                to_bytes(&types::client::QueryAnswerPart {
                    answer,
                    is_completed: completed,
                    request_id,
                    request_tokens_used,
                })
            }
        }
    }

    /// The client's final info, built from the worker's (runners.md §4.6).
    pub(super) fn client_final_info(
        &self,
        worker: Option<&types::proxy::QueryFinalInfo>,
        answer_at: Option<f64>,
    ) -> types::client::QueryFinalInfo {
        let debug = self.req.enable_debug;
        let now = now_unix();
        let ts = self.client.version >= VERSION_TIMESTAMPS;
        let proxy_debug = serde_json::json!({
            "type": "proxy_stats",
            "start_time": self.start_unix,
            "answer_receive_start_at": answer_at.unwrap_or(now),
            "answer_receive_end_at": now,
        });
        types::client::QueryFinalInfo {
            flags: proto::final_info_flags(debug, self.client.version),
            tokens_used: worker.map_or_else(proto::zero_tokens, |w| w.tokens_used.clone()),
            worker_debug: debug.then(|| {
                worker
                    .and_then(|w| w.worker_debug.clone())
                    .unwrap_or_else(|| "{}".into())
            }),
            proxy_debug: debug.then(|| proxy_debug.to_string()),
            proxy_start_time: ts.then_some(self.start_unix),
            proxy_end_time: ts.then_some(now),
            worker_start_time: ts.then(|| {
                worker
                    .and_then(|w| w.worker_start_time)
                    .unwrap_or(self.start_unix)
            }),
            worker_end_time: ts.then(|| worker.and_then(|w| w.worker_end_time).unwrap_or(now)),
        }
    }

    /// Sends an error answer in the client's form; failures to send are ignored
    /// (the client is gone).
    pub(super) async fn send_error(
        &self,
        code: i32,
        message: &str,
        info: Option<&types::proxy::QueryFinalInfo>,
        started: bool,
    ) {
        let request_id = self.req.request_id;
        let bytes = if proto::error_as_http_answer(self.client.version, started) {
            let info = self.client_final_info(info, None);
            proto::client_http_error_answer(request_id, code, message, info)
        } else if self.client.version >= VERSION_EX {
            to_bytes(&types::client::QueryAnswerErrorEx {
                request_id,
                error_code: code,
                error: message.to_owned(),
                flags: 1,
                final_info: Some(self.client_final_info(info, None)),
            })
        } else {
            proto::client_error_bytes(
                self.client.version,
                request_id,
                code,
                message,
                started,
                self.start_unix,
            )
        };
        let _ = self.client.session.send(bytes).await;
    }

    /// `proxy.runQueryEx` (v≥1) or `proxy.runQuery` (v0) for `conn`. From v3 on, flags bit 1
    /// and `private_key`: the seed of an encrypted request's key, zero for a plain one (an
    /// encrypted request never reaches a connection below v3, see `attempts`).
    pub(super) fn run_query_bytes(
        &self,
        conn: &WorkerConn,
        request_id: [u8; 32],
        remaining: Duration,
        key: Option<&Seed>,
    ) -> Vec<u8> {
        let coefficient = conn.state().coefficient;
        let timeout = remaining.as_secs_f64() * 0.95;
        let query = self.req.query.clone();
        let signed_payment = self
            .shared
            .payment_snapshot(Side::Worker, &conn.owner)
            .signed_payment;
        if conn.version >= VERSION_EX {
            let keys = conn.version >= VERSION_KEYS;
            to_bytes(&functions::proxy::RunQueryEx {
                query,
                signed_payment,
                coefficient,
                timeout,
                request_id,
                flags: 1 | if keys { 2 } else { 0 },
                enable_debug: Some(self.req.enable_debug),
                private_key: keys.then(|| key.map_or([0u8; 32], |k| *k.as_bytes())),
            })
        } else {
            to_bytes(&functions::proxy::RunQuery {
                query,
                signed_payment,
                coefficient,
                timeout,
                request_id,
            })
        }
    }
}
