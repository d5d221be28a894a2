//! The embedded engine from the command line: the flags that choose and size it
//! ([`EngineFlags`], shared by `cocoon backend local` and `cocoon worker --engine local:FILE`)
//! and `cocoon backend local`, which serves it over HTTP on 127.0.0.1 by default.

use std::path::PathBuf;

use anyhow::Context;
use cocoon_engine::{Engine, EngineOptions};

/// Flags that load and size the embedded engine.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineFlags {
    /// CPU threads for inference (default: every core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Requests that may wait while one runs; more are answered 503 (busy).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub queue_depth: usize,
    /// Cap on the context (prompt + answer) in tokens; bounds the key/value cache's memory
    /// (default: the model's, at most 4096).
    #[arg(long, value_name = "TOKENS")]
    pub max_context: Option<usize>,
    /// Answer length for requests that set no max_tokens.
    #[arg(long, default_value_t = 512, value_name = "TOKENS")]
    pub default_max_tokens: usize,
}

impl EngineFlags {
    /// Loads `model` (seconds) and says what it holds.
    pub fn load(&self, model: &std::path::Path) -> anyhow::Result<Engine> {
        anyhow::ensure!(self.queue_depth >= 1, "--queue-depth must be at least 1");
        anyhow::ensure!(
            self.default_max_tokens >= 1,
            "--default-max-tokens must be at least 1"
        );
        cocoon_engine::set_threads(self.threads);
        let engine = Engine::load(
            model,
            EngineOptions {
                queue_depth: self.queue_depth,
                max_context: self.max_context,
                default_max_tokens: self.default_max_tokens,
            },
        )
        .with_context(|| "cannot load the model for the embedded engine")?;
        let info = engine.info();
        eprintln!(
            "embedded engine: {} ({}, {} MB file), context {} tokens, key/value cache at most {} MB, \
             queue {} requests",
            info.name,
            info.path.display(),
            info.file_bytes / 1_000_000,
            info.context_length,
            engine.memory_bound_bytes() / 1_000_000,
            self.queue_depth
        );
        Ok(engine)
    }
}

/// `cocoon backend local`.
#[derive(clap::Args, Debug)]
pub struct LocalEngineArgs {
    /// The GGUF model file.
    #[arg(long, value_name = "FILE.gguf")]
    pub model: PathBuf,
    /// Model name in answers and /v1/models (default: the file name without .gguf).
    #[arg(long, value_name = "NAME")]
    pub served_name: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    #[command(flatten)]
    pub engine: EngineFlags,
    #[command(flatten)]
    pub limits: crate::node_ports::HttpLimitArgs,
}

/// The name a model file is served under by default: its file name without `.gguf`.
pub fn default_served_name(model: &std::path::Path) -> String {
    model
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".gguf").to_string())
        .unwrap_or_else(|| "local".into())
}

pub fn run_backend(args: LocalEngineArgs) -> anyhow::Result<()> {
    crate::up::init_logging();
    crate::node_ports::raise_open_files_limit();
    let limits = args.limits.limits()?;
    let engine = args.engine.load(&args.model)?;
    let name = args
        .served_name
        .clone()
        .unwrap_or_else(|| default_served_name(&args.model));
    crate::up::block_on_until_signal(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        eprintln!("embedded engine serving model {name:?} on http://{addr}/v1");
        let router = cocoon_engine::openai::router(engine, name);
        cocoon_node::http_server::serve(listener, router, limits, "local engine").await?;
        Ok(())
    })
}
