//! `cocoon-scale`: the scale benchmark of bench/README.md (`scale-1k`).
//!
//! Starts one real `cocoon proxy` process (simulated "fake" TEE, fake TON, low
//! proof-of-work difficulty), then, inside this one process, N SIMULATED
//! workers and C SIMULATED clients that speak the real protocol to it
//! ([`sim_worker`], [`sim_client`]). The workers answer from an in-process
//! simulated slow engine; each client connection keeps S streams open for the
//! load window. Prints and writes (JSON) the proxy's peak RSS (VmHWM), its CPU
//! time, streams/s, errors and the workers' handshake times.

mod proxy_proc;
mod sim_client;
mod sim_worker;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use cocoon_node::common::dial::{DialConfig, TeeMode};
use futures::FutureExt;
use serde_json::json;
use tokio::sync::Semaphore;

use proxy_proc::{ProxyOptions, ProxyProcess};
use sim_worker::{EngineShape, WorkerSpec};
use stats::Summary;

const MODEL: &str = "scale/simulated-model";

#[derive(Parser, Debug)]
#[command(
    about = "Scale benchmark: one real cocoon proxy, N simulated workers and C×S simulated streams in this process",
    after_help = "Example (the issue's shape):\n  cocoon-scale --cocoon target/release/cocoon --workers 1000 --clients 100 --streams-per-client 100"
)]
struct Args {
    /// The `cocoon` binary that runs the proxy (default: `cocoon` next to this binary).
    #[arg(long)]
    cocoon: Option<PathBuf>,
    /// Simulated workers connected to the proxy.
    #[arg(long, default_value_t = 1000)]
    workers: usize,
    /// Simulated client connections.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Concurrent streams each client connection keeps open.
    #[arg(long, default_value_t = 100)]
    streams_per_client: usize,
    /// Seconds during which finished streams are replaced by new ones.
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Simulated engine: content lines per answer.
    #[arg(long, default_value_t = 50)]
    lines: usize,
    /// Simulated engine: bytes of content per line.
    #[arg(long, default_value_t = 128)]
    line_bytes: usize,
    /// Simulated engine: milliseconds between lines.
    #[arg(long, default_value_t = 20)]
    line_delay_ms: u64,
    /// Proof-of-work difficulty the proxy asks of every connection.
    #[arg(long, default_value_t = 8)]
    pow_difficulty: u32,
    /// How many workers handshake at the same time.
    #[arg(long, default_value_t = 64)]
    handshake_concurrency: usize,
    /// Seconds open streams may take to finish after the window before they count as lost.
    #[arg(long, default_value_t = 60)]
    drain_s: u64,
    /// Log level of the proxy (RUST_LOG).
    #[arg(long, default_value = "warn")]
    proxy_log: String,
    /// Directory for the proxy's configs and log (default: a fresh temporary one, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (fd_soft, fd_hard) = proxy_proc::raise_fd_limit();
    // Each worker and client connection is one descriptor here and one in the proxy.
    let fds_needed = (args.workers + args.clients) as u64 + 64;
    let fd_note = if fd_soft < fds_needed {
        format!("TOO LOW: need about {fds_needed}")
    } else {
        "enough".to_string()
    };
    eprintln!("cocoon-scale: open-file limit {fd_soft} (hard {fd_hard}): {fd_note}");

