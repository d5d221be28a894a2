//! A tiny stats HTTP service shared by every role: `/stats` (readable HTML),
//! `/jsonstats` (JSON; the reference's keys where they apply, runners.md §9)
//! and `/metrics` (Prometheus text format).
//!
//! A role implements [`StatsSource`] and serves [`stats_router`] on its stats
//! port (see [`super::ports`]). [`StatsRegistry`]
//! is an optional helper holding named counters and gauges.
//!
//! Differences from the reference: counters are plain totals (the reference
//! prints decayed `[total, 1s, 10s, 1m, 10m, 1h, 1d]` arrays), JSON strings are
//! properly escaped, and `/metrics` is new.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

/// What a role shows on its stats endpoints.
pub trait StatsSource: Send + Sync + 'static {
    /// Page title, e.g. "cocoon proxy".
    fn title(&self) -> String;
    /// The `/jsonstats` document (`/stats` renders the same data as HTML).
    fn json_stats(&self) -> Value;
    /// The `/metrics` samples.
    fn metrics(&self) -> Vec<Metric>;
}

/// Prometheus metric kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// One Prometheus sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub help: String,
    pub kind: MetricKind,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Metric {
    pub fn counter(name: impl Into<String>, help: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            help: help.into(),
            kind: MetricKind::Counter,
            labels: Vec::new(),
            value,
        }
    }

    pub fn gauge(name: impl Into<String>, help: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            help: help.into(),
            kind: MetricKind::Gauge,
            labels: Vec::new(),
            value,
        }
    }

    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }
}

/// Named counters and gauges, for roles that want them ready-made.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    counters: Mutex<BTreeMap<String, (String, Arc<AtomicU64>)>>,
    gauges: Mutex<BTreeMap<String, (String, Arc<AtomicI64>)>>,
}

impl StatsRegistry {
    pub fn new() -> Self {
        StatsRegistry::default()
    }

    /// The counter called `name` (created on first use).
    pub fn counter(&self, name: &str, help: &str) -> Arc<AtomicU64> {
        let mut map = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_owned())
            .or_insert_with(|| (help.to_owned(), Arc::default()))
            .1
            .clone()
    }

    /// The gauge called `name` (created on first use).
    pub fn gauge(&self, name: &str, help: &str) -> Arc<AtomicI64> {
        let mut map = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_owned())
            .or_insert_with(|| (help.to_owned(), Arc::default()))
            .1
            .clone()
    }

    /// Every counter and gauge as `{name: value}`.
    pub fn json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, (_, c)) in self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.insert(name.clone(), Value::from(c.load(Ordering::Relaxed)));
        }
        for (name, (_, g)) in self.gauges.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.insert(name.clone(), Value::from(g.load(Ordering::Relaxed)));
        }
        Value::Object(out)
    }

    /// Every counter and gauge as metrics named `prefix_name`.
    pub fn metrics(&self, prefix: &str) -> Vec<Metric> {
        let mut out = Vec::new();
        for (name, (help, c)) in self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push(Metric::counter(
                format!("{prefix}_{name}"),
                help.clone(),
                c.load(Ordering::Relaxed) as f64,
            ));
        }
        for (name, (help, g)) in self.gauges.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push(Metric::gauge(
                format!("{prefix}_{name}"),
                help.clone(),
                g.load(Ordering::Relaxed) as f64,
            ));
        }
        out
    }
}

#[derive(Clone)]
struct StatsState {
    source: Arc<dyn StatsSource>,
    access_hash: Option<Arc<str>>,
}

impl StatsState {
    /// The reference's `?access_hash=` protection (403 as at April 2026).
    fn allowed(&self, query: &BTreeMap<String, String>) -> bool {
        match &self.access_hash {
            None => true,
            Some(h) => query
                .get("access_hash")
                .is_some_and(|given| given.as_str() == &**h),
        }
    }
}

