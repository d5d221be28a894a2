//! `cocoon-client`: talk to COCOON from an app, without running the client runner as a
//! separate service.
//!
//! The library runs the client runner's own core in-process
//! ([`cocoon_node::client::ClientCore`]: proxy links with PoW + RA-TLS under an attestation
//! policy, the client handshake, failover, cancellation, and with a ledger the client
//! contracts' money loop), and adds what an app needs on top:
//!
//! * [`CocoonBuilder`]: root config (devnet file, or the app's TON root and ledger), the
//!   app's cocoon wallet, the attestation policy — `tdx` by default; opting out only by
//!   name ([`CocoonBuilder::insecure_skip_attestation_i_understand`],
//!   [`CocoonBuilder::simulated_fake_tee`]) — and connect / silence timeouts;
//! * end-to-end encryption ([`encryption`]): on by default when the root lists a live
//!   type-1 key manager key (the latest expiry), with a fresh caller key per request;
//! * [`Cocoon::chat`]: a [`ChatStream`] of OpenAI-shaped [`ChatChunk`]s, every answer line
//!   decrypted ([`answer`]); dropping it cancels the request at the proxy;
//!   [`Cocoon::chat_once`]: the whole [`ChatCompletion`];
//! * one error type, [`Error`].
//!
//! ```no_run
//! # async fn run() -> Result<(), cocoon_client::Error> {
//! use cocoon_client::{ChatRequest, Cocoon};
//! use futures::StreamExt;
//!
//! let cocoon = Cocoon::builder()
//!     .client_config_file("run/client.json")
//!     .root_file("run/root.json")
//!     .devnet_ledger("run/devnet.json")
//!     .simulated_fake_tee() // a local `cocoon up` network; omit for real TDX proxies
//!     .connect()
//!     .await?;
//! let mut answer = cocoon.chat(ChatRequest::new("Qwen/Qwen3-8B").user("Hello!")).await?;
//! while let Some(chunk) = answer.next().await {
//!     print!("{}", chunk?.text());
//! }
//! println!("\nbilled: {:?}", answer.tokens_billed());
//! # Ok(()) }
//! ```

pub mod answer;
mod builder;
pub mod encryption;
mod error;
pub mod openai;
mod stream;

pub use builder::{
    CocoonBuilder, DEFAULT_ANSWER_SILENCE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_LINK_SILENCE,
};
pub use encryption::Encryption;
pub use error::{Error, Result};
pub use openai::{
    ChatChunk, ChatCompletion, ChatMessage, ChatRequest, ChunkChoice, ChunkDelta, CompletionChoice,
    TokensBilled, Usage,
};
pub use stream::ChatStream;

use std::time::Duration;

use cocoon_node::client::request::{self, Started};
use cocoon_node::client::{ClientCore, ClientStatsSnapshot};
use cocoon_node::config::RegisteredPublicKey;
use cocoon_wire::schema::enums;

use answer::{decode_whole, AnswerDecoder};
use encryption::{pick_key, RequestKeys};

/// The OpenAI path of chat completions.
pub const CHAT_PATH: &str = "/v1/chat/completions";
/// Largest whole answer [`Cocoon::chat_once`] (or an error body) collects.
pub const MAX_COLLECTED_ANSWER: usize = 64 << 20;

/// A connected COCOON client. Dropping it closes its proxy links (and stops its money loop).
pub struct Cocoon {
    core: ClientCore,
    keys: Vec<RegisteredPublicKey>,
    encryption: Encryption,
    answer_silence: Duration,
}

/// A whole answer of [`Cocoon::chat_once`].
#[derive(Debug, Clone)]
pub struct ChatAnswer {
    pub completion: ChatCompletion,
    /// The tokens the network billed.
    pub tokens_billed: Option<TokensBilled>,
    /// Whether the request and its answer were encrypted end to end.
    pub encrypted: bool,
}

impl Cocoon {
    /// Starts building a client.
    pub fn builder() -> CocoonBuilder {
        CocoonBuilder::default()
    }

    pub(crate) fn new(
        core: ClientCore,
        keys: Vec<RegisteredPublicKey>,
        encryption: Encryption,
        answer_silence: Duration,
    ) -> Self {
        Cocoon {
            core,
            keys,
            encryption,
            answer_silence,
        }
    }

    /// Sends `request` streamed and returns its answer as a stream of chunks.
    pub async fn chat(&self, request: ChatRequest) -> Result<ChatStream> {
        let (started, keys) = self.send(&request, true).await?;
        let started = self.check_status(started, keys.clone()).await?;
        let Started {
            head,
            complete,
            final_info,
            answers,
        } = started;
        Ok(ChatStream::new(
            answers,
            head.payload,
            final_info,
            complete,
            AnswerDecoder::new(keys),
            self.answer_silence,
        ))
    }

