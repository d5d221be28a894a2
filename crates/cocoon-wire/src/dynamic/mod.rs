//! Schema-driven TL ↔ JSON conversion for tools and tests.
//!
//! The constructor table ([`constructors`]) is generated from
//! `schema/cocoon.tl` together with the typed layer, so both always agree.
//!
//! JSON form of a TL object (see [`decode_json`] / [`encode_json`]):
//! * an object with `"@type"` = constructor name and one key per field
//!   (bare nested objects carry `"@type"` too; on input it is optional for
//!   them and, if given, must match);
//! * `int`, `#` → number; `long` → number if |v| ≤ 2^53, else a decimal
//!   string (both accepted on input); `double` → number, or for non-finite
//!   values the strings `"Infinity"`, `"-Infinity"`, `"NaN"` (the canonical
//!   quiet NaN) or `"NaN:0x<16 hex digits>"` (any other NaN bit pattern);
//! * `string` → string; `bytes`, `int128`, `int256` → base64 (standard
//!   alphabet, padded); `Bool` → `true`/`false`; vectors → arrays;
//! * optional (`flags.N?T`) fields are omitted when absent. On input a field
//!   that is present (and not `null`) sets its bit in the flags word; a bit
//!   that is set requires every field it governs.
//!
//! [`encode_json`] ∘ [`decode_json`] is the identity on every canonical
//! encoding (zero padding, shortest length prefix — what every encoder writes).
//! The decoder, like the reference, also accepts non-zero padding and long
//! length prefixes; re-encoding such input yields the canonical form.

mod decode;
mod encode;

pub use decode::decode_json;
pub use encode::{encode_json, EncodeError};

/// Type of a field as declared in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Int,
    Long,
    Double,
    String,
    Bytes,
    Int128,
    Int256,
    Bool,
    /// `#`: a u32 flags word.
    Flags,
    /// `(vector T)`, bare.
    Vector(&'static FieldType),
    /// A constructor written bare (no id): its full name.
    Bare(&'static str),
    /// A boxed type (id first): its full type name.
    Boxed(&'static str),
}

/// `flags.N?T`: the field is present iff bit `bit` of `flags_field` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldCondition {
    pub flags_field: &'static str,
    pub bit: u8,
}

/// One field of a constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: &'static str,
    pub ty: FieldType,
    pub condition: Option<FieldCondition>,
}

/// One constructor or function of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstructorInfo {
    /// Full name, e.g. `tcp.ping`.
    pub name: &'static str,
    /// Id on the wire.
    pub id: u32,
    /// Whether the id is pinned by an explicit `#id` in the schema.
    pub explicit_id: bool,
    /// A function (request) rather than a data constructor.
    pub is_function: bool,
    /// The boxed type this constructor builds (or the function returns).
    pub result_type: &'static str,
    /// The normalised declaration (CRC-32 input for implicit ids).
    pub declaration: &'static str,
    pub fields: &'static [FieldInfo],
}

include!(concat!(env!("OUT_DIR"), "/schema_table.rs"));

/// Every constructor and function of the schema, in schema order.
pub fn constructors() -> &'static [ConstructorInfo] {
    CONSTRUCTORS
}

/// The constructor or function with this id.
pub fn find_by_id(id: u32) -> Option<&'static ConstructorInfo> {
    index_by_id(id).and_then(|i| CONSTRUCTORS.get(i))
}

/// The constructor or function with this full name.
pub fn find_by_name(name: &str) -> Option<&'static ConstructorInfo> {
    index_by_name(name).and_then(|i| CONSTRUCTORS.get(i))
}

/// `(name, id)` of every schema constructor and function plus the built-ins
/// `boolTrue`, `boolFalse` and `vector`, sorted by name.
pub fn all_ids() -> Vec<(&'static str, u32)> {
    let mut ids: Vec<(&'static str, u32)> = CONSTRUCTORS
        .iter()
        .map(|c| (c.name, c.id))
        .chain(BUILTINS.iter().copied())
        .collect();
    ids.sort_unstable();
    ids
}

/// Smallest wire size of a value of `ty` (bounds vector counts when decoding).
fn min_size(ty: &FieldType) -> usize {
    match ty {
        FieldType::Int
        | FieldType::Flags
        | FieldType::Bool
        | FieldType::String
        | FieldType::Bytes
        | FieldType::Vector(_)
        | FieldType::Boxed(_) => 4,
        FieldType::Long | FieldType::Double => 8,
        FieldType::Int128 => 16,
        FieldType::Int256 => 32,
        FieldType::Bare(name) => index_by_name(name).map(bare_min_size).unwrap_or(0),
    }
}

/// Largest `long` written as a JSON number (beyond, a string keeps it exact).
const MAX_SAFE_JSON_INTEGER: i64 = 1 << 53;

/// Bit pattern of the NaN written as plain `"NaN"`.
const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;
