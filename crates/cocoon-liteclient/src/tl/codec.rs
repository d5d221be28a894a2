//! Bounded little-endian TL reader and writer for the lite_api types.

use super::{AccountId, BlockIdExt, TlError};

/// Bounded little-endian TL reader over a byte slice.
pub struct TlReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> TlReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TlError> {
        let end = self.pos.checked_add(n).ok_or(TlError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(TlError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TlError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u32(&mut self) -> Result<u32, TlError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, TlError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, TlError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn int256(&mut self) -> Result<[u8; 32], TlError> {
        self.array()
    }

    /// TL `bytes`/`string`: short (len < 254) or long (0xfe + 3-byte length) form, padded to 4.
    pub fn bytes(&mut self) -> Result<&'a [u8], TlError> {
        let first = *self.take(1)?.first().ok_or(TlError::Truncated)?;
        let (len, header) = match first {
            0..=253 => (usize::from(first), 1usize),
            254 => {
                let l = self.take(3)?;
                let len = usize::from(l[0]) | usize::from(l[1]) << 8 | usize::from(l[2]) << 16;
                (len, 4usize)
            }
            255 => return Err(TlError::BadBytesPrefix),
        };
        let data = self.take(len)?;
        let padding = (4 - (header + len) % 4) % 4;
        self.take(padding)?;
        Ok(data)
    }

    pub fn block_id_ext(&mut self) -> Result<BlockIdExt, TlError> {
        Ok(BlockIdExt {
            workchain: self.i32()?,
            shard: self.u64()?,
            seqno: self.u32()?,
            root_hash: self.int256()?,
            file_hash: self.int256()?,
        })
    }

    pub fn account_id(&mut self) -> Result<AccountId, TlError> {
        Ok(AccountId {
            workchain: self.i32()?,
            id: self.int256()?,
        })
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), TlError> {
        match self.buf.len().saturating_sub(self.pos) {
            0 => Ok(()),
            n => Err(TlError::TrailingBytes(n)),
        }
    }
}

/// Little-endian TL writer.
#[derive(Default)]
pub struct TlWriter {
    pub out: Vec<u8>,
}

impl TlWriter {
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn int256(&mut self, v: &[u8; 32]) -> &mut Self {
        self.out.extend_from_slice(v);
        self
    }
    /// Writes TL `bytes`. Inputs of 2^24 bytes or more cannot be represented; callers cap
    /// them earlier (an ADNL frame is itself limited to 2^24 bytes), here they are truncated.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = v.len().min(0xff_ffff);
        let header = if len < 254 {
            self.out.push(len as u8);
            1
        } else {
            self.out.push(254);
            self.out.extend_from_slice(&(len as u32).to_le_bytes()[..3]);
            4
        };
        self.out.extend_from_slice(&v[..len]);
        let padding = (4 - (header + len) % 4) % 4;
        self.out.extend(std::iter::repeat_n(0u8, padding));
        self
    }
    pub fn block_id_ext(&mut self, id: &BlockIdExt) -> &mut Self {
        self.i32(id.workchain).u64(id.shard).u32(id.seqno);
        self.int256(&id.root_hash).int256(&id.file_hash)
    }
    pub fn account_id(&mut self, a: &AccountId) -> &mut Self {
        self.i32(a.workchain).int256(&a.id)
    }
}
