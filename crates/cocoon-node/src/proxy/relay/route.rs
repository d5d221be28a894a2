//! The route of one attempt on one worker connection, and what happens when
//! the attempt ends: the route is removed, and unless the worker itself ended
//! the request (final answer part or error) or its connection is gone, the
//! worker gets `cocoonrs.cancelRequest` with the proxy request id (our
//! extension, docs/protocol-extensions.md) so it stops its engine call.
//!
//! Doing this on `Drop` covers every way an attempt can end early: the client
//! went away or cancelled, the proxy's timeout, a relay buffer overflow, a
//! malformed answer, and the request task being aborted.

use super::super::registry::WorkerConn;
use super::super::ProxyCounters;
use crate::common::cancel::spawn_cancel;

/// Why a worker is told to cancel when nothing more specific was recorded.
pub(super) const DEFAULT_REASON: &str = "proxy: request abandoned";

/// Removes a request's route from its worker connection when the attempt
/// ends, and cancels the request at the worker if it may still run.
pub(super) struct RouteGuard<'a> {
    conn: &'a WorkerConn,
    counters: &'a ProxyCounters,
    id: [u8; 32],
    /// The worker ended the request itself; nothing to cancel.
    worker_done: bool,
    /// The reason sent with the cancel.
    reason: &'static str,
}

impl<'a> RouteGuard<'a> {
    pub(super) fn new(conn: &'a WorkerConn, counters: &'a ProxyCounters, id: [u8; 32]) -> Self {
        RouteGuard {
            conn,
            counters,
            id,
            worker_done: false,
            reason: DEFAULT_REASON,
        }
    }

    /// The worker sent its final part or an error: no cancel needed.
    pub(super) fn worker_done(&mut self) {
        self.worker_done = true;
    }

    /// Records why the attempt is being abandoned.
    pub(super) fn abandon(&mut self, reason: &'static str) {
        self.reason = reason;
    }
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        self.conn.remove_route(&self.id);
        if self.worker_done || self.conn.is_gone() || self.conn.session.is_closed() {
            return;
        }
        tracing::info!(worker_conn = self.conn.id, request = %hex::encode(&self.id[..8]),
            reason = self.reason, "cancelling the request at the worker");
        ProxyCounters::add(&self.counters.worker_cancels, 1);
        spawn_cancel(&self.conn.session, self.id, self.reason);
    }
}
