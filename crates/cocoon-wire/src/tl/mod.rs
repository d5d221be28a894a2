//! TL runtime: the codec traits implemented by the generated types, the
//! bounds-checked [`Reader`], the encoding primitives and the
//! [`to_bytes`]/[`from_bytes`] entry points.
//!
//! Encoding follows the TON TL dialect used by COCOON: little-endian
//! integers, `string`/`bytes` with a 1- or 4-byte length prefix padded to a
//! multiple of 4, boxed `Bool`, bare vectors (`i32` count + elements).

mod error;
mod reader;
mod write;

pub use error::{DecodeError, DecodeErrorKind, Location};
pub use reader::{Reader, MAX_DEPTH, MAX_STRING_LEN};
pub use write::{
    string_len, write_bool, write_bytes, write_f64, write_i32, write_i64, write_string, write_u32,
    write_vector_len,
};

/// Writes a value in its bare form (fields only, no constructor id).
pub trait TlWrite {
    /// Appends the bare encoding of `self` to `out`.
    fn write_bare(&self, out: &mut Vec<u8>);
    /// Exact length of the bare encoding.
    fn bare_len(&self) -> usize;
}

/// Reads a value in its bare form.
pub trait TlRead: Sized {
    /// Reads the fields of `Self` from `r`.
    fn read_bare(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// A value written with its constructor id first: every enum over a boxed
/// type, every constructor struct and every function.
pub trait Boxed: Sized {
    /// Appends constructor id and fields to `out`.
    fn write_boxed(&self, out: &mut Vec<u8>);
    /// Exact length of the boxed encoding.
    fn boxed_len(&self) -> usize;
    /// Reads a constructor id and the fields; fails on an id that does not belong to `Self`.
    fn read_boxed(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// A schema constructor or function with a fixed id.
pub trait Identifiable {
    /// Constructor id on the wire.
    const CONSTRUCTOR_ID: u32;
    /// Full TL name, e.g. `tcp.ping`.
    const NAME: &'static str;
}

/// A TL function: a request whose answer is a `Return`.
pub trait RemoteCall: Boxed + Identifiable {
    /// The boxed type of the answer.
    type Return: Boxed;
}

/// Encodes `value` boxed (constructor id first).
pub fn to_bytes<T: Boxed>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.boxed_len());
    value.write_boxed(&mut out);
    out
}

/// Decodes a boxed `T` that must span the whole of `bytes`.
pub fn from_bytes<T: Boxed>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::read_boxed(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// The constructor id at the start of `bytes`, if there are at least 4 bytes.
pub fn peek_constructor_id(bytes: &[u8]) -> Option<u32> {
    let head: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(head))
}

#[cfg(test)]
mod peek_tests {
    use super::peek_constructor_id;

    #[test]
    fn peek_constructor_id_needs_four_bytes() {
        assert_eq!(peek_constructor_id(&[1, 2, 3]), None);
        assert_eq!(
            peek_constructor_id(&[0x7c, 0x62, 0xe9, 0xbb, 9]),
            Some(0xbbe9627c)
        );
    }
}
