//! The `cocoon` command: one binary for every COCOON role and tool.
//!
//! Each subcommand lives in its own module and exposes an `Args` type (clap)
//! and a `run` function.

mod backend;
mod chat;
mod client;
mod devnet;
mod encrypt_message;
mod gen_cert;
mod gen_cert_sev;
mod inspect;
mod inspect_sev;
mod keymanager;
mod local_engine;
mod memory_trim;
mod node_args;
mod node_ports;
mod proxy;
mod tl;
mod ton_backend;
mod ton_node_ledger;
mod up;
mod wallet;
mod worker;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cocoon",
    version,
    about = "cocoon-rs: run COCOON nodes (client, proxy, worker, key manager), a local network, and protocol tools",
    long_about = "cocoon-rs is a Rust implementation of COCOON, the Confidential Compute Open Network: \
private AI inference between clients, proxies and GPU workers running in TEEs, paid in TON.\n\n\
Run `cocoon <COMMAND> --help` for the details of each command.",
    after_help = "Logging (all node roles, to stderr): RUST_LOG sets the level/filter (default info); \
COCOON_LOG_FORMAT=json writes one JSON object per line. Request log lines carry the request id \
in the `request` field (the proxy also logs `worker_request`, the id the worker logs as `request`).\n\n\
Memory (node roles, glibc): COCOON_MALLOC_TRIM_INTERVAL sets how often, in seconds, freed memory \
is handed back to the system with malloc_trim (default 5; 0 turns it off)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a whole local network (fake engine, proxy, workers, client) and print how to use it.
    Up(up::UpArgs),
    /// Run a proxy: accepts clients and workers, routes requests, keeps the books.
    Proxy(proxy::ProxyArgs),
    /// Run a worker: dials proxies and serves their requests with an OpenAI-compatible engine.
    Worker(worker::WorkerArgs),
    /// Run a client: an OpenAI-compatible HTTP API on localhost that sends requests to proxies.
    Client(client::ClientArgs),
    /// Send one chat completion from the terminal (attested, end-to-end encrypted when the root lists a key).
    Chat(chat::ChatArgs),
    /// Encrypt (or with -d decrypt) JSON messages end to end, as the reference's encrypt-message tool.
    EncryptMessage(encrypt_message::EncryptMessageArgs),
    /// Run the key manager: rotates the request-encryption keys, registers them on the root,
    /// serves them to attested proxies and workers.
    Keymanager(keymanager::KeyManagerArgs),
    /// Inspect and build TL objects of the COCOON wire protocol (ids, decode, encode).
    #[command(subcommand)]
    Tl(tl::TlCommand),
    /// Write an RA-TLS certificate and key (`BASE_cert.pem`, `BASE_key.pem`), as the reference's gen-cert.
    GenCert(gen_cert::GenCertArgs),
    /// Decode a TEE quote or an RA-TLS certificate to JSON, and optionally verify it.
    #[command(subcommand)]
    Inspect(inspect::InspectCommand),
    /// Inference backends for development: `cocoon backend fake` serves a fake OpenAI-compatible engine.
    #[command(subcommand)]
    Backend(backend::BackendCommand),
    /// Devnet ledger (local simulation of the payment contracts): status, fund, advance-time.
    #[command(subcommand)]
    Devnet(devnet::DevnetCommand),
    /// The node's cocoon wallet on TON: address and what to fund, balance.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// SIMULATION helper of `cocoon up`: set a worker config's model_name (run by the
    /// simulated change-model script).
    #[command(hide = true)]
    UpSetWorkerModel(up::model_change::SetWorkerModelArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Client(args) => client::run(args),
        Command::Chat(args) => chat::run(args),
        Command::EncryptMessage(args) => encrypt_message::run(args),
        Command::Keymanager(args) => keymanager::run(args),
        Command::Tl(cmd) => tl::run(cmd),
        Command::GenCert(args) => gen_cert::run(args),
        Command::Inspect(cmd) => inspect::run(cmd),
        Command::Backend(cmd) => backend::run(cmd),
        Command::Devnet(cmd) => devnet::run(cmd),
        Command::Wallet(cmd) => wallet::run(cmd),
        Command::UpSetWorkerModel(args) => up::model_change::set_worker_model(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
