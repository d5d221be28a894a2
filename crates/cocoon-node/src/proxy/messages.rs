//! Decoding of what clients and workers send to the proxy into the proxy's
//! own small enums (legacy v0 forms are converted to the `*Ex` meaning here),
//! so the rest of the proxy never touches raw TL dispatch.

use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, peek_constructor_id};

use crate::common::cancel::decode_cancel_request;

/// A decoded one-way message from a worker.
#[derive(Debug)]
pub(crate) enum WorkerPacket {
    /// An answer, part or error for a running request (by proxy request id).
    Request {
        request_id: [u8; 32],
        event: WorkerEvent,
    },
    /// `worker.enabledDisabled`.
    EnabledDisabled { disabled: bool },
    /// `worker.newCoefficient`.
    NewCoefficient { coefficient: i32 },
    /// Anything else: logged and dropped, as the reference does.
    Unknown { constructor: Option<u32> },
}

/// One message of a worker about a running request.
#[derive(Debug, Clone)]
pub enum WorkerEvent {
    /// The first message: a boxed `http.response` with headers (payload may be empty).
    Answer {
        answer: Vec<u8>,
        completed: bool,
        final_info: Option<types::proxy::QueryFinalInfo>,
    },
    /// A piece of the body.
    Part {
        answer: Vec<u8>,
        completed: bool,
        final_info: Option<types::proxy::QueryFinalInfo>,
    },
    /// The worker gave up on the request.
    Error {
        code: i32,
        message: String,
        final_info: Option<types::proxy::QueryFinalInfo>,
    },
}

impl WorkerEvent {
    /// Whether the worker ends the request with this message (a completed
    /// answer or part, or an error).
    pub fn ends_request(&self) -> bool {
        match self {
            WorkerEvent::Answer { completed, .. } | WorkerEvent::Part { completed, .. } => {
                *completed
            }
            WorkerEvent::Error { .. } => true,
        }
    }
}

/// Final info for a legacy (v0) message, which carries only `tokensUsed`.
fn legacy_final_info(tokens_used: types::TokensUsed) -> types::proxy::QueryFinalInfo {
    types::proxy::QueryFinalInfo {
        flags: 0,
        tokens_used,
        worker_debug: None,
        worker_start_time: None,
        worker_end_time: None,
    }
}

/// Decodes a `tcp.packet` payload received from a worker.
pub(crate) fn decode_worker_packet(data: &[u8]) -> WorkerPacket {
    use enums::proxy::{QueryAnswer, QueryAnswerEx, QueryAnswerPart};
    if let Ok(msg) = from_bytes::<QueryAnswerEx>(data) {
        return match msg {
            QueryAnswerEx::QueryAnswerEx(m) => WorkerPacket::Request {
                request_id: m.request_id,
                event: WorkerEvent::Answer {
                    answer: m.answer,
                    completed: m.flags & 1 != 0,
                    final_info: m.final_info,
                },
            },
            QueryAnswerEx::QueryAnswerPartEx(m) => WorkerPacket::Request {
                request_id: m.request_id,
                event: WorkerEvent::Part {
                    answer: m.answer,
                    completed: m.flags & 1 != 0,
                    final_info: m.final_info,
                },
            },
            QueryAnswerEx::QueryAnswerErrorEx(m) => WorkerPacket::Request {
                request_id: m.request_id,
                event: WorkerEvent::Error {
                    code: m.error_code,
                    message: m.error,
                    final_info: m.final_info,
                },
            },
        };
    }
    if let Ok(msg) = from_bytes::<QueryAnswer>(data) {
        return match msg {
            QueryAnswer::QueryAnswer(m) => WorkerPacket::Request {
                request_id: m.request_id,
                event: WorkerEvent::Answer {
                    answer: m.answer,
                    completed: m.is_completed,
                    final_info: m.is_completed.then(|| legacy_final_info(m.tokens_used)),
                },
            },
            QueryAnswer::QueryAnswerError(m) => WorkerPacket::Request {
                request_id: m.request_id,
                event: WorkerEvent::Error {
                    code: m.error_code,
                    message: m.error,
                    final_info: Some(legacy_final_info(m.tokens_used)),
                },
            },
        };
    }
    if let Ok(msg) = from_bytes::<QueryAnswerPart>(data) {
        return match msg {
            QueryAnswerPart::QueryAnswerPart(m) => WorkerPacket::Request {
                request_id: m.request_id,
                event: WorkerEvent::Part {
                    answer: m.answer,
                    completed: m.is_completed,
                    final_info: m.is_completed.then(|| legacy_final_info(m.tokens_used)),
                },
            },
            QueryAnswerPart::QueryAnswerPartError(m) => WorkerPacket::Request {
                request_id: m.request_id,
                event: WorkerEvent::Error {
                    code: m.error_code,
                    message: m.error,
                    final_info: Some(legacy_final_info(m.tokens_used)),
                },
            },
        };
    }
    if let Ok(m) = from_bytes::<types::worker::EnabledDisabled>(data) {
        return WorkerPacket::EnabledDisabled {
            disabled: m.disabled != 0,
        };
    }
    if let Ok(m) = from_bytes::<types::worker::NewCoefficient>(data) {
        return WorkerPacket::NewCoefficient {
            coefficient: m.new_coefficient,
        };
    }
    WorkerPacket::Unknown {
        constructor: peek_constructor_id(data),
    }
}

