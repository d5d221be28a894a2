//! How the worker reaches its engine: over HTTP (`forward_requests_to`, the reference's way),
//! or in its own process — an OpenAI-compatible axum [`Router`] (the embedded engine's,
//! `cocoon worker --engine local:FILE`) called as a service, with no socket and no HTTP
//! encoding in between. Both give the same [`EngineAnswer`], so the request path, metering and
//! health probes do not care which.

use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use axum::Router;
use futures::{Stream, StreamExt, TryStreamExt};
use tower::ServiceExt;

/// An answer body: chunks as the engine sends them.
pub type AnswerBody = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// The engine's answer: status, headers, and the body still streaming.
pub struct EngineAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: AnswerBody,
}

/// Where the engine is.
#[derive(Clone)]
pub enum EngineLink {
    /// An engine server at this base URL (e.g. `http://127.0.0.1:8000`).
    Http {
        base: String,
        client: reqwest::Client,
    },
    /// An engine in this process.
    InProcess(Router),
}

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl EngineLink {
    /// For logs and stats: the URL, or "in-process".
    pub fn describe(&self) -> String {
        match self {
            EngineLink::Http { base, .. } => base.clone(),
            EngineLink::InProcess(_) => "in-process".to_string(),
        }
    }

    /// `POST path` with `headers` and `body`.
    pub async fn post(
        &self,
        path: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Result<EngineAnswer, String> {
        match self {
            EngineLink::Http { base, client } => {
                let mut req = client.post(format!("{base}{path}"));
                for (name, value) in &headers {
                    req = req.header(name.as_str(), value.as_str());
                }
                let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
                Ok(EngineAnswer {
                    status: resp.status().as_u16(),
                    headers: resp.headers().clone(),
                    body: Box::pin(resp.bytes_stream().map_err(|e| e.to_string())),
                })
            }
            EngineLink::InProcess(router) => {
                let mut req = Request::builder().method(Method::POST).uri(path);
                if let Some(h) = req.headers_mut() {
                    for (name, value) in &headers {
                        if let (Ok(n), Ok(v)) = (
                            HeaderName::try_from(name.as_str()),
                            HeaderValue::try_from(value.as_str()),
                        ) {
                            h.append(n, v);
                        }
                    }
                }
                let req = req.body(Body::from(body)).map_err(|e| e.to_string())?;
                call(router, req).await
            }
        }
    }

    /// Whether `GET /v1/models` answers 200 within `timeout`.
    pub async fn healthy(&self, timeout: std::time::Duration) -> bool {
        match self {
            EngineLink::Http { base, client } => {
                let url = format!("{base}/v1/models");
                match client.get(&url).timeout(timeout).send().await {
                    Ok(resp) => resp.status().as_u16() == 200,
                    Err(e) => {
                        tracing::debug!(error = %e, %url, "engine health probe failed");
                        false
                    }
                }
            }
            EngineLink::InProcess(router) => {
                let Ok(req) = Request::get("/v1/models").body(Body::empty()) else {
                    return false;
                };
                matches!(
                    tokio::time::timeout(timeout, call(router, req)).await,
                    Ok(Ok(EngineAnswer { status: 200, .. }))
                )
            }
        }
    }
}

async fn call(router: &Router, req: Request<Body>) -> Result<EngineAnswer, String> {
    let resp = router
        .clone()
        .oneshot(req)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    Ok(EngineAnswer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: Box::pin(body.into_data_stream().map_err(|e| e.to_string()).boxed()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_engine::{fake_engine_router, FakeEngineOptions};
    use std::time::Duration;

    #[tokio::test]
    async fn an_in_process_engine_answers_as_over_http() {
        let link = EngineLink::InProcess(fake_engine_router(FakeEngineOptions {
            chunks: 3,
            chunk_bytes: 4,
            ..Default::default()
        }));
        assert!(link.healthy(Duration::from_secs(5)).await);
        assert_eq!(link.describe(), "in-process");
        let body = br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let answer = link
            .post(
                "/v1/chat/completions",
                vec![("content-type".into(), "application/json".into())],
                Bytes::from_static(body),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.headers.get("content-type").unwrap(),
            "text/event-stream"
        );
        let chunks: Vec<Bytes> = answer.body.try_collect().await.unwrap();
        let text = String::from_utf8(chunks.concat()).unwrap();
        assert_eq!(text.matches("\"content\":\"0000\"").count(), 3, "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"));
    }

    #[tokio::test]
    async fn an_in_process_engine_without_models_is_unhealthy() {
        let link = EngineLink::InProcess(Router::new());
        assert!(!link.healthy(Duration::from_secs(5)).await);
    }
}
