//! Counters of the FAKE engine's answer bodies, served at `GET /fake/stats`
//! (a fake-engine-only endpoint; a real engine has nothing like it): how many
//! bodies were started, sent to the end, and dropped before the end — the
//! last meaning the engine's client (a worker) went away mid-answer, which
//! is how tests see that a cancelled request really stopped at the engine.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;

use axum::body::Bytes;
use futures::stream::{self, Stream, StreamExt};
use serde::Serialize;

/// Live counters (shared by every answer of one fake engine).
#[derive(Debug, Default)]
pub struct AnswerCounters {
    started: AtomicU64,
    completed: AtomicU64,
    aborted: AtomicU64,
}

/// A copy of the counters, as `GET /fake/stats` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FakeEngineStats {
    /// Answer bodies started.
    pub answers_started: u64,
    /// Answer bodies sent to their end.
    pub answers_completed: u64,
    /// Answer bodies dropped before their end (the client went away).
    pub answers_aborted: u64,
}

impl AnswerCounters {
    pub fn snapshot(&self) -> FakeEngineStats {
        FakeEngineStats {
            answers_started: self.started.load(Ordering::Relaxed),
            answers_completed: self.completed.load(Ordering::Relaxed),
            answers_aborted: self.aborted.load(Ordering::Relaxed),
        }
    }
}

/// Counts one answer body: completed when its end is reached, aborted when
/// dropped before that.
struct AnswerGuard {
    counters: Arc<AnswerCounters>,
    completed: bool,
}

impl AnswerGuard {
    fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for AnswerGuard {
    fn drop(&mut self) {
        let c = &self.counters;
        if self.completed {
            &c.completed
        } else {
            &c.aborted
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// Wraps an answer body so that it is counted.
pub fn tracked(
    counters: Arc<AnswerCounters>,
    body: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    counters.started.fetch_add(1, Ordering::Relaxed);
    let mut guard = AnswerGuard {
        counters,
        completed: false,
    };
    // The closure owns the guard (a method call captures all of it): the
    // guard drops with the body, after `complete` if the end was reached.
    body.chain(stream::poll_fn(move |_| {
        guard.complete();
        Poll::Ready(None)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_pieces() -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        stream::iter([Ok(Bytes::from("a")), Ok(Bytes::from("b"))])
    }

    #[tokio::test]
    async fn read_to_the_end_is_completed_and_dropped_early_is_aborted() {
        let counters = Arc::new(AnswerCounters::default());
        let all: Vec<_> = tracked(counters.clone(), two_pieces()).collect().await;
        assert_eq!(all.len(), 2);
        let mut partial = Box::pin(tracked(counters.clone(), two_pieces()));
        assert!(partial.next().await.is_some());
        drop(partial);
        assert_eq!(
            counters.snapshot(),
            FakeEngineStats {
                answers_started: 2,
                answers_completed: 1,
                answers_aborted: 1,
            }
        );
    }
}
