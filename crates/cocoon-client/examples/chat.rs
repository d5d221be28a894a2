//! A streamed, end-to-end encrypted (when the root lists a key manager key) chat completion
//! through the `cocoon-client` library, against a local `cocoon up` network.
//!
//! ```text
//! cocoon up --dir /tmp/run &          # fake engine, proxy, workers, devnet ledger
//! cargo run -p cocoon-client --example chat -- /tmp/run "Hello there"
//! ```
//!
//! The run directory holds what the library needs: `client.json` (the wallet), `root.json`
//! (the proxies and keys) and `devnet.json` (the ledger the requests are paid on).
//! `cocoon up` runs a simulated TEE, so the example opts into it by name; against a real
//! network leave `.simulated_fake_tee()` out and the proxy must pass the `tdx` policy.

use std::path::PathBuf;

use cocoon_client::{ChatRequest, Cocoon};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(prompt)) = (args.next().map(PathBuf::from), args.next()) else {
        eprintln!("usage: chat RUN_DIR PROMPT [MODEL]   (RUN_DIR: a `cocoon up --dir` directory)");
        std::process::exit(2);
    };
    let model = args.next().unwrap_or_else(|| "Qwen/Qwen3-8B".into());

    let cocoon = Cocoon::builder()
        .client_config_file(dir.join("client.json"))
        .root_file(dir.join("root.json"))
        .devnet_ledger(dir.join("devnet.json"))
        .simulated_fake_tee()
        .connect()
        .await?;
    let mut answer = cocoon.chat(ChatRequest::new(model).user(prompt)).await?;
    while let Some(chunk) = answer.next().await {
        print!("{}", chunk?.text());
    }
    println!();
    eprintln!(
        "tokens billed: {:?}; encrypted end to end: {}",
        answer.tokens_billed(),
        answer.is_encrypted()
    );
    Ok(())
}
