//! Debug answers of the client (runners.md §4.7): with `"enable_debug": true`
//! the client collects `{"proxy": …, "worker": …, "client": {"type":
//! "client_stats", …}}` from the final info and merges it into the end of the
//! answer; with a `request_guid` the record is also kept for
//! `GET /request/debuglogentry?request_guid=<guid>`.
//!
//! Where the record goes:
//! * a non-stream answer whose body is one JSON object gets a top-level
//!   `"debug"` key (the reference re-emits the last JSON value with that key);
//!   any other body gets a `{"debug": …}` line appended, as the reference does;
//! * an SSE stream (`"stream": true`) gets one extra event
//!   `data: {"choices":[],"debug":…}` just before `data: [DONE]` (or at the
//!   end when the stream has no `[DONE]`). The reference appends a bare JSON
//!   line after `[DONE]`, which is not valid SSE; our event is a normal data
//!   event with an empty `choices` list, the same shape as OpenAI's final
//!   usage chunk, so OpenAI SDKs read it without error.
//!
//! The log of records is a bounded LRU keyed by `sha256(request_guid)`
//! (the reference keeps only the last record).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use cocoon_wire::schema::types;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Records kept for `/request/debuglogentry` (the reference keeps 1).
pub const DEBUG_LOG_CAPACITY: usize = 256;

/// The client's own part of a debug record.
#[derive(Debug, Clone, Copy)]
pub struct ClientTimes {
    /// When the HTTP request arrived (unix seconds).
    pub start_time: f64,
    /// When the first answer arrived from the proxy.
    pub answer_receive_start_at: f64,
    /// When the final answer arrived.
    pub answer_receive_end_at: f64,
}

/// Parses a debug string from the network; anything that is not JSON is kept as a string.
fn network_json(s: Option<&str>) -> Value {
    match s {
        None => Value::Object(Map::new()),
        Some(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned())),
    }
}

/// The debug record `{"proxy", "worker", "client"}` of one request.
pub fn debug_record(info: Option<&types::client::QueryFinalInfo>, times: ClientTimes) -> Value {
    serde_json::json!({
        "proxy": network_json(info.and_then(|i| i.proxy_debug.as_deref())),
        "worker": network_json(info.and_then(|i| i.worker_debug.as_deref())),
        "client": {
            "type": "client_stats",
            "start_time": times.start_time,
            "answer_receive_start_at": times.answer_receive_start_at,
            "answer_receive_end_at": times.answer_receive_end_at,
        },
    })
}

/// A non-stream body with the record merged in (see the module doc).
pub fn merge_into_body(body: Vec<u8>, record: &Value) -> Vec<u8> {
    if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&body) {
        obj.insert("debug".into(), record.clone());
        if let Ok(out) = serde_json::to_vec(&Value::Object(obj)) {
            return out;
        }
    }
    let mut out = body;
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(
        serde_json::json!({ "debug": record })
            .to_string()
            .as_bytes(),
    );
    out.push(b'\n');
    out
}

/// The SSE event that carries the record.
pub fn sse_event(record: &Value) -> Vec<u8> {
    format!(
        "data: {}\n\n",
        serde_json::json!({"choices": [], "debug": record})
    )
    .into_bytes()
}

/// The last chunk of an SSE stream with the record's event placed before
/// `data: [DONE]` (or appended when the chunk has none).
pub fn merge_into_sse_tail(chunk: Vec<u8>, record: &Value) -> Vec<u8> {
    let event = sse_event(record);
    let done_at = find_done_event(&chunk);
    let mut out = Vec::with_capacity(chunk.len() + event.len());
    match done_at {
        Some(at) => {
            out.extend_from_slice(chunk.get(..at).unwrap_or_default());
            out.extend_from_slice(&event);
            out.extend_from_slice(chunk.get(at..).unwrap_or_default());
        }
        None => {
            out.extend_from_slice(&chunk);
            out.extend_from_slice(&event);
        }
    }
    out
}

/// Splits a stream part at its `data: [DONE]` event: what can be sent now,
/// and the `[DONE]` tail to hold back until the final part, so the debug
/// event can still go before it (the worker often sends `[DONE]` in a part of
/// its own before an empty final part).
pub fn split_at_done(chunk: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    match find_done_event(&chunk) {
        Some(at) => {
            let mut send = chunk;
            let held = send.split_off(at);
            (send, held)
        }
        None => (chunk, Vec::new()),
    }
}

/// Offset of a `data: [DONE]` line that starts a line.
fn find_done_event(chunk: &[u8]) -> Option<usize> {
    const DONE: &[u8] = b"data: [DONE]";
    chunk
        .windows(DONE.len())
        .enumerate()
        .rev()
        .filter(|(at, w)| *w == DONE && (*at == 0 || chunk.get(at - 1) == Some(&b'\n')))
        .map(|(at, _)| at)
        .next()
}

/// The first value of `name` in an `x-www-form-urlencoded` query string
/// (`+` is a space, `%XX` is decoded; a malformed escape is kept as is).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(key) == name).then(|| form_decode(value))
    })
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The key of a record: `sha256(request_guid)`.
pub fn guid_key(guid: &str) -> [u8; 32] {
    Sha256::digest(guid.as_bytes()).into()
}

/// Bounded LRU of debug records by `sha256(request_guid)`.
pub struct DebugLog {
    capacity: usize,
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    records: HashMap<[u8; 32], Value>,
    /// Keys from least to most recently used.
    order: VecDeque<[u8; 32]>,
}

