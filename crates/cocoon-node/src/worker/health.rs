//! Engine health ("uplink" in the reference, runners.md §4.4): `GET /v1/models`
//! every 1–2 s; healthy iff it answers 200 within the deadline. Changes are
//! pushed to every proxy as `worker.enabledDisabled`.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::WorkerState;

/// Deadline of one health probe.
pub const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Probes the engine once and records the result.
pub async fn check_once(state: &WorkerState) {
    let healthy = state.engine.healthy(HEALTH_PROBE_TIMEOUT).await;
    state.set_engine_healthy(healthy).await;
}

/// Probes the engine forever, 1–2 s apart.
pub async fn run_health_loop(state: Arc<WorkerState>) {
    loop {
        let pause = rand::thread_rng().gen_range(1000..2000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        check_once(&state).await;
    }
}
