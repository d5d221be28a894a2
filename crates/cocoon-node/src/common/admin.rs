//! The admin port every role has apart from its data plane: the endpoints that change state
//! or move money (`/request/…`) sit behind [`admin_router`], on a listener of its own that
//! binds loopback unless told otherwise.
//!
//! * **POST only.** Any other method (`OPTIONS` included) is answered `405` with
//!   `Allow: POST`, before the credential is looked at: a browser page cannot make a GET or
//!   a preflighted request do anything.
//! * **A credential.** `Authorization: Bearer <token>`, or the reference's `?access_hash=<token>`
//!   (runners.md §4.1, delta §5.1) for its tools. None → `401` with
//!   `WWW-Authenticate: Bearer`; a wrong one → `403` (the reference's answer to a mismatch).
//!   The token is the config's `http_access_hash` when it sets one, else a generated one kept
//!   in a file only its owner may read ([`super::admin_token`]).
//! * **No CORS headers**, whatever the handler added.
//!
//! [`protect_reads`] puts the credential check (not the method rule) on read-only routes —
//! the stats pages — when the config sets `http_access_hash`, as the reference does: `403`
//! for a missing or wrong credential, as the reference's stats pages answer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

pub use super::admin_token::{load_or_create, AdminToken};

/// A node's admin port: its socket and the credential its requests must carry.
#[derive(Debug)]
pub struct AdminPort {
    pub listener: TcpListener,
    pub token: AdminToken,
}

/// `routes` as admin endpoints: POST only, `token` required, no CORS headers.
pub fn admin_router(routes: Router, token: AdminToken) -> Router {
    routes.layer(axum::middleware::from_fn_with_state(token, admin_guard))
}

/// `routes` with `token` (if any) required on every request.
pub fn protect_reads(routes: Router, token: Option<AdminToken>) -> Router {
    match token {
        Some(token) => routes.layer(axum::middleware::from_fn_with_state(token, read_guard)),
        None => routes,
    }
}

async fn admin_guard(State(token): State<AdminToken>, req: Request, next: Next) -> Response {
    let mut response = if req.method() != Method::POST {
        let mut r = (
            StatusCode::METHOD_NOT_ALLOWED,
            "admin endpoints take POST only\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        r
    } else {
        match refusal(&token, &req) {
            None => next.run(req).await,
            Some(refused) => refused,
        }
    };
    strip_cors(response.headers_mut());
    response
}

/// The reference's stats protection: a missing or wrong credential → `403`.
async fn read_guard(State(token): State<AdminToken>, req: Request, next: Next) -> Response {
    match credential(&req) {
        Some(given) if token.matches(&given) => next.run(req).await,
        _ => (StatusCode::FORBIDDEN, "credential required\n").into_response(),
    }
}

/// The credential `req` carries: a bearer token, else `?access_hash=`.
pub fn credential(req: &Request) -> Option<String> {
    bearer(req.headers()).or_else(|| {
        let query = req.uri().query()?;
        url_form_pairs(query)
            .find(|(k, _)| k == "access_hash")
            .map(|(_, v)| v)
    })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// `k=v&…` pairs of a query string, `+` and `%XX` decoded.
fn url_form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(bytes[i + 1]) << 4 | hex(bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer refusing `req` for its credential; `None` when it carries `token`.
fn refusal(token: &AdminToken, req: &Request) -> Option<Response> {
    match credential(req) {
        Some(given) if token.matches(&given) => None,
        Some(_) => Some((StatusCode::FORBIDDEN, "wrong credential\n").into_response()),
        None => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "credential required: Authorization: Bearer <token> (or ?access_hash=<token>)\n",
            )
                .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Some(r)
        }
    }
}

fn strip_cors(headers: &mut HeaderMap) {
    let cors: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in cors {
        headers.remove(name);
    }
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