impl LogInner {
    fn touch(&mut self, key: &[u8; 32]) {
        if let Some(pos) = self.order.iter().position(|k| k == key) {
            self.order.remove(pos);
        }
        self.order.push_back(*key);
    }
}

impl DebugLog {
    pub fn new(capacity: usize) -> Self {
        DebugLog {
            capacity: capacity.max(1),
            inner: Mutex::new(LogInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores the record of `guid`, dropping the least recently used one when full.
    pub fn insert(&self, guid: &str, record: Value) {
        let key = guid_key(guid);
        let mut inner = self.lock();
        inner.records.insert(key, record);
        inner.touch(&key);
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.records.remove(&old);
            }
        }
    }

    /// The record of `guid`, if still kept.
    pub fn get(&self, guid: &str) -> Option<Value> {
        let key = guid_key(guid);
        let mut inner = self.lock();
        let found = inner.records.get(&key).cloned();
        if found.is_some() {
            inner.touch(&key);
        }
        found
    }

    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Value {
        serde_json::json!({"proxy": {}, "worker": {}, "client": {"type": "client_stats"}})
    }

    #[test]
    fn record_parses_network_json_and_keeps_other_strings() {
        let info = types::client::QueryFinalInfo {
            flags: 3,
            tokens_used: crate::common::proto::zero_tokens(),
            worker_debug: Some(r#"{"type":"worker_stats","start_time":1.5}"#.into()),
            proxy_debug: Some("not json".into()),
            proxy_start_time: None,
            proxy_end_time: None,
            worker_start_time: None,
            worker_end_time: None,
        };
        let times = ClientTimes {
            start_time: 1.0,
            answer_receive_start_at: 2.0,
            answer_receive_end_at: 3.0,
        };
        let v = debug_record(Some(&info), times);
        assert_eq!(v["worker"]["type"], "worker_stats");
        assert_eq!(v["worker"]["start_time"], 1.5);
        assert_eq!(v["proxy"], "not json");
        assert_eq!(v["client"]["type"], "client_stats");
        assert_eq!(v["client"]["answer_receive_end_at"], 3.0);
        let none = debug_record(None, times);
        assert_eq!(none["proxy"], serde_json::json!({}));
    }

    #[test]
    fn json_body_gets_a_debug_key() {
        let out = merge_into_body(br#"{"id":"x","choices":[]}"#.to_vec(), &record());
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["id"], "x");
        assert_eq!(v["debug"]["client"]["type"], "client_stats");
    }

    #[test]
    fn other_body_gets_a_debug_line() {
        let out = merge_into_body(b"plain text".to_vec(), &record());
        let text = String::from_utf8_lossy(&out);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("plain text"));
        let v: Value = serde_json::from_str(lines.next().unwrap_or("")).unwrap_or_default();
        assert_eq!(v["debug"]["client"]["type"], "client_stats");
    }

    #[test]
    fn sse_event_goes_before_done() {
        let tail = b"data: {\"choices\":[],\"usage\":{}}\n\ndata: [DONE]\n\n".to_vec();
        let out = String::from_utf8(merge_into_sse_tail(tail, &record())).unwrap_or_default();
        let events: Vec<&str> = out.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3, "{out}");
        assert_eq!(events.last().copied(), Some("data: [DONE]"));
        let debug: Value =
            serde_json::from_str(events[1].trim_start_matches("data: ")).unwrap_or_default();
        assert_eq!(debug["choices"], serde_json::json!([]));
        assert_eq!(debug["debug"]["client"]["type"], "client_stats");

        let out = merge_into_sse_tail(Vec::new(), &record());
        assert_eq!(out, sse_event(&record()));
    }

    #[test]
    fn done_is_held_back() {
        let (send, held) = split_at_done(b"data: {}\n\ndata: [DONE]\n\n".to_vec());
        assert_eq!(send, b"data: {}\n\n");
        assert_eq!(held, b"data: [DONE]\n\n");
        let (send, held) = split_at_done(b"data: {\"x\":\"data: [DONE]\"}\n\n".to_vec());
        assert_eq!(held, b"");
        assert!(!send.is_empty());
    }

    #[test]
    fn query_param_decodes_form_encoding() {
        assert_eq!(
            query_param("a=1&request_guid=x%2Fy+z&request_guid=2", "request_guid").as_deref(),
            Some("x/y z")
        );
        assert_eq!(
            query_param("request_guid=%zz%4", "request_guid").as_deref(),
            Some("%zz%4")
        );
        assert_eq!(
            query_param("request_guid=%+1", "request_guid").as_deref(),
            Some("% 1")
        );
        assert_eq!(query_param("other=1", "request_guid"), None);
        assert_eq!(
            query_param("request_guid", "request_guid").as_deref(),
            Some("")
        );
    }

    #[test]
    fn log_is_bounded_and_keeps_recently_used() {
        let log = DebugLog::new(2);
        log.insert("a", serde_json::json!(1));
        log.insert("b", serde_json::json!(2));
        assert_eq!(log.get("a"), Some(serde_json::json!(1)));
        log.insert("c", serde_json::json!(3));
        assert_eq!(log.len(), 2);
        assert_eq!(log.get("b"), None, "least recently used is dropped");
        assert_eq!(log.get("a"), Some(serde_json::json!(1)));
        assert_eq!(log.get("c"), Some(serde_json::json!(3)));
        log.insert("c", serde_json::json!(4));
        assert_eq!(log.get("c"), Some(serde_json::json!(4)));
        assert_eq!(log.len(), 2);
    }
}
