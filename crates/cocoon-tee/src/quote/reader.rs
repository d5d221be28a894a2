//! Bounds-checked little-endian cursor over untrusted quote bytes. Every read
//! returns `Result`; nothing here can panic on short or hostile input.

use crate::AttestError;

/// A cursor over a byte slice; reads past the end are errors naming the field.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The next `len` bytes, or an error naming `what` was truncated.
    pub(crate) fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], AttestError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or_else(|| AttestError::malformed(format!("{what}: length overflow")))?;
        match self.bytes.get(self.pos..end) {
            Some(slice) => {
                self.pos = end;
                Ok(slice)
            }
            None => Err(AttestError::malformed(format!(
                "truncated: {what} needs {len} bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            ))),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], AttestError> {
        let slice = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, AttestError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, AttestError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn skip(&mut self, len: usize, what: &str) -> Result<(), AttestError> {
        self.take(len, what).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_stops_at_the_end() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 9]);
        assert_eq!(r.u16("a").ok(), Some(1));
        assert_eq!(r.u32("b").ok(), Some(2));
        assert_eq!(r.remaining(), 1);
        let err = r.u16("c").err();
        assert!(
            matches!(err, Some(AttestError::QuoteMalformed { .. })),
            "{err:?}"
        );
        assert_eq!(r.position(), 6, "a failed read does not advance");
    }

    #[test]
    fn huge_length_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[0; 4]);
        assert!(r.take(usize::MAX, "x").is_err());
        r.skip(2, "y").ok();
        assert!(r.take(usize::MAX, "x").is_err());
    }
}
