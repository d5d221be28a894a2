//! [`ChatStream`]: the answer of a streamed request as an async stream of
//! [`ChatChunk`]s, decrypted line by line. Dropping it before the end cancels the request at
//! the proxy (the client core's `cocoonrs.cancelRequest`, which the proxy passes to the
//! worker); so does a silence longer than the answer silence limit.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use cocoon_node::client::error::ApiError;
use cocoon_node::client::request::AnswerStream;
use cocoon_wire::schema::{enums, types};
use futures::Stream;
use serde_json::{Map, Value};

use crate::answer::AnswerDecoder;
use crate::error::{Error, Result};
use crate::openai::{ChatChunk, TokensBilled};

type Billed = Arc<Mutex<Option<TokensBilled>>>;

/// A streamed chat completion: `Stream<Item = Result<ChatChunk>>`. The stream ends after
/// the last chunk, or after the first error.
pub struct ChatStream {
    inner: Pin<Box<dyn Stream<Item = Result<ChatChunk>> + Send>>,
    billed: Billed,
    encrypted: bool,
    request: String,
}

impl ChatStream {
    pub(crate) fn new(
        answers: AnswerStream,
        first_bytes: Vec<u8>,
        first_final: Option<types::client::QueryFinalInfo>,
        complete: bool,
        decoder: AnswerDecoder,
        silence: Duration,
    ) -> Self {
        let billed = Billed::default();
        let encrypted = decoder.is_keyed();
        let request = answers.request_label();
        let mut reading = Reading {
            answers: Some(answers),
            decoder,
            ready: VecDeque::new(),
            silence,
            billed: billed.clone(),
        };
        let first = reading.take_part(&first_bytes, complete.then_some(first_final));
        let inner = futures::stream::unfold((reading, first), |(mut r, pending)| async move {
            if let Err(e) = pending {
                r.stop();
                return Some((Err(e), (r, Ok(()))));
            }
            r.next_chunk().await.map(|item| (item, (r, Ok(()))))
        });
        ChatStream {
            inner: Box::pin(inner),
            billed,
            encrypted,
            request,
        }
    }

    /// The tokens the network billed, once the last part arrived (`None` before).
    pub fn tokens_billed(&self) -> Option<TokensBilled> {
        *self.billed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the request (and so every chunk) was encrypted end to end.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The request's id as the client core and the proxy log it (first 8 bytes, hex).
    pub fn request_label(&self) -> &str {
        &self.request
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct Reading {
    /// `None` once the request ended (or failed).
    answers: Option<AnswerStream>,
    decoder: AnswerDecoder,
    ready: VecDeque<Result<ChatChunk>>,
    silence: Duration,
    billed: Billed,
}

impl Reading {
    async fn next_chunk(&mut self) -> Option<Result<ChatChunk>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                if item.is_err() {
                    self.stop();
                }
                return Some(item);
            }
            let answers = self.answers.as_mut()?;
            let result = match tokio::time::timeout(self.silence, answers.next()).await {
                Err(_) => Err(Error::Silent(self.silence)),
                Ok(Err(e)) => Err(e.into()),
                Ok(Ok(enums::client::QueryAnswerEx::QueryAnswerPartEx(p))) => {
                    let last = p.flags & 1 != 0;
                    self.take_part(&p.answer, last.then_some(p.final_info))
                }
                Ok(Ok(enums::client::QueryAnswerEx::QueryAnswerErrorEx(e))) => {
                    Err(ApiError::from_wire(e.error_code, &e.error).into())
                }
                Ok(Ok(enums::client::QueryAnswerEx::QueryAnswerEx(_))) => {
                    Err(Error::Decode("answer head received twice".into()))
                }
            };
            if let Err(e) = result {
                self.ready.push_back(Err(e));
            }
        }
    }

    /// Decodes one part; `end` carries the final info when it is the last part.
    fn take_part(
        &mut self,
        bytes: &[u8],
        end: Option<Option<types::client::QueryFinalInfo>>,
    ) -> Result<()> {
        let mut objects = self.decoder.push(bytes)?;
        if let Some(info) = end {
            objects.extend(self.decoder.finish()?);
            if let Some(info) = info {
                *self.billed.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(TokensBilled::from_wire(&info.tokens_used));
            }
            // Ended upstream: dropping it sends no cancel.
            self.answers = None;
        }
        for object in objects {
            self.ready.push_back(chunk_of(object));
        }
        Ok(())
    }

    /// Ends the stream; a request still running is cancelled at the proxy.
    fn stop(&mut self) {
        self.answers = None;
        self.ready.clear();
    }
}

/// One answer object as a chunk; an `error` object (an engine failing mid-stream) is an error.
fn chunk_of(object: Map<String, Value>) -> Result<ChatChunk> {
    if let Some(error) = object.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| error.to_string(), str::to_owned);
        return Err(Error::Request {
            status: 502,
            code: "engine_error",
            message,
        });
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| Error::Decode(format!("not a chat completion chunk: {e}")))
}
