//! The embedded engine from the command line: the flags that choose and size it
//! ([`EngineFlags`], shared by `cocoon backend local` and `cocoon worker --engine local:FILE`)
//! and `cocoon backend local`, which serves it over HTTP on 127.0.0.1 by default.
//!
//! The engine (llama.cpp, crate `cocoon-engine`) is in the binary only when it is built with
//! the `local-engine` feature (it needs cmake, a C++ compiler and libclang to build); without
//! it these commands say how to get it.

use std::path::PathBuf;

#[cfg(feature = "local-engine")]
use anyhow::Context;

/// The embedded engine (this build has it).
#[cfg(feature = "local-engine")]
pub type LocalEngine = cocoon_engine::Engine;

/// The embedded engine: this build has none (no value of this type exists).
#[cfg(not(feature = "local-engine"))]
pub enum LocalEngine {}

/// What a build without the engine answers when one is asked for (a build with it only
/// tests the text).
#[cfg_attr(feature = "local-engine", allow(dead_code))]
pub const NOT_BUILT: &str = "this cocoon was built without the embedded engine: rebuild with \
     `cargo build --release --features local-engine` (needs cmake, a C++ compiler and libclang; \
     Debian: apt-get install cmake g++ libclang-dev); see docs/local-engine.md";

/// Fails when this build has no embedded engine.
pub fn ensure_built() -> anyhow::Result<()> {
    #[cfg(not(feature = "local-engine"))]
    anyhow::bail!(NOT_BUILT);
    #[cfg(feature = "local-engine")]
    Ok(())
}

/// The engine behind OpenAI's HTTP API, serving `served_name`.
pub fn router(engine: LocalEngine, served_name: String) -> axum::Router {
    #[cfg(feature = "local-engine")]
    return cocoon_engine::openai::router(engine, served_name);
    #[cfg(not(feature = "local-engine"))]
    {
        let _ = served_name;
        match engine {}
    }
}

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
    #[cfg(not(feature = "local-engine"))]
    pub fn load(&self, _model: &std::path::Path) -> anyhow::Result<LocalEngine> {
        anyhow::bail!(NOT_BUILT)
    }

    /// Loads `model` (seconds) and says what it holds.
    #[cfg(feature = "local-engine")]
    pub fn load(&self, model: &std::path::Path) -> anyhow::Result<LocalEngine> {
        anyhow::ensure!(self.queue_depth >= 1, "--queue-depth must be at least 1");
        anyhow::ensure!(
            self.default_max_tokens >= 1,
            "--default-max-tokens must be at least 1"
        );
        let engine = cocoon_engine::Engine::load(
            model,
            cocoon_engine::EngineOptions {
                queue_depth: self.queue_depth,
                max_context: self.max_context,
                default_max_tokens: self.default_max_tokens,
                threads: self.threads,
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
#[command(group(clap::ArgGroup::new("which_model").required(true).args(["model", "model_name"])))]
pub struct LocalEngineArgs {
    /// The GGUF model file.
    #[arg(long, value_name = "FILE.gguf")]
    pub model: Option<PathBuf>,
    /// A model on the Hugging Face hub, downloaded once into the model cache (resumable; see
    /// `--help` of `cocoon up`): OWNER/REPO (its only .gguf file) or OWNER/REPO:FILE.gguf.
    #[arg(long, value_name = "OWNER/REPO[:FILE.gguf]")]
    pub model_name: Option<String>,
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

/// The file of a hub model (`--model-name`), downloaded into the model cache when it is not
/// there yet (progress on stderr).
#[cfg(feature = "local-engine")]
pub fn model_from_hub(name: &str) -> anyhow::Result<PathBuf> {
    let model: cocoon_engine::hub::HubModel = name
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--model-name {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(cocoon_engine::hub::Hub::from_env().fetch(&model))
        .map_err(|e| anyhow::anyhow!("--model-name {model}: {e}"))
}

/// The file of a hub model (`--model-name`): this build has no engine to run it.
#[cfg(not(feature = "local-engine"))]
pub fn model_from_hub(_name: &str) -> anyhow::Result<PathBuf> {
    anyhow::bail!(NOT_BUILT)
}

pub fn run_backend(args: LocalEngineArgs) -> anyhow::Result<()> {
    crate::up::init_logging();
    crate::node_ports::raise_open_files_limit();
    let limits = args.limits.limits()?;
    let model = match (&args.model, &args.model_name) {
        (Some(file), _) => file.clone(),
        (None, Some(name)) => model_from_hub(name)?,
        (None, None) => anyhow::bail!("--model FILE.gguf or --model-name OWNER/REPO is required"),
    };
    let engine = args.engine.load(&model)?;
    let name = args
        .served_name
        .clone()
        .unwrap_or_else(|| default_served_name(&model));
    crate::up::block_on_until_signal(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        eprintln!("embedded engine serving model {name:?} on http://{addr}/v1");
        let router = router(engine, name);
        cocoon_node::http_server::serve(listener, router, limits, "local engine").await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_message_of_a_build_without_the_engine_says_how_to_build_it() {
        for needed in [
            "--features local-engine",
            "cmake",
            "libclang",
            "docs/local-engine.md",
        ] {
            assert!(super::NOT_BUILT.contains(needed), "{needed}");
        }
    }

    #[cfg(not(feature = "local-engine"))]
    #[test]
    fn a_build_without_the_engine_says_how_to_get_it() {
        let e = super::ensure_built().unwrap_err().to_string();
        assert!(e.contains("--features local-engine"), "{e}");
        let flags = super::EngineFlags {
            threads: None,
            queue_depth: 1,
            max_context: None,
            default_max_tokens: 1,
        };
        let e = flags.load(std::path::Path::new("m.gguf")).err().unwrap();
        assert!(e.to_string().contains("cmake"), "{e}");
    }
}