    /// Sends `request` unstreamed and returns the whole completion.
    pub async fn chat_once(&self, request: ChatRequest) -> Result<ChatAnswer> {
        let (started, keys) = self.send(&request, false).await?;
        let started = self.check_status(started, keys.clone()).await?;
        let encrypted = keys.is_some();
        let (body, info) = self.collect(started).await?;
        let object = decode_whole(&body, keys)?;
        let completion = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| Error::Decode(format!("not a chat completion: {e}")))?;
        Ok(ChatAnswer {
            completion,
            tokens_billed: info.map(|i| TokensBilled::from_wire(&i.tokens_used)),
            encrypted,
        })
    }

    /// The key manager key a request sent now is encrypted to (`None`: sent in clear).
    pub fn encryption_key(&self) -> Result<Option<cocoon_e2e::PublicKey>> {
        if self.encryption == Encryption::Off {
            return Ok(None);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match (pick_key(&self.keys, now), self.encryption) {
            (None, Encryption::Required) => Err(Error::NoEncryptionKey),
            (key, _) => Ok(key),
        }
    }

    /// The client core's counters and proxy links (as the runner's stats page).
    pub fn stats(&self) -> ClientStatsSnapshot {
        self.core.state.snapshot()
    }

    /// Prepares (the client runner's checks and COCOON fields), encrypts and sends.
    async fn send(
        &self,
        chat: &ChatRequest,
        stream: bool,
    ) -> Result<(Started, Option<RequestKeys>)> {
        let mut value =
            serde_json::to_value(chat).map_err(|e| Error::Config(format!("request: {e}")))?;
        value["stream"] = stream.into();
        let body = serde_json::to_vec(&value).map_err(|e| Error::Config(e.to_string()))?;
        let headers = vec![
            ("host".to_owned(), "localhost".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        let mut prepared = request::prepare(CHAT_PATH, headers, &body)?;
        let keys = self.encryption_key()?.map(RequestKeys::fresh);
        if let Some(keys) = &keys {
            prepared.body = keys.seal(&prepared.body)?;
            prepared.encrypted_with = Some(keys.key_manager.0);
        }
        let started = request::start(&self.core.state, &prepared).await?;
        tracing::debug!(request = %started.answers.request_label(), encrypted = keys.is_some(),
            stream, "request started");
        Ok((started, keys))
    }

    /// A non-success engine status becomes [`Error::Http`] with the (opened) body.
    async fn check_status(&self, started: Started, keys: Option<RequestKeys>) -> Result<Started> {
        let status = started.head.status_code;
        if (200..300).contains(&status) {
            return Ok(started);
        }
        let (body, _) = self.collect(started).await?;
        let text = match decode_whole(&body, keys) {
            Ok(object) => serde_json::Value::Object(object).to_string(),
            Err(_) => String::from_utf8_lossy(&body).into_owned(),
        };
        Err(Error::Http {
            status: u16::try_from(status).unwrap_or(0),
            body: text,
        })
    }

    /// Collects the rest of an answer (bounded), with its final info.
    async fn collect(
        &self,
        started: Started,
    ) -> Result<(
        Vec<u8>,
        Option<cocoon_wire::schema::types::client::QueryFinalInfo>,
    )> {
        let mut body = started.head.payload;
        if started.complete {
            return Ok((body, started.final_info));
        }
        let mut answers = started.answers;
        loop {
            let next = tokio::time::timeout(self.answer_silence, answers.next())
                .await
                .map_err(|_| Error::Silent(self.answer_silence))??;
            match next {
                enums::client::QueryAnswerEx::QueryAnswerPartEx(p) => {
                    body.extend_from_slice(&p.answer);
                    if body.len() > MAX_COLLECTED_ANSWER {
                        return Err(Error::Decode(format!(
                            "answer larger than {MAX_COLLECTED_ANSWER} bytes; use chat (streamed)"
                        )));
                    }
                    if p.flags & 1 != 0 {
                        return Ok((body, p.final_info));
                    }
                }
                enums::client::QueryAnswerEx::QueryAnswerErrorEx(e) => {
                    return Err(cocoon_node::client::error::ApiError::from_wire(
                        e.error_code,
                        &e.error,
                    )
                    .into())
                }
                enums::client::QueryAnswerEx::QueryAnswerEx(_) => {
                    return Err(Error::Decode("answer head received twice".into()))
                }
            }
        }
    }
}
