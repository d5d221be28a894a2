//! `cocoon up`: a whole local COCOON network on loopback, as separate
//! processes — the fake engine (or `--backend URL`), a proxy, N workers and a
//! client — with the simulated ("fake") TEE and a generated fake-TON root
//! config, then a ready-to-paste `curl`. A node that exits is restarted with
//! backoff while the others keep running ([`supervise`]); Ctrl-C stops everything.
//!
//! Every node gets a stats port and an admin port on loopback, its admin token in
//! `<dir>/<node>.admin-token` (see [`admin`] and docs/security.md), and the HTTP limits of
//! `--http-*` (handed to the engine and every node).
//!
//! Payments run on a **devnet** ledger by default (`<dir>/devnet.json`, see
//! [`devnet`]): funded client and proxy wallets, every node started with
//! `--devnet-ledger`, and a line printed whenever money moves. `--no-payments`
//! runs without (the reference's fake-TON behaviour).
//!
//! Also home of the small runtime helpers the node subcommands share
//! (logging setup, running until a signal).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use procs::{free_port, http_get, http_post_json, Network};

/// `println!` that ignores a closed stdout (a caller that stopped reading must not kill the network).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod admin;
mod configs;
mod devnet;
mod engine;
mod key_manager;
pub(crate) mod model_change;
mod procs;
pub(crate) mod running;
mod supervise;

/// PoW difficulty of the local proxy: loopback only, so kept low for quick starts.
const LOCAL_POW_DIFFICULTY: &str = "12";

/// The model name served when none is given (the fake engine's).
const DEFAULT_MODEL: &str = "Qwen/Qwen3-8B";

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
cocoon up                          # fake engine, 1 proxy, 2 workers, client on :10000\n  \
cocoon up --workers 3 --model my-model\n  \
cocoon up --model-file SmolLM2-135M-Instruct.Q4_1.gguf   # real answers from the embedded engine (CPU)\n  \
cocoon up --backend http://127.0.0.1:8000 --model Qwen/Qwen3-8B   # an engine you run\n  \
cocoon up --once                   # start, send one request, print it and the money it moved, stop\n  \
cocoon up --no-payments            # no devnet ledger: no money moves")]
#[command(group(clap::ArgGroup::new("engine_model").args(["model_file", "model_name"])))]
pub struct UpArgs {
    /// Number of workers.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Model name served by the workers (and the engine). With --model-file, the default is
    /// the file's name without .gguf.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Run the embedded engine (real inference on the CPU) on this GGUF model file instead of
    /// the fake engine.
    #[arg(long, value_name = "FILE.gguf", conflicts_with = "backend")]
    pub model_file: Option<PathBuf>,
    /// Like --model-file, with a model from the Hugging Face hub: OWNER/REPO (its only .gguf
    /// file) or OWNER/REPO:FILE.gguf. Downloaded once into the model cache
    /// ($COCOON_MODEL_CACHE, default ~/.cache/cocoon/models; an interrupted download resumes
    /// at the next start; checked against the hub's SHA-256), then used from there.
    /// HF_ENDPOINT names a mirror, HF_TOKEN authenticates for gated models.
    #[arg(long, value_name = "OWNER/REPO[:FILE.gguf]", conflicts_with_all = ["backend", "model_file"])]
    pub model_name: Option<String>,
    /// With --model-file/--model-name: run the engine inside each worker process (`cocoon worker --engine
    /// local:FILE`, no HTTP hop) instead of as its own node.
    #[arg(long, requires = "engine_model")]
    pub engine_in_worker: bool,
    /// With --model-file/--model-name: CPU threads for inference (default: every core).
    #[arg(long, value_name = "N", requires = "engine_model")]
    pub threads: Option<usize>,
    /// Point the workers at this OpenAI-compatible engine instead of starting the fake one.
    #[arg(long, value_name = "URL")]
    pub backend: Option<String>,
    /// HTTP port of the client's OpenAI API (default 10000 if free, else any free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Directory for configs and logs (default: a fresh temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Exit (stopping everything) as soon as the network is ready. For tests.
    #[arg(long)]
    pub exit_after_ready: bool,
    /// Send one chat completion once ready, print the answer, and exit.
    #[arg(long)]
    pub once: bool,
    /// Fake engine: chunks per answer.
    #[arg(long, default_value_t = 20)]
    pub fake_chunks: u32,
    /// Fake engine: delay between chunks, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub fake_delay_ms: u64,
    /// Seconds to wait for each node to become ready.
    #[arg(long, default_value_t = 30)]
    pub ready_timeout: u64,
    /// Per-worker concurrency cap (`max_active_requests`).
    #[arg(long, default_value_t = 16)]
    pub max_active_requests: u32,
    /// Run without payments (no devnet ledger; the reference's fake-TON behaviour).
    #[arg(long)]
    pub no_payments: bool,
    /// With --once: seconds to wait for the request's charge and payout on the devnet.
    #[arg(long, default_value_t = 30)]
    pub settle_timeout: u64,
    /// Limits of every HTTP server of the network (engine and nodes).
    #[command(flatten)]
    pub http: crate::node_ports::HttpLimitArgs,
    /// Script every worker runs on a model change (`worker.changeModel`, sent by the proxy's
    /// admin `POST /request/change_worker_model`), with the new model as its argument.
    /// Default: a SIMULATED script per worker that sets the worker's model_name and restarts it.
    #[arg(long, value_name = "PATH")]
    pub change_model_script: Option<PathBuf>,
    /// Liveness of the workers' and the client's links to the proxy.
    #[command(flatten)]
    pub proxy_link: crate::node_args::ProxyLinkArgs,
}

