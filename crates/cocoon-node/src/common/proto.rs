//! Protocol versions, their negotiation, and the small TL messages every role
//! builds the same way (final infos, error answers).
//!
//! Versions (delta-2026-04 §1.3): proxy `[0,4]`, client `[1,4]`, worker `[1,4]`. The April
//! reference worker speaks `[3,4]` and so cannot join a December proxy (`[0,2]`); ours keeps the
//! December worker's minimum, so one worker serves both generations: v2 with a December proxy,
//! v4 with an April one.
//! A peer announces its range in its `params` when `flags & 2` is set,
//! otherwise it is taken as `[0,0]`; the acceptor picks `min(peer max, own max)`
//! and rejects ranges that do not overlap (runners.md §3.4).
//! Meanings: v0 legacy `runQuery`/`queryAnswer*` with `tokensUsed` in each
//! message; v≥1 the `*Ex` messages with `final_info` on the last one; v≥2
//! timestamps in `final_info` (flags bit 1); v≥3 the key fields of
//! `runQueryEx` (flags bit 1); v≥4 `worker.params.machine_description_json`.

use std::time::{SystemTime, UNIX_EPOCH};

use cocoon_wire::schema::types;
use cocoon_wire::tl::to_bytes;

/// TON `ErrorCode` values used on the wire (runners.md, conventions).
pub mod code {
    /// Generic failure.
    pub const FAILURE: i32 = 601;
    /// Generic error (e.g. over capacity, balance too low).
    pub const ERROR: i32 = 602;
    /// Warning.
    pub const WARNING: i32 = 603;
    /// The peer broke the protocol or sent an invalid request.
    pub const PROTOVIOLATION: i32 = 621;
    /// Not ready (no workers, connection lost, ...).
    pub const NOT_READY: i32 = 651;
    /// Timeout.
    pub const TIMEOUT: i32 = 652;
    /// Cancelled.
    pub const CANCELLED: i32 = 653;
}

/// An inclusive range of protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: i32,
    pub max: i32,
}

/// Versions the proxy speaks.
pub const PROXY_VERSIONS: VersionRange = VersionRange { min: 0, max: 4 };
/// Versions the client speaks.
pub const CLIENT_VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };
/// Versions the worker speaks (December reference `[1,2]`, April `[3,4]`).
pub const WORKER_VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };

/// First version with the `*Ex` messages and `final_info`.
pub const VERSION_EX: i32 = 1;
/// First version whose `final_info` carries timestamps (flags bit 1).
pub const VERSION_TIMESTAMPS: i32 = 2;
/// First version whose `runQueryEx` carries the key field (flags bit 1).
pub const VERSION_KEYS: i32 = 3;

/// Why two version ranges cannot work together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol version mismatch: peer supports [{peer_min},{peer_max}], we support [{our_min},{our_max}]")]
pub struct VersionMismatch {
    pub peer_min: i32,
    pub peer_max: i32,
    pub our_min: i32,
    pub our_max: i32,
}

/// The peer's announced range: `Some((min, max))` when its params have
/// `flags & 2`, `None` otherwise (then it is a v0-only peer).
pub fn peer_range(flags: u32, min: Option<i32>, max: Option<i32>) -> VersionRange {
    match (flags & 2 != 0, min, max) {
        (true, Some(min), Some(max)) => VersionRange { min, max },
        _ => VersionRange { min: 0, max: 0 },
    }
}

/// Acceptor-side negotiation: the version both sides will use.
pub fn negotiate(ours: VersionRange, peer: VersionRange) -> Result<i32, VersionMismatch> {
    if peer.max < ours.min || ours.max < peer.min || peer.min > peer.max {
        return Err(VersionMismatch {
            peer_min: peer.min,
            peer_max: peer.max,
            our_min: ours.min,
            our_max: ours.max,
        });
    }
    Ok(peer.max.min(ours.max))
}

