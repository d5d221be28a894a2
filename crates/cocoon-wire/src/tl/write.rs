//! Encoding primitives (TON TL dialect, little-endian, 4-byte aligned).

use crate::schema::builtin_ids;

/// Appends an `int`.
#[inline]
pub fn write_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `#` flags word or a constructor id.
#[inline]
pub fn write_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `long`.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `double` (IEEE-754 bits, little-endian).
#[inline]
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Appends a boxed `Bool` (`boolTrue` / `boolFalse`).
#[inline]
pub fn write_bool(out: &mut Vec<u8>, v: bool) {
    write_u32(
        out,
        if v {
            builtin_ids::BOOL_TRUE
        } else {
            builtin_ids::BOOL_FALSE
        },
    );
}

/// Length of the prefix in front of `len` bytes of string data.
#[inline]
fn string_header_len(len: usize) -> usize {
    if len < 254 {
        1
    } else if len < (1 << 24) {
        4
    } else {
        8
    }
}

/// Encoded size of a `string`/`bytes` of `len` bytes: prefix, data, padding to 4.
#[inline]
pub fn string_len(len: usize) -> usize {
    (string_header_len(len) + len + 3) & !3
}

/// Appends a `bytes` value: length prefix, data, zero padding to a multiple of 4.
pub fn write_bytes(out: &mut Vec<u8>, data: &[u8]) {
    let len = data.len();
    out.reserve(string_len(len));
    if len < 254 {
        out.push(len as u8);
    } else if len < (1 << 24) {
        out.push(0xfe);
        out.extend_from_slice(&(len as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xff);
        out.extend_from_slice(&(len as u64).to_le_bytes()[..7]);
    }
    out.extend_from_slice(data);
    let padding = string_len(len) - string_header_len(len) - len;
    out.extend_from_slice(&[0u8; 3][..padding]);
}

/// Appends a `string` value (same encoding as `bytes`).
#[inline]
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    write_bytes(out, text.as_bytes());
}

/// Appends the `i32` element count of a bare vector.
///
/// Counts above `i32::MAX` cannot be represented; they are written as
/// `i32::MAX` (no such vector fits in a frame anyway).
#[inline]
pub fn write_vector_len(out: &mut Vec<u8>, len: usize) {
    write_i32(out, i32::try_from(len).unwrap_or(i32::MAX));
}