pub fn run(mut args: UpArgs) -> anyhow::Result<()> {
    if let Some(name) = &args.model_name {
        args.model_file = Some(crate::local_engine::model_from_hub(name)?);
    }
    if let Some(file) = &args.model_file {
        crate::local_engine::ensure_built()?;
        anyhow::ensure!(
            file.is_file(),
            "--model-file {}: no such file",
            file.display()
        );
        if args.model == DEFAULT_MODEL {
            args.model = crate::local_engine::default_served_name(file);
        }
    }
    if args.workers == 0 {
        anyhow::bail!("--workers must be at least 1");
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "cocoon-up-{}-{}",
            std::process::id(),
            procs::unique_suffix()
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    args.http.limits()?;
    args.proxy_link.silence_limit()?;
    let limit_args = args.http.to_args();
    let link_args = args.proxy_link.to_args();
    let exe = std::env::current_exe().context("cannot find the cocoon executable")?;
    let timeout = Duration::from_secs(args.ready_timeout);
    let client_port = match args.port {
        Some(p) => p,
        None if procs::port_is_free(10000) => 10000,
        None => free_port()?,
    };
    let layout = configs::Layout::new(&args, client_port)?;
    layout.write(&dir)?;
    say!(
        "cocoon up: run directory {} (configs and logs)",
        dir.display()
    );
    say!("cocoon up: TEE mode \"fake\" (simulated attestation: for local development only)");
    let devnet = if args.no_payments {
        say!("cocoon up: --no-payments: no ledger, no money moves");
        None
    } else {
        let devnet = devnet::UpDevnet::create(&dir, &layout, layout.devnet_root_config()?)?;
        say!(
            "cocoon up: DEVNET ledger {} created; client wallet funded with {} nanoTON",
            devnet.path().display(),
            devnet::CLIENT_FUNDS
        );
        Some(Arc::new(devnet))
    };
    // `cocoon devnet status` without --ledger finds the ledger of this run.
    let _announced = match &devnet {
        Some(d) => Some(running::Announcement::new_in(
            &running::registry_dir(),
            d.path(),
        )?),
        None => None,
    };
    let ledger_args: Vec<String> = match &devnet {
        Some(d) => vec![
            "--devnet-ledger".into(),
            d.path().to_string_lossy().into_owned(),
        ],
        None => Vec::new(),
    };
    let with_admin = |admin: &admin::AdminPort, base: &[String]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(admin.args())
            .chain(limit_args.iter().cloned())
            .collect()
    };
    let with_ledger = |base: &[&str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(ledger_args.iter().cloned())
            .collect()
    };

    let mut net = Network::new(exe, dir.clone());
    let engine_url = engine::start(&mut net, &args, layout.engine_port, &limit_args, timeout)?;

    let root = dir.join("root.json");
    let root_s = root.to_string_lossy().to_string();

    // The key manager first: the proxy fetches its key at its first poll.
    procs::release_ports(&[
        layout.km_rpc_port,
        layout.km_http_port,
        layout.km_admin_port,
    ]);
    let km_admin = admin::AdminPort::new(&dir, "keymanager", layout.km_admin_port);
    let km_cfg = dir.join("keymanager.json").to_string_lossy().to_string();
    let mut km_args = with_admin(
        &km_admin,
        &with_ledger(&[
            "keymanager",
            "--config",
            &km_cfg,
            "--disable-ton",
            &root_s,
            "--tee",
            "fake",
            "--pow-difficulty",
            LOCAL_POW_DIFFICULTY,
        ]),
    );
    if devnet.is_some() {
        km_args.push("--no-test-key".into());
    }
    let pid = net.spawn("keymanager", &km_args)?;
    let km_http = format!("127.0.0.1:{}", layout.km_http_port);
    let mut km_key = None;
    net.wait_ready("keymanager", timeout, || {
        km_key = key_manager::wait_for_key(&km_http, devnet.as_deref(), Duration::ZERO).ok();
        km_key.is_some()
    })?;
    let km_key = km_key.context("the key manager's key")?;
    say!(
        "cocoon up: key manager up (rpc :{}, stats http://{km_http}/jsonstats, admin http://{}) [pid {pid}]; request-encryption key {} {}",
        layout.km_rpc_port,
        km_admin.addr(),
        km_key.to_hex(),
        if devnet.is_some() { "registered on the devnet root" } else { "(the reference's PUBLIC test key: --no-payments has no root to register a key of its own on)" }
    );
    let proxy_cfg = dir.join("proxy.json").to_string_lossy().to_string();
    procs::release_ports(&[
        layout.proxy_worker_port,
        layout.proxy_client_port,
        layout.proxy_http_port,
        layout.proxy_admin_port,
    ]);
    let mut admins = vec![admin::AdminPort::new(
        &dir,
        "proxy",
        layout.proxy_admin_port,
    )];
    admins.push(km_admin);
    let pid = net.spawn(
        "proxy",
        &with_admin(
            &admins[0],
            &with_ledger(&[
                "proxy",
                "--config",
                &proxy_cfg,
                "--disable-ton",
                &root_s,
                "--tee",
                "fake",
                "--worker-policy",
                "fake",
                "--client-policy",
                "any",
                "--pow-difficulty",
                LOCAL_POW_DIFFICULTY,
            ]),
        ),
    )?;
    let proxy_http = format!("127.0.0.1:{}", layout.proxy_http_port);
    net.wait_ready("proxy", timeout, || {
        http_get(&proxy_http, "/jsonstats").is_ok_and(|(s, _)| s == 200)
    })?;
    say!(
        "cocoon up: proxy up (workers :{}, clients :{}, stats http://{proxy_http}/jsonstats, admin http://{}) [pid {pid}]",
        layout.proxy_worker_port, layout.proxy_client_port, admins[0].addr()
    );
    key_manager::wait_proxy_knows(&proxy_http, &km_key, timeout)?;
    say!("cocoon up: the proxy holds the key manager's key (encrypted requests can be routed)");

    for (i, (port, admin_port)) in layout
        .worker_http_ports
        .iter()
        .zip(&layout.worker_admin_ports)
        .enumerate()
    {
        let name = format!("worker{}", i + 1);
        let cfg = dir
            .join(format!("{name}.json"))
            .to_string_lossy()
            .to_string();
        procs::release_ports(&[*port, *admin_port]);
        let admin = admin::AdminPort::new(&dir, &name, *admin_port);
        let pid = net.spawn(
            &name,
            &with_admin(
                &admin,
                &with_ledger(&[
                    "worker",
                    "--config",
                    &cfg,
                    "--disable-ton",
                    &root_s,
                    "--tee",
                    "fake",
                    "--proxy-policy",
                    "fake",
                    // Our own proxy speaks v4: the machine description goes along.
                    "--min-protocol",
                    "4",
                ]),
            )
            .into_iter()
            .chain(link_args.iter().cloned())
            .chain(engine::in_worker_args(&args))
            .collect::<Vec<_>>(),
        )?;
        let addr = format!("127.0.0.1:{port}");
        net.wait_ready(&name, timeout, || worker_handshaked(&addr))?;
        say!("cocoon up: {name} handshaked with the proxy (engine {engine_url}, stats http://{addr}/jsonstats, admin http://{}) [pid {pid}]", admin.addr());
        admins.push(admin);
    }

    let client_cfg = dir.join("client.json").to_string_lossy().to_string();
    procs::release_ports(&[
        client_port,
        layout.client_stats_port,
        layout.client_admin_port,
    ]);
    let client_admin = admin::AdminPort::new(&dir, "client", layout.client_admin_port);
    let client_stats = format!("127.0.0.1:{}", layout.client_stats_port);
    let mut client_args = with_admin(
        &client_admin,
        &with_ledger(&[
            "client",
            "--config",
            &client_cfg,
            "--disable-ton",
            &root_s,
            "--tee",
            "none",
            "--proxy-policy",
            "fake",
        ]),
    );
    client_args.extend(["--stats-listen".to_string(), client_stats.clone()]);
    client_args.extend(link_args.iter().cloned());
    let pid = net.spawn("client", &client_args)?;
    let client_addr = format!("127.0.0.1:{client_port}");
    let want_workers = args.workers;
    let model = args.model.clone();
    net.wait_ready("client", timeout, || {
        client_sees_workers(&client_addr, &model, want_workers)
    })?;
    let url = format!("http://{client_addr}");
    say!(
        "cocoon up: client ready — OpenAI-compatible API at {url}/v1 (stats http://{client_stats}/jsonstats, admin http://{}) [pid {pid}]",
        client_admin.addr()
    );
    admins.push(client_admin);
    say!("");
    say!("Try it:");
    say!(
        "  curl -sN {url}/v1/chat/completions -H 'Content-Type: application/json' \\\n    \
         -d '{{\"model\":\"{}\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'",
        args.model
    );
    say!("");

    for line in admin::usage(&admins) {
        say!("{line}");
    }
    say!("");

    if let Some(d) = &devnet {
        for line in d.summary()? {
            say!("{line}");
        }
        say!("");
    }

    if args.once {
        let before = devnet.as_ref().map(|d| d.snapshot()).transpose()?;
        // A bounded answer: a real model on a busy CPU answers a non-streamed request only at
        // the end.
        let body = serde_json::json!({
            "model": args.model,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Hello!"}],
        });
        let (status, text) =
            http_post_json(&client_addr, "/v1/chat/completions", &body.to_string())?;
        say!("cocoon up: one request → HTTP {status}\n{text}");
        if let Some(answer) = answer_text(&text) {
            say!("cocoon up: the answer: {answer}");
        }
        if status != 200 {
            net.stop_all();
            anyhow::bail!("the test request failed with HTTP {status}");
        }
        let settle_timeout = Duration::from_secs(args.settle_timeout);
        if let (Some(d), Some(before)) = (&devnet, &before) {
            let tokens = usage_tokens(&text);
            say!("cocoon up: the answer's usage: {tokens} tokens (adjusted, coefficient 1.0); waiting for the devnet charge and payout");
            if let Err(e) = d.show_settled(before, tokens, settle_timeout) {
                net.stop_all();
                return Err(e);
            }
        }
        let before = devnet.as_ref().map(|d| d.snapshot()).transpose()?;
        let encrypted =
            key_manager::show_encrypted_once(&client_addr, &args.model, &km_key, &dir)
                .and_then(|opened| match (&devnet, &before) {
                    (Some(d), Some(before)) => {
                        let tokens = usage_tokens(&opened.to_string());
                        say!("cocoon up: the encrypted answer's usage: {tokens} tokens (counts stay clear); waiting for the devnet charge and payout");
                        d.show_settled(before, tokens, settle_timeout)
                    }
                    _ => Ok(()),
                });
        net.stop_all();
        return encrypted;
    }
    if args.exit_after_ready {
        net.stop_all();
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = devnet.clone().map(|d| d.watch(stop.clone()));
    say!("Press Ctrl-C to stop.");
    let outcome = block_on_until_signal(async {
        net.watch().await;
        Ok(())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    net.stop_all();
    say!("cocoon up: stopped");
    outcome
}

/// The assistant's text in a chat completion.
fn answer_text(answer: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(answer).ok()?;
    v["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_string)
}

/// Adjusted tokens of an answer with coefficient 1.0 and multipliers 1.0: prompt +
/// completion tokens of its `usage` (cached ⊆ prompt, reasoning ⊆ completion).
fn usage_tokens(answer: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
    let usage = &v["usage"];
    usage["prompt_tokens"].as_u64().unwrap_or(0) + usage["completion_tokens"].as_u64().unwrap_or(0)
}

fn worker_handshaked(addr: &str) -> bool {
    let Ok((200, body)) = http_get(addr, "/jsonstats") else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
        return false;
    };
    v["proxies"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p["connected"] == true))
        && v["status"]["enabled"] == true
}

fn client_sees_workers(addr: &str, model: &str, want: usize) -> bool {
    let Ok((200, body)) = http_get(addr, "/v1/models") else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
        return false;
    };
    let base = model.split('@').next().unwrap_or(model);
    v["data"].as_array().is_some_and(|models| {
        models
            .iter()
            .any(|m| m["id"] == base && m["workers"].as_array().is_some_and(|w| w.len() >= want))
    })
}

/// Environment variable that picks the log format: `json` for one JSON object
/// per line, anything else (or unset) for human-readable text.
pub(crate) const LOG_FORMAT_ENV: &str = "COCOON_LOG_FORMAT";

/// Logs to stderr; `RUST_LOG` overrides the default `info` level and
/// `COCOON_LOG_FORMAT=json` switches to JSON lines (`timestamp`, `level`,
/// `fields` with the message and e.g. `request`, `target`, and the open
/// `span`/`spans`, such as the worker's `request` span).
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var(LOG_FORMAT_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// How long a stopping node waits for its blocking tasks (a ledger call, a DNS lookup) once
/// its async work is dropped; they are abandoned after it, so SIGINT/SIGTERM ends the
/// process within about this bound whatever its connections are doing.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Runs `fut` on a multi-threaded runtime until it ends or SIGINT/SIGTERM arrives
/// (then returns `Ok(())`). Either way the runtime is shut down at once: every task (open
/// connections, streams being served) is dropped, and blocking tasks get
/// [`SHUTDOWN_GRACE`]. SIGINT is handled even when it came ignored (a job started in the
/// background of a non-interactive shell).
pub(crate) fn block_on_until_signal<F>(fut: F) -> anyhow::Result<()>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = rt.block_on(async {
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            r = fut => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term => Ok(()),
        }
    });
    rt.shutdown_timeout(SHUTDOWN_GRACE);
    result
}