/// Dialer-side check of the version the acceptor chose (`proxy.params`:
/// present iff `flags & 2`, else 0).
pub fn check_chosen(ours: VersionRange, chosen: i32) -> Result<i32, VersionMismatch> {
    if chosen < ours.min || chosen > ours.max {
        return Err(VersionMismatch {
            peer_min: chosen,
            peer_max: chosen,
            our_min: ours.min,
            our_max: ours.max,
        });
    }
    Ok(chosen)
}

/// Seconds since the UNIX epoch as a double (the wire's timestamp form).
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Formats a timestamp as the `X-Cocoon-*-Start/End` headers do (`%.6f`).
pub fn header_time(t: f64) -> String {
    format!("{t:.6}")
}

/// A zero `tokensUsed`.
pub fn zero_tokens() -> types::TokensUsed {
    types::TokensUsed {
        prompt_tokens_used: 0,
        cached_tokens_used: 0,
        completion_tokens_used: 0,
        reasoning_tokens_used: 0,
        total_tokens_used: 0,
    }
}

/// `flags` of a final info: bit 0 debug strings, bit 1 timestamps (v≥2).
pub fn final_info_flags(debug: bool, version: i32) -> u32 {
    u32::from(debug) | if version >= VERSION_TIMESTAMPS { 2 } else { 0 }
}

/// The worker→proxy final info with no tokens (error answers), timestamps
/// `start`/`end` when the version has them.
pub fn empty_proxy_final_info(version: i32, start: f64, end: f64) -> types::proxy::QueryFinalInfo {
    let ts = version >= VERSION_TIMESTAMPS;
    types::proxy::QueryFinalInfo {
        flags: final_info_flags(false, version),
        tokens_used: zero_tokens(),
        worker_debug: None,
        worker_start_time: ts.then_some(start),
        worker_end_time: ts.then_some(end),
    }
}

/// The proxy→client final info with no tokens (proxy-side errors).
pub fn empty_client_final_info(
    version: i32,
    start: f64,
    end: f64,
) -> types::client::QueryFinalInfo {
    let ts = version >= VERSION_TIMESTAMPS;
    types::client::QueryFinalInfo {
        flags: final_info_flags(false, version),
        tokens_used: zero_tokens(),
        worker_debug: None,
        proxy_debug: None,
        proxy_start_time: ts.then_some(start),
        proxy_end_time: ts.then_some(end),
        worker_start_time: ts.then_some(end),
        worker_end_time: ts.then_some(end),
    }
}

/// Whether an error for a client on `version` must go out as an HTTP error answer
/// ([`client_http_error_answer`]) instead of `client.queryAnswerErrorEx`: a December reference
/// client (v1–v2) crashes on any error that arrives before the first answer (its error path
/// dereferences a missing final info, interop.md §3), so before the answer started it gets the
/// HTTP answer its own error path would have produced. April clients (v≥3) take the error.
pub fn error_as_http_answer(version: i32, answer_started: bool) -> bool {
    (VERSION_EX..VERSION_KEYS).contains(&version) && !answer_started
}

/// A completed `client.queryAnswerEx` carrying the HTTP answer the reference client makes of an
/// error itself (runners.md §4.7): 504 for a timeout, 502 when not ready, else 500, with the
/// JSON body `{"error_code":…,"error":…}`.
pub fn client_http_error_answer(
    request_id: [u8; 32],
    error_code: i32,
    message: &str,
    final_info: types::client::QueryFinalInfo,
) -> Vec<u8> {
    let (status, reason) = match error_code {
        code::TIMEOUT => (504, "Gateway Timeout"),
        code::NOT_READY => (502, "Bad Gateway"),
        _ => (500, "Internal Server Error"),
    };
    let body = serde_json::json!({"error_code": error_code, "error": message}).to_string();
    let head = types::http::Response {
        http_version: "HTTP/1.1".into(),
        status_code: status,
        reason: reason.into(),
        headers: vec![types::http::Header {
            name: "Content-Type".into(),
            value: "application/json".into(),
        }],
        payload: body.into_bytes(),
    };
    to_bytes(&types::client::QueryAnswerEx {
        request_id,
        answer: to_bytes(&head),
        flags: 1,
        final_info: Some(final_info),
    })
}

