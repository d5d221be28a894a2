//! The few td/TL serialization primitives the record uses (tee.md §2):
//! little-endian `i32`/`u32`, raw fixed arrays, and TL strings (1-byte length
//! below 254, else `0xFE` + 3-byte LE length; zero padding to a multiple of 4).

use super::PeerInfoError;

/// A bounds-checked cursor over a record.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(super) fn bytes(
        &mut self,
        n: usize,
        what: &'static str,
    ) -> Result<&'a [u8], PeerInfoError> {
        if self.rest.len() < n {
            return Err(PeerInfoError::Truncated {
                what,
                needed: n,
                left: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], PeerInfoError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, PeerInfoError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(super) fn i32(&mut self, what: &'static str) -> Result<i32, PeerInfoError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    /// A TL string in canonical form (shortest length form, zero padding).
    pub(super) fn string(&mut self, what: &'static str) -> Result<&'a [u8], PeerInfoError> {
        let bad = |reason: &str| PeerInfoError::BadString {
            what,
            reason: reason.to_owned(),
        };
        let [first] = self.array::<1>(what)?;
        let (len, prefix) = match first {
            0..=253 => (usize::from(first), 1),
            254 => {
                let [a, b, c] = self.array::<3>(what)?;
                let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
                if len < 254 {
                    return Err(bad("long length form for a short string"));
                }
                (len, 4)
            }
            _ => return Err(bad("8-byte length form")),
        };
        let data = self.bytes(len, what)?;
        let padding = (4 - (prefix + len) % 4) % 4;
        if self.bytes(padding, what)?.iter().any(|b| *b != 0) {
            return Err(bad("non-zero padding"));
        }
        Ok(data)
    }

    /// Succeeds only when everything was read.
    pub(super) fn finish(self) -> Result<(), PeerInfoError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(PeerInfoError::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }
}

/// Appends the same primitives to a buffer.
#[derive(Default)]
pub(super) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub(super) fn i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// A TL string. Lengths of 2^24 and more are cut to fit the 3-byte form;
    /// the record's own size limit refuses such output long before.
    pub(super) fn string(&mut self, data: &[u8]) {
        let len = data.len().min((1 << 24) - 1);
        let prefix = if len < 254 {
            self.out.push(len as u8);
            1
        } else {
            self.out.push(254);
            self.out.extend_from_slice(&(len as u32).to_le_bytes()[..3]);
            4
        };
        self.out.extend_from_slice(&data[..len]);
        let padding = (4 - (prefix + len) % 4) % 4;
        self.out.extend(std::iter::repeat_n(0u8, padding));
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}
