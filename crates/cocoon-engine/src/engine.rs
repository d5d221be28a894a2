//! The engine: one model (llama.cpp) on one thread, fed by a bounded queue of requests. Requests are
//! served one at a time, in order (a small CPU has no spare cores to batch with); a request
//! that finds the queue full is refused at once ([`EngineError::Busy`]) instead of waiting
//! without bound. Each request streams [`Event`]s back; dropping the receiver cancels it (the
//! engine stops generating at the next token, or skips it if it is still queued).
//!
//! Memory is bounded: the weights, plus the key/value cache of one sequence of at most
//! [`ModelInfo::context_length`] tokens ([`Engine::memory_bound_bytes`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::chat_template::ChatMessage;
use crate::error::EngineError;
use crate::model::{LoadedModel, ModelInfo, Session};
use crate::sampling::SamplingParams;
use crate::text_stream::{Detokenizer, StopMatcher};
use crate::tokenizer::Tokenizer;

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Requests that may wait while one runs (more are refused as busy).
    pub queue_depth: usize,
    /// Cap on the context served (prompt + answer), in tokens.
    pub max_context: Option<usize>,
    /// Answer length when a request sets none.
    pub default_max_tokens: usize,
    /// CPU threads for inference (`None`: every core).
    pub threads: Option<usize>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            queue_depth: 64,
            max_context: None,
            default_max_tokens: 512,
            threads: None,
        }
    }
}

/// One generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// The prompt's token ids (see [`Engine::encode_chat`], [`Engine::encode_text`]).
    pub prompt: Vec<u32>,
    /// Most tokens to generate (`None`: the engine's default, within the context).
    pub max_tokens: Option<usize>,
    pub sampling: SamplingParams,
    /// The answer ends before the first of these strings (which is not sent).
    pub stop: Vec<String>,
}

/// Why an answer ended (OpenAI's `finish_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-turn token or a stop string.
    Stop,
    /// `max_tokens` or the end of the context.
    Length,
}

impl FinishReason {
    /// OpenAI's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// Tokens used by one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens (all run through the model).
    pub prompt_tokens: u64,
    /// Tokens generated (an end-of-turn token that ended the answer is not counted, as in
    /// llama.cpp).
    pub completion_tokens: u64,
}

/// What a running request sends back, in order: tokens, then exactly one `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A generated token and the text it completed (empty while a character or a possible
    /// stop string is incomplete).
    Token { id: u32, text: String },
    /// The answer is complete; `text` is held text released at the end.
    Done {
        text: String,
        finish: FinishReason,
        usage: Usage,
    },
    /// Inference failed.
    Failed(String),
}

/// Requests the engine has ended, by how they ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Answered to the end.
    pub completed: u64,
    /// Stopped (or skipped in the queue) because the caller went away.
    pub cancelled: u64,
    /// Ended by an inference error.
    pub failed: u64,
}

#[derive(Default)]
struct StatCounters {
    completed: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
}

struct Job {
    request: GenerateRequest,
    events: mpsc::UnboundedSender<Event>,
}

/// A handle to the engine (cheap to clone; the engine stops when every handle is dropped).
#[derive(Clone)]
pub struct Engine {
    queue: mpsc::Sender<Job>,
    info: Arc<ModelInfo>,
    tokenizer: Tokenizer,
    template: Option<Arc<crate::chat_template::ChatTemplate>>,
    options: EngineOptions,
    stats: Arc<StatCounters>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.info.name)
            .finish()
    }
}

impl Engine {
    /// Loads the model at `path` (blocking: seconds) and starts the engine thread.
    pub fn load(path: &Path, options: EngineOptions) -> Result<Self, EngineError> {
        let LoadedModel {
            info,
            tokenizer,
            template,
            model,
        } = LoadedModel::load(path, options.max_context)?;
        let info = Arc::new(info);
        let (queue, jobs) = mpsc::channel(options.queue_depth.max(1));
        let stats = Arc::new(StatCounters::default());
        let (started, start_result) = std::sync::mpsc::channel();
        let runner_tokenizer = tokenizer.clone();
        let runner_stats = stats.clone();
        let (context_length, threads) = (info.context_length, options.threads);
        std::thread::Builder::new()
            .name("cocoon-engine".into())
            .spawn(move || {
                // The context borrows the model: both live on this thread's stack.
                let session = match Session::new(&model, context_length, threads) {
                    Ok(session) => {
                        let _ = started.send(Ok(()));
                        session
                    }
                    Err(e) => {
                        let _ = started.send(Err(e));
                        return;
                    }
                };
                Runner {
                    session,
                    tokenizer: runner_tokenizer,
                    stats: runner_stats,
                }
                .run(jobs)
            })
            .map_err(|e| EngineError::Inference(format!("cannot start the engine thread: {e}")))?;
        start_result.recv().map_err(|_| EngineError::Stopped)??;
        Ok(Engine {
            queue,
            info,
            tokenizer,
            template: template.map(Arc::new),
            options,
            stats,
        })
    }

