//! Session roles and tunables.

use std::time::Duration;

/// Default byte budget of each queue: two maximum-size frames.
pub const DEFAULT_QUEUE_BYTES: usize = 32 << 20;

/// Which side of the connection this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that opened the connection: sends `tcp.connect` and pings a
    /// quiet link.
    Dialer,
    /// The side that accepted the connection: answers `tcp.connect` and never
    /// pings.
    Acceptor,
}

/// Tunables of one session. Start from [`SessionConfig::dialer`] or
/// [`SessionConfig::acceptor`] (the reference's timer values) and adjust.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Which side this is.
    pub role: Role,
    /// Free-form name of the peer for logs (e.g. its address). Empty means
    /// `session#<id>`.
    pub label: String,
    /// The dialer sends one `tcp.ping` after this long without receiving a
    /// frame (reference: 10 s). Ignored by the acceptor unless
    /// [`acceptor_pings`](Self::acceptor_pings) is set.
    pub ping_interval: Duration,
    /// The acceptor pings a quiet link too (every `ping_interval`), so a peer
    /// that stops answering is noticed after `idle_timeout` even when it has
    /// nothing to send (our extension: the reference acceptor never pings;
    /// a reference dialer answers pings all the same).
    pub acceptor_pings: bool,
    /// The session closes after this long without receiving a frame
    /// (reference: 20 s dialer, 60 s acceptor).
    pub idle_timeout: Duration,
    /// Limit for the `tcp.connect` / `tcp.connected` exchange (the reference
    /// arms its idle timer from the start, so it uses the idle timeout).
    pub handshake_timeout: Duration,
    /// Timeout used by [`Session::call_default`](crate::Session::call_default).
    pub default_query_timeout: Duration,
    /// Frames that may wait for the writer; `send` waits when it is full.
    pub outbound_queue: usize,
    /// Bytes of frame payload that may wait for the writer; `send` waits
    /// when they are used up (a message larger than this waits for an
    /// empty queue).
    pub outbound_bytes: usize,
    /// Received packets/queries that may wait for the application; the
    /// reader stops reading the socket while it is full.
    pub inbound_queue: usize,
    /// Bytes of received packet/query data that may wait for the
    /// application; the reader stops reading while they are used up.
    pub inbound_bytes: usize,
    /// Most queries this side may have waiting for answers at once.
    pub max_outstanding_queries: usize,
}

impl SessionConfig {
    /// Defaults for the dialing side (ping after 10 s, idle close after 20 s).
    pub fn dialer() -> Self {
        Self::for_role(Role::Dialer)
    }

    /// Defaults for the accepting side (idle close after 60 s, no pings).
    pub fn acceptor() -> Self {
        Self::for_role(Role::Acceptor)
    }

    /// Defaults for `role`.
    pub fn for_role(role: Role) -> Self {
        let idle_timeout = match role {
            Role::Dialer => Duration::from_secs(20),
            Role::Acceptor => Duration::from_secs(60),
        };
        SessionConfig {
            role,
            label: String::new(),
            ping_interval: Duration::from_secs(10),
            acceptor_pings: false,
            idle_timeout,
            handshake_timeout: idle_timeout,
            default_query_timeout: Duration::from_secs(30),
            outbound_queue: 256,
            outbound_bytes: DEFAULT_QUEUE_BYTES,
            inbound_queue: 256,
            inbound_bytes: DEFAULT_QUEUE_BYTES,
            max_outstanding_queries: 4096,
        }
    }

    /// Liveness checking: ping a quiet link every `limit / 3` (whichever the
    /// role) and close it after `limit` without a frame from the peer.
    pub fn with_liveness(mut self, limit: Duration) -> Self {
        self.acceptor_pings = true;
        self.ping_interval = limit / 3;
        self.idle_timeout = limit;
        self
    }

    /// Sets the log label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}
