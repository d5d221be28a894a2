//! Answer parts from an engine body: coalescing of the chunks that are already
//! available (see `super::request` for where parts go).

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};

/// Coalescing stops taking already-available chunks once a part holds this many bytes.
pub const COALESCE_LIMIT: usize = 128 * 1024;

/// Turns an engine body (a stream of chunks) into answer parts: each part is
/// one chunk waited for, plus every chunk already available without waiting
/// (what the body yields at once, or after one scheduler turn), until the part
/// holds at least `limit` bytes (`limit` 0: one chunk per part). A part is at
/// most `limit` bytes plus one chunk.
pub struct AnswerParts<S> {
    body: S,
    limit: usize,
    ended: bool,
}

impl<S, E> AnswerParts<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    /// Wraps an engine body.
    pub fn new(body: S, limit: usize) -> Self {
        AnswerParts {
            body,
            limit,
            ended: false,
        }
    }

    /// The next part (`None` at the end of the body). `on_chunk` sees every
    /// chunk, in order, exactly once (for metering). Waits only for the first
    /// chunk of the part. An engine error is returned at once, even when the
    /// part already holds chunks (the request fails then anyway).
    pub async fn next_part(
        &mut self,
        mut on_chunk: impl FnMut(&[u8]),
    ) -> Result<Option<Vec<u8>>, E> {
        if self.ended {
            return Ok(None);
        }
        let mut part = loop {
            match self.body.next().await {
                None => {
                    self.ended = true;
                    return Ok(None);
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    on_chunk(&chunk);
                    break Vec::from(chunk);
                }
            }
        };
        while part.len() < self.limit {
            // Only what is already there: a body still pending after one turn ends the part.
            let next = match self.body.next().now_or_never() {
                Some(next) => Some(next),
                None => {
                    // hyper's client hands body chunks over from its connection task one at
                    // a time, when asked: give that task one turn to pass on what it has
                    // already read (no I/O wait; a slow engine's chunk is not there then).
                    tokio::task::yield_now().await;
                    self.body.next().now_or_never()
                }
            };
            match next {
                None => break,
                Some(None) => {
                    self.ended = true;
                    break;
                }
                Some(Some(Err(e))) => return Err(e),
                Some(Some(Ok(chunk))) => {
                    on_chunk(&chunk);
                    part.extend_from_slice(&chunk);
                }
            }
        }
        Ok(Some(part))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fake_engine::{serve_fake_engine, FakeEngineOptions};
    use crate::metering::TokenMeter;
    use crate::metering::TokenUsage;
    use futures::channel::mpsc;
    use futures::SinkExt;

    type Chunk = Result<Bytes, std::io::Error>;

    /// All parts of `body` with `limit`: (parts, usage counted from the chunks).
    async fn collect<S, E>(body: S, limit: usize) -> (Vec<Vec<u8>>, TokenUsage)
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Debug,
    {
        let mut parts = AnswerParts::new(body, limit);
        let mut meter = TokenMeter::new();
        let mut out = Vec::new();
        while let Some(part) = parts.next_part(|c| meter.feed(c)).await.unwrap() {
            out.push(part);
        }
        (out, meter.finish())
    }

    fn ready_chunks(lines: &[Vec<u8>]) -> impl Stream<Item = Chunk> + Unpin {
        futures::stream::iter(
            lines
                .iter()
                .map(|l| Ok(Bytes::from(l.clone())))
                .collect::<Vec<_>>(),
        )
    }

    /// 50 SSE lines of 128 content bytes and a usage event, as separate chunks.
    fn sse_lines() -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = (0..50)
            .map(|i| {
                format!(
                    "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}],\"i\":{i}}}\n\n",
                    "0".repeat(128)
                )
                .into_bytes()
            })
            .collect();
        lines.push(
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":34,\"completion_tokens\":100,\"total_tokens\":134,\"prompt_tokens_details\":{\"cached_tokens\":11},\"completion_tokens_details\":{\"reasoning_tokens\":10}}}\n\ndata: [DONE]\n\n"
                .to_vec(),
        );
        lines
    }

    #[tokio::test]
    async fn ready_chunks_become_one_part_with_the_same_bytes_and_tokens() {
        let lines = sse_lines();
        let (single, usage_single) = collect(ready_chunks(&lines), 0).await;
        let (coalesced, usage_coalesced) = collect(ready_chunks(&lines), COALESCE_LIMIT).await;
        assert_eq!(single.len(), lines.len(), "limit 0: one part per chunk");
        assert_eq!(coalesced.len(), 1, "all chunks were ready: one part");
        assert_eq!(single.concat(), lines.concat());
        assert_eq!(coalesced.concat(), lines.concat());
        assert_eq!(usage_single, usage_coalesced);
        assert_eq!(
            (
                usage_coalesced.prompt,
                usage_coalesced.completion,
                usage_coalesced.total
            ),
            (34, 100, 134)
        );
    }

    #[tokio::test]
    async fn parts_stop_at_the_limit_plus_one_chunk() {
        let lines: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100 * 1024]).collect();
        let (parts, _) = collect(ready_chunks(&lines), COALESCE_LIMIT).await;
        let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![200 * 1024, 200 * 1024, 100 * 1024]);
        assert_eq!(parts.concat(), lines.concat());
    }

    #[tokio::test]
    async fn a_slow_engines_first_chunk_is_forwarded_without_waiting_for_more() {
        let (mut tx, rx) = mpsc::channel::<Chunk>(8);
        let mut parts = AnswerParts::new(rx, COALESCE_LIMIT);
        let mut seen = Vec::new();
        tx.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
        // The second chunk is not sent yet: the part must come without it.
        let part = tokio::time::timeout(
            Duration::from_secs(10),
            parts.next_part(|c| seen.push(c.to_vec())),
        )
        .await
        .expect("next_part waited for a chunk that was not there")
        .unwrap();
        assert_eq!(part.as_deref(), Some(&b"first"[..]));
        // Two chunks that arrived meanwhile travel together.
        tx.send(Ok(Bytes::from_static(b"second"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"third"))).await.unwrap();
        let part = parts.next_part(|c| seen.push(c.to_vec())).await.unwrap();
        assert_eq!(part.as_deref(), Some(&b"secondthird"[..]));
        drop(tx);
        assert_eq!(
            parts.next_part(|c| seen.push(c.to_vec())).await.unwrap(),
            None
        );
        assert_eq!(
            parts.next_part(|c| seen.push(c.to_vec())).await.unwrap(),
            None
        );
        assert_eq!(
            seen,
            vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
        );
    }

    #[tokio::test]
    async fn an_engine_error_is_returned() {
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"a")),
            Err(std::io::Error::other("engine reset")),
        ]);
        let mut parts = AnswerParts::new(body, COALESCE_LIMIT);
        assert!(parts.next_part(|_| {}).await.is_err());
    }

    /// The body with the digits of per-answer values (`"id":"chatcmpl-fake-N"`,
    /// `"created":N`) removed: they differ between two requests.
    fn without_ids(body: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(body).into_owned();
        for marker in ["chatcmpl-fake-", "\"created\":"] {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(at) = rest.find(marker) {
                let (head, tail) = rest.split_at(at + marker.len());
                out.push_str(head);
                rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            }
            out.push_str(rest);
            text = out;
        }
        text
    }

    /// The fake engine over HTTP (SSE and the reference NDJSON): the same bytes
    /// and token counts with and without coalescing, and never more parts.
    #[tokio::test]
    async fn fake_engine_answers_are_identical_with_and_without_coalescing() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        for reference_ndjson in [false, true] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let opts = FakeEngineOptions {
                reference_ndjson,
                ..FakeEngineOptions::default()
            };
            tokio::spawn(serve_fake_engine(listener, opts));
            let http = reqwest::Client::new();
            let body = serde_json::json!({"model": "Qwen/Qwen3-8B", "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "hi"}]});
            let mut runs = Vec::new();
            for limit in [0, COALESCE_LIMIT] {
                let resp = http
                    .post(format!("http://{addr}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                runs.push(collect(resp.bytes_stream(), limit).await);
            }
            let (single, usage_single) = &runs[0];
            let (coalesced, usage_coalesced) = &runs[1];
            let (a, b) = (
                without_ids(&single.concat()),
                without_ids(&coalesced.concat()),
            );
            assert!(a == b, "ndjson={reference_ndjson}: bodies differ");
            assert_eq!(usage_single, usage_coalesced, "ndjson={reference_ndjson}");
            assert_eq!(usage_coalesced.total, 134, "ndjson={reference_ndjson}");
            assert!(
                coalesced.len() < single.len(),
                "ndjson={reference_ndjson}: an instant answer is coalesced ({} vs {} parts)",
                coalesced.len(),
                single.len()
            );
        }
    }
}
