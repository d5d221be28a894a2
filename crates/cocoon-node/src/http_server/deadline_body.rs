//! A request body with a total deadline: every frame must arrive before it, else the body
//! fails with [`BodyTimedOut`]. tower-http's `RequestBodyTimeout` only times the gap between
//! frames, which a peer sending one byte a second never exceeds.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::time::Sleep;

/// The error of a body that did not arrive in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// `body` that fails once `limit` has passed since it was wrapped.
pub struct DeadlineBody {
    inner: Body,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineBody {
    pub fn new(inner: Body, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(self.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `err` (e.g. from `axum::body::to_bytes`) is, or was caused by, [`BodyTimedOut`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    for _ in 0..16 {
        match current {
            Some(e) if e.is::<BodyTimedOut>() => return true,
            Some(e) => current = e.source(),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_that_never_ends_fails_at_the_deadline() {
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let stalled = Body::from_stream(tokio_stream_from(rx));
        let body = Body::new(DeadlineBody::new(stalled, Duration::from_millis(50)));
        let started = std::time::Instant::now();
        let err = axum::body::to_bytes(body, 1024)
            .await
            .expect_err("times out");
        assert!(is_body_timeout(&err), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_complete_body_passes() {
        let body = Body::new(DeadlineBody::new(
            Body::from("hello"),
            Duration::from_secs(5),
        ));
        let bytes = axum::body::to_bytes(body, 1024).await.expect("read");
        assert_eq!(&bytes[..], b"hello");
    }

    #[test]
    fn other_errors_are_not_timeouts() {
        let err = std::io::Error::other("boom");
        assert!(!is_body_timeout(&err));
        assert!(is_body_timeout(&BodyTimedOut(Duration::from_secs(1))));
    }

    /// A stream of `rx`'s items (no tokio-stream dependency).
    fn tokio_stream_from<T: Send + 'static>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Send {
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
    }
}
