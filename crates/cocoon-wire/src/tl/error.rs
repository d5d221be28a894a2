//! Decode errors: what went wrong, at which byte offset, and in which
//! constructor field.

use std::fmt;

/// What made a decode fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The input ended before a value was complete.
    #[error("input ends early: {needed} more bytes needed, {available} left")]
    UnexpectedEnd { needed: u64, available: usize },
    /// A `string`/`bytes` length above [`MAX_STRING_LEN`](crate::tl::MAX_STRING_LEN).
    #[error("string of {length} bytes exceeds the limit of {limit} bytes")]
    StringTooLong { length: u64, limit: usize },
    /// A vector count below zero.
    #[error("negative vector count {0}")]
    NegativeCount(i32),
    /// A vector count that the remaining input cannot hold.
    #[error("vector count {count} cannot fit in the remaining input (at most {max})")]
    VectorTooLong { count: u32, max: usize },
    /// A constructor id that is not a constructor of the expected type.
    #[error("unknown constructor id {id:#010x} for type {expected}")]
    UnknownConstructor { id: u32, expected: &'static str },
    /// A `Bool` that is neither `boolTrue` nor `boolFalse`.
    #[error("{0:#010x} is not a Bool constructor")]
    InvalidBool(u32),
    /// A TL `string` that is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// Bytes left over after the top-level object.
    #[error("{0} bytes left over after the object")]
    TrailingBytes(usize),
    /// Objects nested deeper than [`MAX_DEPTH`](crate::tl::MAX_DEPTH).
    #[error("objects nested deeper than {0} levels")]
    TooDeep(u32),
}

/// Where in the schema a decode error happened (innermost field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// TL name of the constructor being read.
    pub constructor: Option<&'static str>,
    /// Name of the field being read.
    pub field: Option<&'static str>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.constructor, self.field) {
            (Some(c), Some(field)) => write!(f, " (in {c}.{field})"),
            (Some(c), None) => write!(f, " (in {c})"),
            (None, Some(field)) => write!(f, " (in field {field})"),
            (None, None) => Ok(()),
        }
    }
}

/// A TL decode failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}{location}")]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Byte offset in the input where it was detected.
    pub offset: usize,
    /// The innermost constructor field being read.
    pub location: Location,
}

impl DecodeError {
    /// A new error without location.
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self {
            kind,
            offset,
            location: Location::default(),
        }
    }

    /// Records the constructor field being read, unless an inner one is already recorded.
    pub fn in_field(mut self, constructor: &'static str, field: &'static str) -> Self {
        if self.location.constructor.is_none() {
            self.location = Location {
                constructor: Some(constructor),
                field: Some(field),
            };
        }
        self
    }
}
