//! The `cocoonrs.cancelRequest` extension (docs/protocol-extensions.md): not
//! in the reference protocol, which has no way to stop a running request.
//!
//! A one-way `tcp.packet` asking the receiver to stop a running request and
//! free its slot; nothing is answered. The client sends it to its proxy with
//! the client's request id, the proxy to its worker with the proxy's request
//! id. Reference runners log and drop it as an unknown message, so sending it
//! to any peer is safe. Receivers ignore ids they do not know.

use cocoon_net::Session;
use cocoon_wire::schema::types::cocoonrs::CancelRequest;
use cocoon_wire::tl::{from_bytes, to_bytes};

/// Longest reason we send or log, in characters (the text is for logs only).
pub const MAX_REASON_CHARS: usize = 200;

/// The boxed `cocoonrs.cancelRequest` for `request_id`.
pub fn cancel_request_bytes(request_id: [u8; 32], reason: &str) -> Vec<u8> {
    to_bytes(&CancelRequest {
        request_id,
        reason: reason.chars().take(MAX_REASON_CHARS).collect(),
    })
}

/// Whether `data` starts with the `cocoonrs.cancelRequest` id.
pub fn is_cancel_request(data: &[u8]) -> bool {
    cocoon_wire::tl::peek_constructor_id(data) == Some(CancelRequest::CONSTRUCTOR_ID)
}

/// Decodes a `cocoonrs.cancelRequest` (`None` if `data` is anything else or
/// malformed); the reason is cut to [`MAX_REASON_CHARS`].
pub fn decode_cancel_request(data: &[u8]) -> Option<([u8; 32], String)> {
    if !is_cancel_request(data) {
        return None;
    }
    let msg = from_bytes::<CancelRequest>(data).ok()?;
    Some((
        msg.request_id,
        msg.reason.chars().take(MAX_REASON_CHARS).collect(),
    ))
}

/// Sends `cocoonrs.cancelRequest` on `session` from a context that cannot
/// wait (a `Drop`): the send runs as its own task. Does nothing outside a
/// Tokio runtime or on a closed session.
pub fn spawn_cancel(session: &Session, request_id: [u8; 32], reason: &str) {
    if session.is_closed() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let session = session.clone();
    let bytes = cancel_request_bytes(request_id, reason);
    runtime.spawn(async move {
        if let Err(e) = session.send(bytes).await {
            tracing::debug!(error = %e, "could not send cocoonrs.cancelRequest");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reason_cut() {
        let long = "x".repeat(MAX_REASON_CHARS + 50);
        let bytes = cancel_request_bytes([5; 32], &long);
        assert!(is_cancel_request(&bytes));
        let (id, reason) = decode_cancel_request(&bytes).expect("decodes");
        assert_eq!(id, [5; 32]);
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn other_and_malformed_bytes_are_not_a_cancel() {
        assert_eq!(decode_cancel_request(&[]), None);
        assert_eq!(decode_cancel_request(&[0x44, 0x2a]), None);
        let bytes = cancel_request_bytes([1; 32], "gone");
        // Truncated: the id matches but the body is short.
        let cut = bytes.get(..bytes.len() - 3).unwrap_or_default();
        assert_eq!(decode_cancel_request(cut), None);
        // Trailing garbage: strict decoding refuses it.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_cancel_request(&longer), None);
        let ping = to_bytes(&cocoon_wire::schema::types::tcp::Ping { id: 1 });
        assert!(!is_cancel_request(&ping));
    }
}