/// The three endpoints as an axum router; with `access_hash`, each needs
/// `?access_hash=<it>` (the config's `http_access_hash`; empty = open).
pub fn stats_router(source: Arc<dyn StatsSource>, access_hash: Option<String>) -> Router {
    let access_hash = access_hash.filter(|h| !h.is_empty()).map(Arc::from);
    Router::new()
        .route("/stats", get(html_handler))
        .route("/jsonstats", get(json_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(StatsState {
            source,
            access_hash,
        })
}

type QueryMap = Query<BTreeMap<String, String>>;

async fn json_handler(State(st): State<StatsState>, Query(q): QueryMap) -> Response {
    if !st.allowed(&q) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let body =
        serde_json::to_string_pretty(&st.source.json_stats()).unwrap_or_else(|_| "{}".into());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn html_handler(State(st): State<StatsState>, Query(q): QueryMap) -> Response {
    if !st.allowed(&q) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let body = render_html(&st.source.title(), &st.source.json_stats());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn metrics_handler(State(st): State<StatsState>, Query(q): QueryMap) -> Response {
    if !st.allowed(&q) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let body = render_prometheus(&st.source.metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders a JSON document as nested HTML tables.
pub fn render_html(title: &str, value: &Value) -> String {
    let mut out = String::new();
    let t = html_escape(title);
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}}</style>\
         </head><body><h1>{t}</h1>"
    );
    html_value(&mut out, value);
    out.push_str("</body></html>\n");
    out
}

fn html_value(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            out.push_str("<table>");
            for (k, v) in map {
                let _ = write!(out, "<tr><th>{}</th><td>", html_escape(k));
                html_value(out, v);
                out.push_str("</td></tr>");
            }
            out.push_str("</table>");
        }
        Value::Array(items) if items.is_empty() => out.push_str("<i>none</i>"),
        Value::Array(items) => {
            out.push_str("<table>");
            for (i, v) in items.iter().enumerate() {
                let _ = write!(out, "<tr><th>{i}</th><td>");
                html_value(out, v);
                out.push_str("</td></tr>");
            }
            out.push_str("</table>");
        }
        Value::String(s) => out.push_str(&html_escape(s)),
        other => out.push_str(&html_escape(&other.to_string())),
    }
}

fn metric_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders samples in the Prometheus text format (HELP/TYPE once per name).
pub fn render_prometheus(metrics: &[Metric]) -> String {
    let mut by_name: BTreeMap<String, Vec<&Metric>> = BTreeMap::new();
    for m in metrics {
        by_name.entry(metric_name(&m.name)).or_default().push(m);
    }
    let mut out = String::new();
    for (name, samples) in by_name {
        let Some(first) = samples.first() else {
            continue;
        };
        let kind = match first.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        };
        let help = first.help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for m in samples {
            out.push_str(&name);
            if !m.labels.is_empty() {
                let labels: Vec<String> = m
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{}=\"{}\"", metric_name(k), label_value(v)))
                    .collect();
                let _ = write!(out, "{{{}}}", labels.join(","));
            }
            let _ = writeln!(out, " {}", m.value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_groups_and_escapes() {
        let text = render_prometheus(&[
            Metric::counter("proxy_queries", "Requests", 3.0),
            Metric::gauge("proxy.running", "Running", 1.0).with_label("model", "a\"b"),
            Metric::gauge("proxy.running", "Running", 2.0).with_label("model", "c"),
        ]);
        assert!(
            text.contains("# TYPE proxy_queries counter\nproxy_queries 3\n"),
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE proxy_running gauge").count(),
            1,
            "{text}"
        );
        assert!(text.contains("proxy_running{model=\"a\\\"b\"} 1"), "{text}");
    }

    #[test]
    fn html_escapes_and_nests() {
        let html = render_html("t<1>", &serde_json::json!({"a": {"b": "<x>"}, "c": []}));
        assert!(html.contains("<title>t&lt;1&gt;</title>"));
        assert!(html.contains("&lt;x&gt;"));
        assert!(html.contains("<i>none</i>"));
    }

    #[test]
    fn registry_counts() {
        let r = StatsRegistry::new();
        r.counter("queries", "q").fetch_add(2, Ordering::Relaxed);
        r.counter("queries", "q").fetch_add(1, Ordering::Relaxed);
        r.gauge("running", "r").store(-1, Ordering::Relaxed);
        assert_eq!(r.json(), serde_json::json!({"queries": 3, "running": -1}));
        let m = r.metrics("x");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "x_queries");
        assert_eq!(m[0].value, 3.0);
    }
}