/// A proxy→client error answer in the form the client's version understands: an HTTP error
/// answer for a December client before its answer started ([`error_as_http_answer`]),
/// `client.queryAnswerErrorEx` (flags 1, zero-token final info) for v≥1 —
/// unlike the December reference, which sent the legacy form to everyone
/// (runners.md §13.1) — and the legacy `client.queryAnswerError` /
/// `client.queryAnswerPartError` (after an answer was sent) for v0.
pub fn client_error_bytes(
    version: i32,
    request_id: [u8; 32],
    error_code: i32,
    message: &str,
    answer_started: bool,
    start: f64,
) -> Vec<u8> {
    if error_as_http_answer(version, answer_started) {
        let info = empty_client_final_info(version, start, now_unix());
        client_http_error_answer(request_id, error_code, message, info)
    } else if version >= VERSION_EX {
        to_bytes(&types::client::QueryAnswerErrorEx {
            request_id,
            error_code,
            error: message.to_owned(),
            flags: 1,
            final_info: Some(empty_client_final_info(version, start, now_unix())),
        })
    } else if answer_started {
        to_bytes(&types::client::QueryAnswerPartError {
            error_code,
            error: message.to_owned(),
            request_id,
            request_tokens_used: zero_tokens(),
        })
    } else {
        to_bytes(&types::client::QueryAnswerError {
            error_code,
            error: message.to_owned(),
            request_id,
            request_tokens_used: zero_tokens(),
        })
    }
}

