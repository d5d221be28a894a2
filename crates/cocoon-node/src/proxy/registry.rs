//! The proxy's registry of ready worker connections, grouped by model base
//! name (the model string up to the first `@`), and worker selection.
//!
//! Selection (runners.md §7, changed on purpose): among connections that are
//! enabled, below their per-connection cap and at most `max_coefficient`, pick
//! the CHEAPEST coefficient; ties go to the fewest running requests, then the
//! lowest recent average latency (10-minute exponential decay), then the lowest
//! connection id. The reference ignores price and only weighs
//! `running × average time` (§13.10). Error texts follow §7 steps 1 and 3.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cocoon_net::Session;
use tokio::sync::mpsc;

use super::messages::WorkerEvent;
use crate::common::proto::code;

/// Window of the decayed latency average (the reference's "10m" counters).
const LATENCY_WINDOW: Duration = Duration::from_secs(600);

/// Locks a mutex, ignoring poisoning (state stays usable after a panic elsewhere).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The routing key of a model string: the part before the first `@`.
pub fn model_base_name(model: &str) -> &str {
    model.split('@').next().unwrap_or(model)
}

/// An exponentially decayed sum/count pair giving a recent average.
#[derive(Debug, Clone, Copy)]
pub struct DecayedAverage {
    sum: f64,
    count: f64,
    at: Option<Instant>,
}

impl Default for DecayedAverage {
    fn default() -> Self {
        DecayedAverage {
            sum: 0.0,
            count: 0.0,
            at: None,
        }
    }
}

impl DecayedAverage {
    fn decay_to(&mut self, now: Instant) {
        if let Some(at) = self.at {
            let dt = now.saturating_duration_since(at).as_secs_f64();
            let k = (-dt / LATENCY_WINDOW.as_secs_f64()).exp();
            self.sum *= k;
            self.count *= k;
        }
        self.at = Some(now);
    }

    /// Records one sample (seconds).
    pub fn record(&mut self, value: f64, now: Instant) {
        self.decay_to(now);
        self.sum += value;
        self.count += 1.0;
    }

    /// The decayed average, 0 when (almost) nothing was recorded recently.
    pub fn average(&self) -> f64 {
        if self.count <= 0.1 {
            0.0
        } else {
            self.sum / self.count
        }
    }

    /// The decayed sample count.
    pub fn count(&self) -> f64 {
        self.count
    }
}

/// Mutable state of one worker connection.
#[derive(Debug, Clone, Default)]
pub struct ConnState {
    pub coefficient: i64,
    pub disabled: bool,
    pub running: u32,
    pub latency: DecayedAverage,
    pub queries: u64,
    pub success: u64,
    pub failed: u64,
}

/// One ready worker connection.
#[derive(Debug)]
pub struct WorkerConn {
    pub id: u64,
    pub owner: String,
    /// Full model string as announced (e.g. `Qwen/Qwen3-8B@commit:verity`).
    pub model: String,
    pub image_hash: [u8; 32],
    pub version: i32,
    /// `ceil(max_active_requests / proxy_cnt)`.
    pub max_active: u32,
    /// What the worker says about its machine (`machine_description_json`; `{}` if none).
    pub machine_description: serde_json::Value,
    pub session: Session,
    state: Mutex<ConnState>,
    routes: Mutex<HashMap<[u8; 32], mpsc::Sender<WorkerEvent>>>,
    gone: AtomicBool,
}

