//! # cocoon-wire — the COCOON wire format, without I/O
//!
//! The lowest layer of cocoon-rs. It knows bytes and nothing else: the TL
//! ("Type Language", TON dialect) codec generated from the project's schema
//! file `schema/cocoon.tl`, and the frame format (`u32 len | i32 seqno | payload`)
//! used on every COCOON TCP link. It performs no I/O and depends on no other
//! cocoon crate; higher layers (`cocoon-net`, `cocoon-node`) drive it.
