//! State shared by a session's handles and its reader and writer tasks: the
//! close reason, the table of outstanding queries and the outbound queues.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use crate::config::Role;
use crate::error::{CloseReason, NetError, QueryError};

/// The outcome of one outgoing query.
pub(crate) type AnswerResult = Result<Vec<u8>, QueryError>;
/// Where the answer to one outstanding query is delivered.
pub(crate) type AnswerSlot = oneshot::Sender<AnswerResult>;
/// Where the query's caller waits for it.
pub(crate) type AnswerWait = oneshot::Receiver<AnswerResult>;

/// Capacity of the queue for frames the session itself emits (pongs, pings,
/// "Lost promise" errors). They skip the application queue so a busy writer
/// cannot starve them; when even this queue is full they are dropped.
pub(crate) const CONTROL_QUEUE: usize = 64;

/// A limit on the bytes held in one queue. Each queued message holds a
/// permit for its size (a message larger than the whole budget takes the
/// whole budget), released when the message leaves the queue.
pub(crate) struct ByteBudget {
    permits: Arc<Semaphore>,
    total: usize,
}

impl ByteBudget {
    pub(crate) fn new(total: usize) -> Self {
        // Semaphore permits are u32 per acquisition and bounded overall.
        let total = total.clamp(1, u32::MAX as usize);
        ByteBudget {
            permits: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Waits until `len` bytes fit; `None` once the budget is closed.
    pub(crate) async fn reserve(&self, len: usize) -> Option<OwnedSemaphorePermit> {
        // `total` fits in u32 (see `new`).
        let n = len.clamp(1, self.total) as u32;
        Arc::clone(&self.permits).acquire_many_owned(n).await.ok()
    }

    /// Wakes every waiter with failure; later reservations fail at once.
    pub(crate) fn close(&self) {
        self.permits.close();
    }
}

/// An application frame payload waiting for the writer, with the share of
/// the outbound byte budget it holds.
pub(crate) struct Outgoing {
    pub(crate) payload: Vec<u8>,
    _budget: OwnedSemaphorePermit,
}

/// Mutable part of [`Shared`], behind one lock so that closing and
/// registering a query cannot race.
struct State {
    closed: Option<CloseReason>,
    pending: HashMap<i64, AnswerSlot>,
}

/// One session's shared core.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) label: String,
    pub(crate) role: Role,
    max_outstanding: usize,
    state: Mutex<State>,
    closed_tx: watch::Sender<Option<CloseReason>>,
    /// Application frames (packets, queries, answers), already TL-encoded.
    outbound: mpsc::Sender<Outgoing>,
    outbound_budget: ByteBudget,
    /// Session-generated frames, written before application frames.
    control: mpsc::Sender<Vec<u8>>,
}

/// The receiving ends handed to the writer task.
pub(crate) struct WriterQueues {
    pub(crate) outbound: mpsc::Receiver<Outgoing>,
    pub(crate) control: mpsc::Receiver<Vec<u8>>,
}

impl Shared {
    pub(crate) fn new(
        id: u64,
        label: String,
        role: Role,
        outbound_queue: usize,
        outbound_bytes: usize,
        max_outstanding: usize,
    ) -> (Self, WriterQueues) {
        let (outbound, outbound_rx) = mpsc::channel(outbound_queue.max(1));
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let (closed_tx, _) = watch::channel(None);
        let shared = Shared {
            id,
            label,
            role,
            max_outstanding,
            state: Mutex::new(State {
                closed: None,
                pending: HashMap::new(),
            }),
            closed_tx,
            outbound,
            outbound_budget: ByteBudget::new(outbound_bytes),
            control,
        };
        let queues = WriterQueues {
            outbound: outbound_rx,
            control: control_rx,
        };
        (shared, queues)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-updated
        // in a way that matters (every update is a single map/field write).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The close reason, if the session is closed.
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        self.lock().closed.clone()
    }

    /// A watch that becomes `Some(reason)` when the session closes.
    pub(crate) fn subscribe_closed(&self) -> watch::Receiver<Option<CloseReason>> {
        self.closed_tx.subscribe()
    }

    /// Closes the session: records `reason` (unless already closed), fails
    /// every outstanding query at once, and tells the tasks to stop.
    pub(crate) fn close(&self, reason: CloseReason) {
        let pending = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason.clone());
            std::mem::take(&mut state.pending)
        };
        match &reason {
            CloseReason::Local | CloseReason::Abandoned => {
                tracing::debug!(session = self.id, peer = %self.label, %reason, "session closed")
            }
            _ => tracing::info!(session = self.id, peer = %self.label, %reason, "session closed"),
        }
        for (_, slot) in pending {
            // The waiter may have gone away already; nothing to do then.
            let _ = slot.send(Err(QueryError::ConnectionClosed(reason.clone())));
        }
        self.closed_tx.send_replace(Some(reason));
    }

    /// Reserves a fresh random query id and the slot its answer goes to.
    pub(crate) fn register_query(&self) -> Result<(i64, AnswerWait), QueryError> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(QueryError::ConnectionClosed(reason.clone()));
        }
        if state.pending.len() >= self.max_outstanding {
            return Err(QueryError::TooManyOutstanding);
        }
        let id = loop {
            let candidate: i64 = rand::random();
            if !state.pending.contains_key(&candidate) {
                break candidate;
            }
        };
        let (tx, rx) = oneshot::channel();
        state.pending.insert(id, tx);
        Ok((id, rx))
    }

    /// Forgets an outstanding query (timed out or abandoned by its caller).
    pub(crate) fn forget_query(&self, id: i64) {
        self.lock().pending.remove(&id);
    }

    /// Number of queries waiting for answers.
    pub(crate) fn outstanding_queries(&self) -> usize {
        self.lock().pending.len()
    }

    /// Delivers an answer (or a remote error) to the query with `id`.
    /// Returns `false` when no such query is outstanding.
    pub(crate) fn resolve_query(&self, id: i64, result: AnswerResult) -> bool {
        let slot = self.lock().pending.remove(&id);
        match slot {
            Some(slot) => {
                // The waiter may have just timed out; then the answer is moot.
                let _ = slot.send(result);
                true
            }
            None => false,
        }
    }

    /// Queues an application frame payload, waiting while the queue is full
    /// (in frames or in bytes).
    pub(crate) async fn enqueue(&self, payload: Vec<u8>) -> Result<(), NetError> {
        if let Some(reason) = self.close_reason() {
            return Err(NetError::Closed(reason));
        }
        // The writer closes the budget and drops its receiver when it stops,
        // which wakes a sender blocked here with an error.
        let closed = || NetError::Closed(self.close_reason().unwrap_or(CloseReason::Local));
        let budget = self
            .outbound_budget
            .reserve(payload.len())
            .await
            .ok_or_else(closed)?;
        let outgoing = Outgoing {
            payload,
            _budget: budget,
        };
        self.outbound.send(outgoing).await.map_err(|_| closed())
    }

    /// Makes senders waiting for outbound budget fail (the writer stopped).
    pub(crate) fn close_outbound_budget(&self) {
        self.outbound_budget.close();
    }

    /// Queues a session-generated frame without waiting; drops it (with a
    /// log line) when the control queue is full or the session is closed.
    pub(crate) fn enqueue_control(&self, payload: Vec<u8>, what: &'static str) {
        if let Err(err) = self.control.try_send(payload) {
            let why = match err {
                mpsc::error::TrySendError::Full(_) => "control queue full",
                mpsc::error::TrySendError::Closed(_) => "session closed",
            };
            tracing::debug!(session = self.id, peer = %self.label, what, why, "dropping control frame");
        }
    }
}
