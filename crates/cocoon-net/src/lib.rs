//! # cocoon-net — connections and RPC sessions
//!
//! Drives the frame layer of `cocoon-wire` over any `AsyncRead + AsyncWrite`:
//! `tcp.connect` initialisation, ping/pong and idle timers, queries with
//! per-query timeouts, one-way packets, and back-pressure.
