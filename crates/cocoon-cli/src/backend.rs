//! `cocoon backend`: inference backends. `cocoon backend local` serves a real model (a GGUF
//! file) with the embedded engine (cocoon-engine) on the CPU; `cocoon backend fake` serves a
//! FAKE OpenAI-compatible engine (no model; fixed, simulated answers shaped like the reference
//! benchmark server's), for local networks, tests and benchmarks.

use std::time::Duration;

use cocoon_node::fake_engine::{
    serve_fake_engine, FakeEngineOptions, FakeUsage, MAX_CHUNKS, MAX_CHUNK_BYTES, MAX_DELAY_MS,
};

#[derive(clap::Subcommand)]
pub enum BackendCommand {
    /// Serve a FAKE OpenAI-compatible inference engine: no model, no inference, only simulated
    /// answers of N chunks of M zero bytes with a fixed `usage` (the reference benchmark's
    /// fake server). Serves POST /v1/chat/completions and /v1/completions (JSON, or SSE with
    /// "stream": true), POST /v1/audio/transcriptions (multipart; a simulated text made from
    /// the uploaded file's name and size) and GET /v1/models.
    Fake(FakeArgs),
    /// Serve a REAL model with the embedded engine (CPU, no GPU needed): a GGUF file run by
    /// llama.cpp (in a build with --features local-engine), behind the same OpenAI-compatible API (GET /v1/models, POST
    /// /v1/chat/completions and /v1/completions, JSON or SSE with "stream": true, real
    /// `usage`, max_tokens, temperature, top_p, seed, stop). The chat template is the
    /// file's own. Requests run one at a time from a bounded queue; a full queue answers 503.
    ///
    /// Example: cocoon backend local --model SmolLM2-135M-Instruct.Q4_1.gguf --port 8000
    ///      or: cocoon backend local --model-name OWNER/REPO:FILE.gguf (Hugging Face hub)
    Local(crate::local_engine::LocalEngineArgs),
}

#[derive(clap::Args)]
pub struct FakeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Content chunks per answer.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=MAX_CHUNKS as u64))]
    chunks: u64,
    /// Bytes per chunk.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(0..=MAX_CHUNK_BYTES as u64))]
    chunk_bytes: u64,
    /// Delay after each chunk, milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_DELAY_MS))]
    delay_ms: u64,
    /// Model name reported in answers and /v1/models.
    #[arg(long, default_value = "Qwen/Qwen3-8B")]
    model: String,
    /// Reported usage.prompt_tokens (including cached).
    #[arg(long, default_value_t = 34)]
    prompt_tokens: u64,
    /// Reported usage.prompt_tokens_details.cached_tokens.
    #[arg(long, default_value_t = 11)]
    cached_tokens: u64,
    /// Reported usage.completion_tokens (including reasoning).
    #[arg(long, default_value_t = 100)]
    completion_tokens: u64,
    /// Reported usage.completion_tokens_details.reasoning_tokens.
    #[arg(long, default_value_t = 10)]
    reasoning_tokens: u64,
    /// Answer every endpoint with the reference benchmark server's NDJSON lines (what the
    /// reference worker's token counter understands), ignoring "stream".
    #[arg(long)]
    reference_ndjson: bool,
    #[command(flatten)]
    limits: crate::node_ports::HttpLimitArgs,
}

pub fn run(cmd: BackendCommand) -> anyhow::Result<()> {
    match cmd {
        BackendCommand::Fake(args) => run_fake(args),
        BackendCommand::Local(args) => crate::local_engine::run_backend(args),
    }
}

fn run_fake(args: FakeArgs) -> anyhow::Result<()> {
    let opts = FakeEngineOptions {
        chunks: usize::try_from(args.chunks)?,
        chunk_bytes: usize::try_from(args.chunk_bytes)?,
        delay: Duration::from_millis(args.delay_ms),
        model: args.model,
        usage: FakeUsage {
            prompt_tokens: args.prompt_tokens,
            cached_tokens: args.cached_tokens,
            completion_tokens: args.completion_tokens,
            reasoning_tokens: args.reasoning_tokens,
        },
        reference_ndjson: args.reference_ndjson,
        http_limits: args.limits.limits()?,
    };
    crate::up::init_logging();
    crate::node_ports::raise_open_files_limit();
    crate::memory_trim::start();
    // Stops on SIGINT/SIGTERM at once, streams in progress or not.
    crate::up::block_on_until_signal(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "FAKE inference engine (simulated answers, no model) on http://{addr}: model {:?}, \
             {} chunks x {} bytes, {} ms delay{}",
            opts.model,
            opts.chunks,
            opts.chunk_bytes,
            args.delay_ms,
            if opts.reference_ndjson {
                ", reference NDJSON mode"
            } else {
                ""
            }
        );
        serve_fake_engine(listener, opts).await?;
        Ok(())
    })
}