/// A worker→proxy error answer: `proxy.queryAnswerErrorEx` (flags 1,
/// zero-token final info) for v≥1, legacy `proxy.queryAnswerError` /
/// `proxy.queryAnswerPartError` for v0.
pub fn worker_error_bytes(
    version: i32,
    request_id: [u8; 32],
    error_code: i32,
    message: &str,
    answer_started: bool,
    start: f64,
) -> Vec<u8> {
    if version >= VERSION_EX {
        to_bytes(&types::proxy::QueryAnswerErrorEx {
            request_id,
            error_code,
            error: message.to_owned(),
            flags: 1,
            final_info: Some(empty_proxy_final_info(version, start, now_unix())),
        })
    } else if answer_started {
        to_bytes(&types::proxy::QueryAnswerPartError {
            error_code,
            error: message.to_owned(),
            request_id,
            tokens_used: zero_tokens(),
        })
    } else {
        to_bytes(&types::proxy::QueryAnswerError {
            error_code,
            error: message.to_owned(),
            request_id,
            tokens_used: zero_tokens(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_min_of_maxima() {
        assert_eq!(negotiate(PROXY_VERSIONS, CLIENT_VERSIONS), Ok(4));
        assert_eq!(
            negotiate(PROXY_VERSIONS, VersionRange { min: 1, max: 2 }),
            Ok(2)
        );
        assert_eq!(
            negotiate(PROXY_VERSIONS, VersionRange { min: 0, max: 0 }),
            Ok(0)
        );
        assert_eq!(
            negotiate(PROXY_VERSIONS, VersionRange { min: 3, max: 9 }),
            Ok(4)
        );
    }

    #[test]
    fn negotiation_rejects_disjoint_or_inverted_ranges() {
        assert!(negotiate(PROXY_VERSIONS, VersionRange { min: 5, max: 6 }).is_err());
        assert!(negotiate(WORKER_VERSIONS, VersionRange { min: 0, max: 0 }).is_err());
        assert!(negotiate(PROXY_VERSIONS, VersionRange { min: 3, max: 1 }).is_err());
        assert!(negotiate(PROXY_VERSIONS, VersionRange { min: -5, max: -1 }).is_err());
    }

    #[test]
    fn worker_joins_either_generation_of_proxy() {
        // A December proxy ([0,2]) and an April proxy ([0,4]) negotiate with our worker's
        // range as the acceptor: min(peer max, own max).
        let december_proxy = VersionRange { min: 0, max: 2 };
        assert_eq!(negotiate(december_proxy, WORKER_VERSIONS), Ok(2));
        assert_eq!(negotiate(PROXY_VERSIONS, WORKER_VERSIONS), Ok(4));
        // ... and a December worker ([1,2]) joins our proxy on v2.
        assert_eq!(
            negotiate(PROXY_VERSIONS, VersionRange { min: 1, max: 2 }),
            Ok(2)
        );
    }

    #[test]
    fn peer_range_defaults_to_v0_without_flag() {
        assert_eq!(
            peer_range(1, Some(1), Some(4)),
            VersionRange { min: 0, max: 0 }
        );
        assert_eq!(
            peer_range(3, Some(1), Some(4)),
            VersionRange { min: 1, max: 4 }
        );
    }

    #[test]
    fn chosen_version_is_checked_against_our_range() {
        assert_eq!(check_chosen(WORKER_VERSIONS, 4), Ok(4));
        assert_eq!(check_chosen(WORKER_VERSIONS, 2), Ok(2));
        assert!(check_chosen(WORKER_VERSIONS, 0).is_err());
        assert!(check_chosen(CLIENT_VERSIONS, 0).is_err());
    }

    #[test]
    fn final_info_flags_follow_version_and_debug() {
        assert_eq!(final_info_flags(false, 0), 0);
        assert_eq!(final_info_flags(true, 1), 1);
        assert_eq!(final_info_flags(false, 2), 2);
        assert_eq!(final_info_flags(true, 4), 3);
    }

    #[test]
    fn december_clients_get_errors_as_http_answers_before_the_answer() {
        use cocoon_wire::tl::{from_bytes, peek_constructor_id};
        for (code, status) in [(code::NOT_READY, 502), (code::TIMEOUT, 504), (621, 500)] {
            let bytes = client_error_bytes(2, [7; 32], code, "no workers", false, 1.0);
            assert_eq!(
                peek_constructor_id(&bytes),
                Some(types::client::QueryAnswerEx::CONSTRUCTOR_ID)
            );
            let answer: types::client::QueryAnswerEx = from_bytes(&bytes).expect("answer");
            assert_eq!(answer.flags, 1, "completed");
            assert_eq!(answer.final_info.expect("final info").flags, 2);
            let head: types::http::Response = from_bytes(&answer.answer).expect("http.response");
            assert_eq!(head.status_code, status);
            let body: serde_json::Value = serde_json::from_slice(&head.payload).expect("JSON");
            assert_eq!(body["error_code"], code);
            assert_eq!(body["error"], "no workers");
        }
        // After the answer started, and for April clients, the error itself.
        for (version, started) in [(2, true), (1, true), (3, false), (4, false)] {
            let bytes = client_error_bytes(version, [7; 32], 602, "x", started, 1.0);
            assert_eq!(
                peek_constructor_id(&bytes),
                Some(types::client::QueryAnswerErrorEx::CONSTRUCTOR_ID),
                "v{version} started={started}"
            );
        }
    }

    #[test]
    fn client_error_form_depends_on_version() {
        let ex = client_error_bytes(4, [7; 32], code::NOT_READY, "no workers", false, 1.0);
        let legacy = client_error_bytes(0, [7; 32], code::NOT_READY, "no workers", false, 1.0);
        let legacy_part = client_error_bytes(0, [7; 32], code::NOT_READY, "x", true, 1.0);
        assert_eq!(
            cocoon_wire::tl::peek_constructor_id(&ex),
            Some(types::client::QueryAnswerErrorEx::CONSTRUCTOR_ID)
        );
        assert_eq!(
            cocoon_wire::tl::peek_constructor_id(&legacy),
            Some(types::client::QueryAnswerError::CONSTRUCTOR_ID)
        );
        assert_eq!(
            cocoon_wire::tl::peek_constructor_id(&legacy_part),
            Some(types::client::QueryAnswerPartError::CONSTRUCTOR_ID)
        );
        let decoded: types::client::QueryAnswerErrorEx =
            cocoon_wire::tl::from_bytes(&ex).expect("decodes");
        assert_eq!(decoded.error, "no workers");
        assert_eq!(decoded.flags, 1);
        let info = decoded.final_info.expect("final info");
        assert_eq!(info.flags, 2);
        assert!(info.proxy_end_time.is_some());
    }
}