    let cocoon = match &args.cocoon {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory for this binary")?
            .join("cocoon"),
    };
    let (_tmp, dir) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (None, d.clone())
        }
        None => {
            let d = std::env::temp_dir().join(format!("cocoon-scale-{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            (Some(RemoveOnDrop(d.clone())), d)
        }
    };
    let mut proxy = ProxyProcess::start(&ProxyOptions {
        cocoon: &cocoon,
        dir: &dir,
        model: MODEL,
        pow_difficulty: args.pow_difficulty,
        rust_log: &args.proxy_log,
    })?;
    let pid = proxy.pid();
    let idle = proxy_proc::memory_kib(pid).unwrap_or((0, 0));
    eprintln!(
        "cocoon-scale: proxy up [pid {pid}], idle RSS {} KiB",
        idle.0
    );

    // ---- workers ----
    let dial = DialConfig::new(TeeMode::Fake, "fake", None).context("dial config")?;
    let shape = EngineShape {
        lines: args.lines,
        line_bytes: args.line_bytes,
        delay: Duration::from_millis(args.line_delay_ms),
    };
    let total_streams = args.clients * args.streams_per_client;
    let per_worker = total_streams.div_ceil(args.workers.max(1));
    let max_active = (per_worker * 4 + 16).min(i32::MAX as usize) as i32;
    let gate = Arc::new(Semaphore::new(args.handshake_concurrency.max(1)));
    let t_workers = Instant::now();
    let mut handshakes = tokio::task::JoinSet::new();
    for _ in 0..args.workers {
        let (gate, dial) = (gate.clone(), dial.clone());
        let addr = proxy.workers_addr;
        handshakes.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let spec = WorkerSpec {
                owner_address: proxy_proc::ton_address(),
                model: MODEL.to_string(),
                max_active_requests: max_active,
            };
            let t = Instant::now();
            let result = sim_worker::connect(addr, &dial, &spec).await;
            (result, t.elapsed())
        });
    }
    let mut worker_tasks = tokio::task::JoinSet::new();
    let mut handshake_ms = Vec::new();
    let mut worker_failures: Vec<String> = Vec::new();
    while let Some(joined) = handshakes.join_next().await {
        match joined {
            Ok((Ok((session, inbound)), took)) => {
                handshake_ms.push(took.as_secs_f64() * 1000.0);
                worker_tasks.spawn(sim_worker::serve(session, inbound, shape));
            }
            Ok((Err(e), _)) => worker_failures.push(e.to_string()),
            Err(e) => worker_failures.push(format!("task: {e}")),
        }
    }
    let workers_wall = t_workers.elapsed();
    let connected = handshake_ms.len();
    let hs = Summary::of(&mut handshake_ms);
    eprintln!(
        "cocoon-scale: {connected}/{} workers connected in {:.2} s (handshake p50 {:.1} ms, p99 {:.1} ms){}",
        args.workers,
        workers_wall.as_secs_f64(),
        hs.p50,
        hs.p99,
        worker_failures
            .first()
            .map(|e| format!("; first failure: {e}"))
            .unwrap_or_default()
    );
    let with_workers = proxy_proc::memory_kib(pid).unwrap_or((0, 0));

    // ---- clients ----
    let mut client_sessions = Vec::new();
    let mut client_failures: Vec<String> = Vec::new();
    for _ in 0..args.clients {
        match sim_client::connect(
            proxy.clients_addr,
            &dial,
            &proxy_proc::ton_address(),
            proxy_proc::CONFIG_VERSION,
        )
        .await
        {
            Ok(c) => client_sessions.push(c),
            Err(e) => client_failures.push(e.to_string()),
        }
    }
    eprintln!(
        "cocoon-scale: {}/{} client connections; load: {} streams for {} s",
        client_sessions.len(),
        args.clients,
        client_sessions.len() * args.streams_per_client,
        args.duration_s
    );
    let cpu0 = proxy_proc::cpu_seconds(pid).unwrap_or(0.0);
    let t_load = Instant::now();
    let window_end = t_load + Duration::from_secs(args.duration_s);
    let load = sim_client::Load {
        model: MODEL.to_string(),
        streams: args.streams_per_client,
        config_version: proxy_proc::CONFIG_VERSION,
        window_end,
        drain: Duration::from_secs(args.drain_s),
    };
    let mut clients = tokio::task::JoinSet::new();
    for (session, inbound) in client_sessions {
        clients.spawn(sim_client::run(session, inbound, load.clone()));
    }
    // Sample the proxy's RSS every second while the load runs.
    let mut peak_rss = 0u64;
    let mut results = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut cpu_window = None;
    loop {
        tokio::select! {
            joined = clients.join_next() => match joined {
                Some(Ok(r)) => results.push(r),
                Some(Err(e)) => client_failures.push(format!("task: {e}")),
                None => break,
            },
            _ = tick.tick() => {
                if let Some((rss, _)) = proxy_proc::memory_kib(pid) {
                    peak_rss = peak_rss.max(rss);
                }
                if cpu_window.is_none() && Instant::now() >= window_end {
                    cpu_window = proxy_proc::cpu_seconds(pid);
                }
            }
        }
    }
    let load_wall = t_load.elapsed();
    // Worker connections that ended during the run (the rest are still serving).
    let mut worker_disconnects: std::collections::BTreeMap<String, u64> = Default::default();
    while let Some(Some(ended)) = worker_tasks.join_next().now_or_never() {
        let reason = ended.unwrap_or_else(|e| format!("task: {e}"));
        *worker_disconnects.entry(reason).or_default() += 1;
    }
    let cpu1 = proxy_proc::cpu_seconds(pid).unwrap_or(0.0);
    let end_mem = proxy_proc::memory_kib(pid).unwrap_or((0, 0));
    let proxy_alive = proxy.alive();
    let own = proxy_proc::memory_kib(std::process::id()).unwrap_or((0, 0));
    let own_cpu = proxy_proc::cpu_seconds(std::process::id());

    // ---- report ----
    let mut latencies = Vec::new();
    let mut first = Vec::new();
    let (mut completed, mut in_window, mut lost, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut errors: std::collections::BTreeMap<i32, u64> = Default::default();
    let mut messages: std::collections::BTreeMap<String, u64> = Default::default();
    for r in &mut results {
        completed += r.completed;
        in_window += r.completed_in_window;
        lost += r.lost;
        bytes += r.bytes;
        latencies.append(&mut r.latencies_ms);
        first.append(&mut r.first_answer_ms);
        for (code, n) in &r.errors_by_code {
            *errors.entry(*code).or_default() += n;
        }
        for (message, n) in &r.errors_by_message {
            *messages.entry(message.clone()).or_default() += n;
        }
        if let Some(f) = &r.failure {
            client_failures.push(f.clone());
        }
    }
    let error_total: u64 = errors.values().sum();
    let window_s = args.duration_s.max(1) as f64;
    let streams_per_s = in_window as f64 / window_s;
    let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    let result = json!({
        "shape": {"workers": args.workers, "clients": args.clients,
                  "streams_per_client": args.streams_per_client, "concurrent_streams": total_streams,
                  "duration_s": args.duration_s, "lines": args.lines, "line_bytes": args.line_bytes,
                  "line_delay_ms": args.line_delay_ms, "pow_difficulty": args.pow_difficulty},
        "fd_limit": {"soft": fd_soft, "hard": fd_hard, "needed_about": fds_needed},
        "workers": {"connected": connected, "failed": worker_failures.len(),
                    "first_failure": worker_failures.first(),
                    "all_connected_s": (workers_wall.as_secs_f64() * 1000.0).round() / 1000.0,
                    "disconnected_during_run": worker_disconnects,
                    "handshake": hs.to_json()},
        "streams": {"completed": completed, "completed_in_window": in_window,
                    "per_s": (streams_per_s * 10.0).round() / 10.0,
                    "errors": error_total, "errors_by_code": errors.iter().map(|(c, n)| (c.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                    "errors_by_message": messages,
                    "lost": lost, "answer_bytes": bytes,
                    "latency": Summary::of(&mut latencies).to_json(),
                    "first_answer": Summary::of(&mut first).to_json()},
        "client_failures": client_failures.len(), "first_client_failure": client_failures.first(),
        "proxy": {"pid": pid, "alive_at_end": proxy_alive,
                  "rss_idle_mib": mib(idle.0), "rss_with_workers_mib": mib(with_workers.0),
                  "rss_peak_sampled_mib": mib(peak_rss), "vmhwm_mib": mib(end_mem.1),
                  "cpu_s_window": cpu_window.map(|c| ((c - cpu0) * 100.0).round() / 100.0),
                  "cpu_s_total_load": ((cpu1 - cpu0) * 100.0).round() / 100.0,
                  "cpu_ms_per_stream": if completed > 0 { json!(((cpu1 - cpu0) * 1000.0 / completed as f64 * 1000.0).round() / 1000.0) } else { json!(null) },
                  "log": proxy.log_path.display().to_string()},
        "load_wall_s": (load_wall.as_secs_f64() * 100.0).round() / 100.0,
        "this_process": {"vmhwm_mib": mib(own.1), "cpu_s": own_cpu.map(|c| (c * 100.0).round() / 100.0)},
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    worker_tasks.abort_all();
    drop(proxy);
    Ok(())
}

/// Removes a scratch directory at exit.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
