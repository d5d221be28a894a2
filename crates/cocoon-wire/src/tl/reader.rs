//! Bounds-checked reader over untrusted TL bytes.
//!
//! Every read checks the remaining input first, so truncated or hostile input
//! yields a [`DecodeError`] and never a panic. Lengths and vector counts are
//! checked against the remaining input *before* anything is allocated.

use super::error::{DecodeError, DecodeErrorKind};
use crate::schema::builtin_ids;

/// Largest `string`/`bytes` value accepted (the frame limit, 16 MiB).
pub const MAX_STRING_LEN: usize = 1 << 24;

/// Deepest nesting of objects accepted.
pub const MAX_DEPTH: u32 = 64;

/// Upper bound on elements pre-allocated for a vector before reading them.
const MAX_PREALLOCATED_ELEMENTS: usize = 4096;

/// A cursor over a TL-encoded buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            depth: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    /// An error of `kind` at the current position.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    /// Fails with [`DecodeErrorKind::TrailingBytes`] unless all input was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(DecodeErrorKind::TrailingBytes(n))),
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(self.error(DecodeErrorKind::UnexpectedEnd {
                needed: n as u64,
                available: rest.len(),
            })),
        }
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads an `int`.
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.take_array()?))
    }

    /// Reads a `#` flags word.
    pub fn read_u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take_array()?))
    }

    /// Reads a `long`.
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.take_array()?))
    }

    /// Reads a `double`.
    pub fn read_f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.take_array()?)))
    }

    /// Reads an `int128` (16 raw bytes).
    pub fn read_int128(&mut self) -> Result<[u8; 16], DecodeError> {
        self.take_array()
    }

    /// Reads an `int256` (32 raw bytes).
    pub fn read_int256(&mut self) -> Result<[u8; 32], DecodeError> {
        self.take_array()
    }

    /// Reads a boxed `Bool`.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        let start = self.pos;
        match self.read_u32()? {
            builtin_ids::BOOL_TRUE => Ok(true),
            builtin_ids::BOOL_FALSE => Ok(false),
            other => Err(DecodeError::new(DecodeErrorKind::InvalidBool(other), start)),
        }
    }

    /// Reads a `bytes`/`string` value without copying it.
    ///
    /// Accepts every length form the reference accepts (including a long
    /// prefix for a short value) and does not check the padding bytes.
    pub fn read_bytes_ref(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let [first] = self.take_array::<1>()?;
        let (len, header): (u64, usize) = match first {
            0..=253 => (u64::from(first), 1),
            254 => {
                let b: [u8; 3] = self.take_array()?;
                (
                    u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16,
                    4,
                )
            }
            255 => {
                let b: [u8; 7] = self.take_array()?;
                let [b0, b1, b2, b3, b4, b5, b6] = b;
                (u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, 0]), 8)
            }
        };
        if len > MAX_STRING_LEN as u64 {
            return Err(DecodeError::new(
                DecodeErrorKind::StringTooLong {
                    length: len,
                    limit: MAX_STRING_LEN,
                },
                start,
            ));
        }
        // Bounded by MAX_STRING_LEN above, so this fits in usize.
        let len = len as usize;
        let padded = (header + len + 3) & !3;
        let needed = padded - header;
        if needed > self.remaining() {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd {
                needed: needed as u64,
                available: self.remaining(),
            }));
        }
        let data = self.take(len)?;
        self.take(needed - len)?;
        Ok(data)
    }

    /// Reads a `bytes` value.
    pub fn read_bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        Ok(self.read_bytes_ref()?.to_vec())
    }

    /// Reads a `string` value; invalid UTF-8 is an error.
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        let start = self.pos;
        let bytes = self.read_bytes_ref()?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, start)),
        }
    }

    /// Reads a constructor id.
    pub fn read_constructor_id(&mut self) -> Result<u32, DecodeError> {
        self.read_u32()
    }

    /// Reads a constructor id and requires it to be `id` (of constructor `name`).
    pub fn expect_constructor(&mut self, id: u32, name: &'static str) -> Result<(), DecodeError> {
        let got = self.read_u32()?;
        if got == id {
            Ok(())
        } else {
            Err(self.unknown_constructor(got, name))
        }
    }

    /// The error for an unexpected constructor id just read.
    pub fn unknown_constructor(&self, id: u32, expected: &'static str) -> DecodeError {
        DecodeError::new(
            DecodeErrorKind::UnknownConstructor { id, expected },
            self.pos.saturating_sub(4),
        )
    }

    /// Reads a bare vector's element count, checking that `count` elements of
    /// at least `min_element_size` bytes each fit in the remaining input.
    pub fn read_vector_len(&mut self, min_element_size: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let count = self.read_i32()?;
        let count = u32::try_from(count)
            .map_err(|_| DecodeError::new(DecodeErrorKind::NegativeCount(count), start))?;
        // Zero-sized elements still cost a loop iteration each: bound them by the input too.
        let max = self.remaining() / min_element_size.max(1);
        if count as usize > max {
            return Err(DecodeError::new(
                DecodeErrorKind::VectorTooLong { count, max },
                start,
            ));
        }
        Ok(count as usize)
    }

    /// Reads a bare vector whose elements are read by `read_element`.
    pub fn read_vector<T>(
        &mut self,
        min_element_size: usize,
        mut read_element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.read_vector_len(min_element_size)?;
        let mut items = Vec::with_capacity(count.min(MAX_PREALLOCATED_ELEMENTS));
        for _ in 0..count {
            items.push(read_element(self)?);
        }
        Ok(items)
    }

    /// Enters one level of object nesting.
    pub fn enter(&mut self) -> Result<(), DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(DecodeErrorKind::TooDeep(MAX_DEPTH)));
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves one level of object nesting.
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Runs `read` for field `field` of `constructor`, attaching that location to errors.
    #[inline]
    pub fn field<T>(
        &mut self,
        constructor: &'static str,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        read(self).map_err(|e| e.in_field(constructor, field))
    }
}