impl WorkerConn {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        owner: String,
        model: String,
        image_hash: [u8; 32],
        version: i32,
        max_active: u32,
        coefficient: i64,
        disabled: bool,
        session: Session,
    ) -> Self {
        WorkerConn {
            id,
            owner,
            model,
            image_hash,
            version,
            max_active,
            machine_description: serde_json::Value::Object(Default::default()),
            session,
            state: Mutex::new(ConnState {
                coefficient,
                disabled,
                ..ConnState::default()
            }),
            routes: Mutex::new(HashMap::new()),
            gone: AtomicBool::new(false),
        }
    }

    pub fn base_model(&self) -> &str {
        model_base_name(&self.model)
    }

    pub fn state(&self) -> ConnState {
        lock(&self.state).clone()
    }

    pub fn set_disabled(&self, disabled: bool) {
        lock(&self.state).disabled = disabled;
    }

    pub fn set_coefficient(&self, coefficient: i64) {
        lock(&self.state).coefficient = coefficient;
    }

    /// Records the outcome of one request that ran on this connection.
    pub fn record_outcome(&self, success: bool, elapsed: Duration) {
        let mut st = lock(&self.state);
        st.queries += 1;
        if success {
            st.success += 1;
            st.latency.record(elapsed.as_secs_f64(), Instant::now());
        } else {
            st.failed += 1;
        }
    }

    /// Routes this connection's answers for `request_id` to `tx`.
    /// On a connection that is already gone the sender is dropped at once,
    /// so the request sees its channel end.
    pub fn add_route(&self, request_id: [u8; 32], tx: mpsc::Sender<WorkerEvent>) {
        let mut routes = lock(&self.routes);
        if !self.gone.load(Ordering::SeqCst) {
            routes.insert(request_id, tx);
        }
    }

    pub fn remove_route(&self, request_id: &[u8; 32]) {
        lock(&self.routes).remove(request_id);
    }

    /// Marks the connection as gone and drops every route, so each running
    /// request sees its channel end (after the messages already routed).
    pub fn close_routes(&self) {
        let mut routes = lock(&self.routes);
        self.gone.store(true, Ordering::SeqCst);
        routes.clear();
    }

    /// True once the connection's message loop has ended.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Number of requests currently routed to this connection.
    pub fn routed(&self) -> usize {
        lock(&self.routes).len()
    }

    /// The channel of a running request, if any.
    pub fn route(&self, request_id: &[u8; 32]) -> Option<mpsc::Sender<WorkerEvent>> {
        lock(&self.routes).get(request_id).cloned()
    }

    fn candidate(&self) -> Candidate {
        let st = lock(&self.state);
        Candidate {
            id: self.id,
            coefficient: st.coefficient,
            disabled: st.disabled,
            running: st.running,
            max_active: self.max_active,
            avg_latency: st.latency.average(),
            version: self.version,
        }
    }
}

/// A selection view of one connection (pure data, for [`select`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: u64,
    pub coefficient: i64,
    pub disabled: bool,
    pub running: u32,
    pub max_active: u32,
    pub avg_latency: f64,
    pub version: i32,
}

/// Why no worker could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("unknown model {0}")]
    UnknownModel(String),
    #[error("no workers for model {0}")]
    NoWorkers(String),
    #[error("can run this query with coefficient={0}")]
    CoefficientTooHigh(i64),
    #[error("no ready workers for model {0}")]
    NoReadyWorkers(String),
}

impl SelectError {
    /// The TON error code sent to the client.
    pub fn code(&self) -> i32 {
        match self {
            SelectError::UnknownModel(_) => code::PROTOVIOLATION,
            _ => code::NOT_READY,
        }
    }
}

/// Picks a connection among `candidates` (see the module doc). `min_version`
/// filters out older connections; `exclude` lists connections already tried.
/// Returns the id, or `Err(Some(c))` when only workers above `max_coefficient`
/// (cheapest `c`) had room, `Err(None)` when none had room.
pub fn select(
    candidates: &[Candidate],
    max_coefficient: i64,
    min_version: i32,
    exclude: &[u64],
) -> Result<u64, Option<i64>> {
    let mut best: Option<&Candidate> = None;
    let mut cheapest_too_expensive: Option<i64> = None;
    for c in candidates {
        if c.disabled
            || c.running >= c.max_active
            || c.version < min_version
            || exclude.contains(&c.id)
        {
            continue;
        }
        if c.coefficient > max_coefficient {
            cheapest_too_expensive =
                Some(cheapest_too_expensive.map_or(c.coefficient, |m| m.min(c.coefficient)));
            continue;
        }
        let better = match best {
            None => true,
            Some(b) => {
                (c.coefficient, c.running, c.avg_latency, c.id).partial_cmp(&(
                    b.coefficient,
                    b.running,
                    b.avg_latency,
                    b.id,
                )) == Some(std::cmp::Ordering::Less)
            }
        };
        if better {
            best = Some(c);
        }
    }
    best.map(|c| c.id).ok_or(cheapest_too_expensive)
}

/// A reserved slot on a worker connection: holds one unit of its `running`
/// count until dropped.
#[derive(Debug)]
pub struct Slot {
    pub conn: Arc<WorkerConn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = lock(&self.conn.state);
        st.running = st.running.saturating_sub(1);
    }
}

