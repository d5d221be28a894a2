//! Types generated from `schema/cocoon.tl` by the build script.
//!
//! * [`types`]: one struct per constructor, in a module per namespace
//!   (`tcp.ping` → `types::tcp::Ping`, `tokensUsed` → `types::TokensUsed`;
//!   camel-case namespaces become snake case: `rootConfig` → `root_config`).
//! * [`enums`]: one enum per boxed type, one variant per constructor
//!   (`tcp.Packet` → `enums::tcp::Packet::{Ping, Pong, ...}`).
//! * [`functions`]: one struct per function, with [`RemoteCall::Return`]
//!   naming the answer type, plus [`functions::AnyFunction`].
//! * [`builtin_ids`]: ids of the built-in `boolTrue`, `boolFalse`, `vector`.
//!
//! Field types: `int` → `i32`, `long` → `i64`, `double` → `f64`,
//! `string` → `String` (UTF-8 required), `bytes` → `Vec<u8>`,
//! `int128`/`int256` → `[u8; 16]`/`[u8; 32]`, `Bool` → `bool`, `#` → `u32`,
//! `flags.N?T` → `Option<T>`, `(vector T)` → `Vec<T>`, a lower-case
//! constructor name → that struct (bare), an upper-case type → its enum (boxed).
//!
//! Every struct and enum implements [`Boxed`]; structs also implement
//! [`TlWrite`], [`TlRead`] and [`Identifiable`]. When writing, each `#`
//! field is derived from the stored value: the bit of an optional field is set
//! iff one of the fields it governs is `Some` (a `None` field sharing a set
//! bit is written as its default value); other bits are kept as stored.
//!
//! [`RemoteCall::Return`]: crate::tl::RemoteCall::Return
//! [`Boxed`]: crate::tl::Boxed
//! [`TlWrite`]: crate::tl::TlWrite
//! [`TlRead`]: crate::tl::TlRead
//! [`Identifiable`]: crate::tl::Identifiable

include!(concat!(env!("OUT_DIR"), "/schema.rs"));