    /// The model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Requests ended so far, by how they ended.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            completed: self.stats.completed.load(Ordering::Relaxed),
            cancelled: self.stats.cancelled.load(Ordering::Relaxed),
            failed: self.stats.failed.load(Ordering::Relaxed),
        }
    }

    /// The most memory the engine holds beyond the weights: one full key/value cache.
    pub fn memory_bound_bytes(&self) -> u64 {
        self.info.kv_bytes_per_token() * self.info.context_length as u64
    }

    /// The prompt text of a chat: the model's chat template applied to `messages`.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        let template = self.template.as_ref().ok_or_else(|| {
            EngineError::InvalidRequest(
                "this model has no chat template: use /v1/completions".into(),
            )
        })?;
        template
            .render(messages)
            .map_err(EngineError::InvalidRequest)
    }

    /// The prompt of a chat, through the model's chat template.
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, EngineError> {
        self.encode_text(&self.render_chat(messages)?)
    }

    /// The token ids of a plain prompt.
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        self.tokenizer
            .encode(text)
            .map_err(EngineError::InvalidRequest)
    }

    /// Number of tokens in the model's vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.vocab_size()
    }

    /// The text of `ids` (special tokens left out).
    pub fn decode(&self, ids: &[u32]) -> Result<String, EngineError> {
        self.tokenizer.decode(ids).map_err(EngineError::Inference)
    }

    /// Queues `request`; its events arrive on the returned receiver (drop it to cancel).
    pub fn submit(
        &self,
        mut request: GenerateRequest,
    ) -> Result<mpsc::UnboundedReceiver<Event>, EngineError> {
        request
            .sampling
            .validate()
            .map_err(EngineError::InvalidRequest)?;
        let context = self.info.context_length;
        let prompt = request.prompt.len();
        if prompt == 0 {
            return Err(EngineError::InvalidRequest("the prompt is empty".into()));
        }
        if prompt >= context {
            return Err(EngineError::InvalidRequest(format!(
                "the prompt has {prompt} tokens; this engine's context is {context} tokens"
            )));
        }
        if request.max_tokens == Some(0) {
            return Err(EngineError::InvalidRequest(
                "max_tokens must be at least 1".into(),
            ));
        }
        let room = context - prompt;
        request.max_tokens = Some(
            request
                .max_tokens
                .unwrap_or(self.options.default_max_tokens)
                .min(room),
        );
        let (events, receiver) = mpsc::unbounded_channel();
        self.queue
            .try_send(Job { request, events })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => EngineError::Busy(self.options.queue_depth),
                mpsc::error::TrySendError::Closed(_) => EngineError::Stopped,
            })?;
        Ok(receiver)
    }
}

/// The engine thread's side.
struct Runner<'m> {
    session: Session<'m>,
    tokenizer: Tokenizer,
    stats: Arc<StatCounters>,
}

/// How one generation ended.
enum Ended {
    Completed,
    Cancelled,
}

impl Runner<'_> {
    fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.blocking_recv() {
            if job.events.is_closed() {
                self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
                continue; // cancelled while queued
            }
            let events = job.events.clone();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.generate(&job.request, &job.events)
            }));
            let counter = match &outcome {
                Ok(Ok(Ended::Completed)) => &self.stats.completed,
                Ok(Ok(Ended::Cancelled)) => &self.stats.cancelled,
                _ => &self.stats.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    let _ = events.send(Event::Failed(e.to_string()));
                }
                Err(_) => {
                    tracing::error!("the engine panicked on a request; it goes on with the next");
                    let _ = events.send(Event::Failed("inference failed (internal error)".into()));
                }
            }
        }
        tracing::info!("engine stopped: every handle was dropped");
    }

    fn generate(
        &mut self,
        req: &GenerateRequest,
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<Ended, EngineError> {
        let max_tokens = req.max_tokens.unwrap_or(1);
        let mut sampler = req.sampling.sampler();
        let mut stops = StopMatcher::new(req.stop.clone());
        let mut detok = Detokenizer::default();
        let mut usage = Usage {
            prompt_tokens: req.prompt.len() as u64,
            completion_tokens: 0,
        };
        self.session.prefill(&req.prompt)?;
        let mut pos = req.prompt.len();
        loop {
            if events.is_closed() {
                return Ok(Ended::Cancelled); // the caller went away
            }
            let id = self.session.sample(&mut sampler)?;
            if self.tokenizer.is_end_of_generation(id) {
                return send_done(events, stops.finish(), FinishReason::Stop, usage);
            }
            usage.completion_tokens += 1;
            let piece = detok
                .push(id, |ids| self.tokenizer.decode(ids))
                .map_err(EngineError::Inference)?;
            let pushed = stops.push(&piece);
            let _ = events.send(Event::Token {
                id,
                text: pushed.text,
            });
            if pushed.stopped {
                return send_done(events, String::new(), FinishReason::Stop, usage);
            }
            if usage.completion_tokens as usize >= max_tokens {
                return send_done(events, stops.finish(), FinishReason::Length, usage);
            }
            self.session.step(id, pos)?;
            pos += 1;
        }
    }
}

fn send_done(
    events: &mpsc::UnboundedSender<Event>,
    text: String,
    finish: FinishReason,
    usage: Usage,
) -> Result<Ended, EngineError> {
    let _ = events.send(Event::Done {
        text,
        finish,
        usage,
    });
    Ok(Ended::Completed)
}