/// All ready worker connections by model base name.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    models: BTreeMap<String, BTreeMap<u64, Arc<WorkerConn>>>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// A fresh connection id (monotonic, never reused).
    pub fn next_conn_id(&self) -> u64 {
        let mut inner = lock(&self.inner);
        inner.next_id += 1;
        inner.next_id
    }

    /// Makes a connection selectable.
    pub fn insert(&self, conn: Arc<WorkerConn>) {
        let mut inner = lock(&self.inner);
        let key = conn.base_model().to_owned();
        inner.models.entry(key).or_default().insert(conn.id, conn);
    }

    /// Removes a connection (the model stays known, possibly with no workers).
    pub fn remove(&self, conn: &WorkerConn) {
        let mut inner = lock(&self.inner);
        if let Some(set) = inner.models.get_mut(conn.base_model()) {
            set.remove(&conn.id);
        }
    }

    /// Chooses a connection for `model` and reserves a slot on it.
    pub fn choose(
        &self,
        model: &str,
        max_coefficient: i64,
        min_version: i32,
        exclude: &[u64],
    ) -> Result<Slot, SelectError> {
        let inner = lock(&self.inner);
        let Some(set) = inner.models.get(model) else {
            return Err(SelectError::UnknownModel(model.to_owned()));
        };
        if set.is_empty() {
            return Err(SelectError::NoWorkers(model.to_owned()));
        }
        let candidates: Vec<Candidate> = set.values().map(|c| c.candidate()).collect();
        match select(&candidates, max_coefficient, min_version, exclude) {
            Ok(id) => {
                let conn = set
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| SelectError::NoReadyWorkers(model.to_owned()))?;
                lock(&conn.state).running += 1;
                Ok(Slot { conn })
            }
            Err(Some(c)) => Err(SelectError::CoefficientTooHigh(c)),
            Err(None) => Err(SelectError::NoReadyWorkers(model.to_owned())),
        }
    }

    /// Every model with its connections (in connection-id order).
    pub fn snapshot(&self) -> Vec<(String, Vec<Arc<WorkerConn>>)> {
        let inner = lock(&self.inner);
        inner
            .models
            .iter()
            .map(|(m, set)| (m.clone(), set.values().cloned().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: u64, coefficient: i64, running: u32) -> Candidate {
        Candidate {
            id,
            coefficient,
            disabled: false,
            running,
            max_active: 4,
            avg_latency: 0.0,
            version: 4,
        }
    }

    #[test]
    fn cheapest_wins_then_least_loaded_then_latency_then_id() {
        let c = [cand(1, 1000, 0), cand(2, 500, 3), cand(3, 500, 1)];
        assert_eq!(select(&c, 4000, 0, &[]), Ok(3));
        let mut d = [cand(1, 500, 1), cand(2, 500, 1)];
        assert_eq!(select(&d, 4000, 0, &[]), Ok(1));
        d[0].avg_latency = 2.0;
        d[1].avg_latency = 1.0;
        assert_eq!(select(&d, 4000, 0, &[]), Ok(2));
    }

    #[test]
    fn filters_disabled_full_old_and_excluded() {
        let mut c = [
            cand(1, 100, 0),
            cand(2, 200, 4),
            cand(3, 300, 0),
            cand(4, 400, 0),
            cand(5, 500, 0),
        ];
        c[0].disabled = true;
        c[2].version = 2;
        assert_eq!(select(&c, 4000, 3, &[4]), Ok(5));
        assert_eq!(select(&c, 4000, 0, &[4, 5]), Ok(3));
    }

    #[test]
    fn too_expensive_reports_the_cheapest_such_coefficient() {
        let c = [cand(1, 5000, 0), cand(2, 4500, 0), cand(3, 100, 4)];
        assert_eq!(select(&c, 4000, 0, &[]), Err(Some(4500)));
        assert_eq!(select(&[cand(1, 100, 4)], 4000, 0, &[]), Err(None));
    }

    #[test]
    fn decayed_average_forgets_old_samples() {
        let t0 = Instant::now();
        let mut a = DecayedAverage::default();
        assert_eq!(a.average(), 0.0);
        a.record(10.0, t0);
        a.record(20.0, t0);
        assert!((a.average() - 15.0).abs() < 1e-9);
        a.record(1.0, t0 + Duration::from_secs(6000));
        assert!(a.average() < 1.01, "old samples decayed: {}", a.average());
    }

    #[test]
    fn base_name_is_text_before_at() {
        assert_eq!(model_base_name("Qwen/Qwen3-8B@abc:def"), "Qwen/Qwen3-8B");
        assert_eq!(model_base_name("plain"), "plain");
        assert_eq!(model_base_name("@x"), "");
    }
}
