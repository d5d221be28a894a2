//! # cocoon-wire — the COCOON wire format, without I/O
//!
//! The lowest layer of cocoon-rs. It knows bytes and nothing else: the TL
//! ("Type Language", TON dialect) codec generated from the project's schema
//! file `schema/cocoon.tl`, and the frame format (`u32 len | i32 seqno | payload`)
//! used on every COCOON TCP link. It performs no I/O and depends on no other
//! cocoon crate; higher layers (`cocoon-net`, `cocoon-node`) drive it.
//!
//! Modules:
//! * [`schema`]: Rust types generated from `schema/cocoon.tl` by `build.rs`
//!   (constructor ids are computed there: CRC-32 of the normalised
//!   declaration, or the explicit `#id`; none are typed by hand).
//! * [`tl`]: the codec traits ([`tl::TlWrite`], [`tl::TlRead`],
//!   [`tl::Boxed`]), the bounds-checked [`tl::Reader`] and the entry points
//!   [`tl::to_bytes`] / [`tl::from_bytes`].
//! * [`dynamic`]: schema-driven decoding/encoding between TL bytes and JSON,
//!   for tools (`cocoon tl`) and tests.
//!
//! Untrusted input never panics: every decoder checks lengths against the
//! remaining input and the limits in [`tl`] before allocating.
//!
//! ```
//! use cocoon_wire::schema::{enums, types};
//! use cocoon_wire::tl::{from_bytes, to_bytes};
//!
//! let ping = enums::tcp::Packet::Ping(types::tcp::Ping { id: 7 });
//! let bytes = to_bytes(&ping);
//! assert_eq!(&bytes[..4], &types::tcp::Ping::CONSTRUCTOR_ID.to_le_bytes());
//! assert_eq!(from_bytes::<enums::tcp::Packet>(&bytes).unwrap(), ping);
//! ```

pub mod dynamic;
pub mod frame;
pub mod schema;
pub mod tl;