/// A client's request, from `client.runQueryEx` or the legacy `client.runQuery`.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    pub model_name: String,
    /// Boxed `http.request`, forwarded verbatim.
    pub query: Vec<u8>,
    pub max_coefficient: i32,
    pub max_tokens: i32,
    /// Seconds (the client already applied its ×0.95).
    pub timeout: f64,
    pub request_id: [u8; 32],
    pub min_config_version: i32,
    pub enable_debug: bool,
    /// End-to-end encryption key (flags bit 1); `None` or all-zero = plain.
    pub public_key: Option<[u8; 32]>,
}

impl ClientRequest {
    /// True if the client asks for an end-to-end encrypted request.
    pub fn is_encrypted(&self) -> bool {
        self.public_key.is_some_and(|k| k != [0; 32])
    }
}

/// A decoded one-way message from a client.
#[derive(Debug)]
pub(crate) enum ClientPacket {
    Run(ClientRequest),
    /// `cocoonrs.cancelRequest` (our extension): stop this client request.
    Cancel {
        request_id: [u8; 32],
        reason: String,
    },
    Unknown {
        constructor: Option<u32>,
    },
}

/// Decodes a `tcp.packet` payload received from a client.
pub(crate) fn decode_client_packet(data: &[u8]) -> ClientPacket {
    if let Some((request_id, reason)) = decode_cancel_request(data) {
        return ClientPacket::Cancel { request_id, reason };
    }
    if let Ok(m) = from_bytes::<functions::client::RunQueryEx>(data) {
        return ClientPacket::Run(ClientRequest {
            model_name: m.model_name,
            query: m.query,
            max_coefficient: m.max_coefficient,
            max_tokens: m.max_tokens,
            timeout: m.timeout,
            request_id: m.request_id,
            min_config_version: m.min_config_version,
            enable_debug: m.enable_debug.unwrap_or(false),
            public_key: m.public_key,
        });
    }
    if let Ok(m) = from_bytes::<functions::client::RunQuery>(data) {
        return ClientPacket::Run(ClientRequest {
            model_name: m.model_name,
            query: m.query,
            max_coefficient: m.max_coefficient,
            max_tokens: m.max_tokens,
            timeout: m.timeout,
            request_id: m.request_id,
            min_config_version: m.min_config_version,
            enable_debug: false,
            public_key: None,
        });
    }
    ClientPacket::Unknown {
        constructor: peek_constructor_id(data),
    }
}

/// A decoded query (RPC) from a client.
#[derive(Debug)]
pub(crate) enum ClientQuery {
    Connect(functions::client::ConnectToProxy),
    AuthShort(functions::client::AuthorizeWithProxyShort),
    AuthLong,
    UpdatePaymentStatus,
    GetWorkerTypes,
    GetWorkerTypesV2,
    Unknown { constructor: Option<u32> },
}

pub(crate) fn decode_client_query(data: &[u8]) -> ClientQuery {
    if let Ok(m) = from_bytes::<functions::client::ConnectToProxy>(data) {
        return ClientQuery::Connect(m);
    }
    if let Ok(m) = from_bytes::<functions::client::AuthorizeWithProxyShort>(data) {
        return ClientQuery::AuthShort(m);
    }
    if from_bytes::<functions::client::AuthorizeWithProxyLong>(data).is_ok() {
        return ClientQuery::AuthLong;
    }
    if from_bytes::<functions::client::UpdatePaymentStatus>(data).is_ok() {
        return ClientQuery::UpdatePaymentStatus;
    }
    if from_bytes::<functions::client::GetWorkerTypesV2>(data).is_ok() {
        return ClientQuery::GetWorkerTypesV2;
    }
    if from_bytes::<functions::client::GetWorkerTypes>(data).is_ok() {
        return ClientQuery::GetWorkerTypes;
    }
    ClientQuery::Unknown {
        constructor: peek_constructor_id(data),
    }
}

/// A decoded query (RPC) from a worker.
#[derive(Debug)]
pub(crate) enum WorkerQuery {
    Connect(functions::worker::ConnectToProxy),
    CompareBalance(functions::worker::CompareBalanceWithProxy),
    ExtendedCompareBalance(functions::worker::ExtendedCompareBalanceWithProxy),
    HandshakeComplete(functions::worker::ProxyHandshakeComplete),
    UpdatePaymentStatus,
    Unknown { constructor: Option<u32> },
}

pub(crate) fn decode_worker_query(data: &[u8]) -> WorkerQuery {
    if let Ok(m) = from_bytes::<functions::worker::ConnectToProxy>(data) {
        return WorkerQuery::Connect(m);
    }
    if let Ok(m) = from_bytes::<functions::worker::CompareBalanceWithProxy>(data) {
        return WorkerQuery::CompareBalance(m);
    }
    if let Ok(m) = from_bytes::<functions::worker::ExtendedCompareBalanceWithProxy>(data) {
        return WorkerQuery::ExtendedCompareBalance(m);
    }
    if let Ok(m) = from_bytes::<functions::worker::ProxyHandshakeComplete>(data) {
        return WorkerQuery::HandshakeComplete(m);
    }
    if from_bytes::<functions::worker::UpdatePaymentStatus>(data).is_ok() {
        return WorkerQuery::UpdatePaymentStatus;
    }
    WorkerQuery::Unknown {
        constructor: peek_constructor_id(data),
    }
}
