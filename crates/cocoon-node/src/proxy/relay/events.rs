//! What a running request does with each message of its worker: the header answer and
//! parts relayed to the client, errors turned into the end of the attempt.

use cocoon_wire::schema::types;

use super::{AttemptEnd, Progress, Relay};
use crate::common::proto::{self, code, now_unix};
use crate::proxy::messages::WorkerEvent;
use crate::proxy::ProxyCounters;

impl Relay {
    /// Handles one worker message; `Some` ends the attempt.
    pub(super) async fn on_event(
        &self,
        event: WorkerEvent,
        progress: &mut Progress,
    ) -> Option<AttemptEnd> {
        let out_of_order = |answered: bool| {
            let message = "proxy: out of order answer parts from worker".to_owned();
            Some(if answered {
                AttemptEnd::AfterAnswer {
                    code: code::PROTOVIOLATION,
                    message,
                    info: None,
                }
            } else {
                AttemptEnd::BeforeAnswer {
                    code: code::PROTOVIOLATION,
                    message,
                    retryable: true,
                    info: None,
                }
            })
        };
        match event {
            WorkerEvent::Answer {
                answer,
                completed,
                final_info,
            } => {
                if progress.answered {
                    return out_of_order(true);
                }
                let Some(answer) = self.stamp_answer(&answer) else {
                    let message = "proxy: malformed http.response from worker".to_owned();
                    return Some(AttemptEnd::BeforeAnswer {
                        code: code::PROTOVIOLATION,
                        message,
                        retryable: true,
                        info: None,
                    });
                };
                progress.answered = true;
                progress.answer_at = Some(now_unix());
                let bytes =
                    self.answer_bytes(true, answer, completed, final_info.as_ref(), progress);
                self.deliver(bytes, completed, final_info).await
            }
            WorkerEvent::Part {
                answer,
                completed,
                final_info,
            } => {
                if !progress.answered {
                    return out_of_order(false);
                }
                let bytes =
                    self.answer_bytes(false, answer, completed, final_info.as_ref(), progress);
                self.deliver(bytes, completed, final_info).await
            }
            WorkerEvent::Error {
                code: c,
                message,
                final_info,
            } => Some(if progress.answered {
                AttemptEnd::AfterAnswer {
                    code: c,
                    message,
                    info: final_info,
                }
            } else {
                let retryable = c != code::PROTOVIOLATION && c != code::TIMEOUT;
                AttemptEnd::BeforeAnswer {
                    code: c,
                    message,
                    retryable,
                    info: final_info,
                }
            }),
        }
    }

    async fn deliver(
        &self,
        bytes: Vec<u8>,
        completed: bool,
        final_info: Option<types::proxy::QueryFinalInfo>,
    ) -> Option<AttemptEnd> {
        ProxyCounters::add(&self.shared.counters.bytes_sent, bytes.len() as u64);
        if self.client.session.send(bytes).await.is_err() {
            return Some(AttemptEnd::ClientGone);
        }
        completed.then(|| {
            AttemptEnd::Completed(final_info.map_or_else(proto::zero_tokens, |i| i.tokens_used))
        })
    }
}

pub(super) fn lost_worker(answered: bool) -> AttemptEnd {
    let message = "proxy: worker connection lost".to_owned();
    if answered {
        AttemptEnd::AfterAnswer {
            code: code::NOT_READY,
            message,
            info: None,
        }
    } else {
        AttemptEnd::BeforeAnswer {
            code: code::NOT_READY,
            message,
            retryable: true,
            info: None,
        }
    }
}
