//! The COCOON frame format, sans I/O.
//!
//! Every COCOON TCP link (after the optional SOCKS5 / attested-peer-info /
//! TLS preamble) is a sequence of frames, one per direction:
//!
//! ```text
//! u32 len (LE) | i32 seqno (LE) | len bytes of payload
//! ```
//!
//! `len` counts the payload only and must lie in
//! [`MIN_FRAME_PAYLOAD`]`..=`[`MAX_FRAME_PAYLOAD`]; `seqno` starts at 0 in each
//! direction and grows by one per frame. The payload is one boxed TL object
//! (`tcp.connect`/`tcp.connected` before initialisation, a `tcp.Packet`
//! afterwards), but this module does not look inside it.
//!
//! [`FrameEncoder`] turns payloads into frames and refuses payloads outside the
//! allowed range with an error (the reference implementation silently dropped
//! them before April 2026 and fails the connection since). [`FrameDecoder`]
//! accepts bytes in arbitrary chunks and yields whole payloads; it validates
//! the length and the seqno as soon as the 8-byte header is complete, before
//! waiting for the body, and stays failed after the first violation.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Size of the frame header (`len` + `seqno`).
pub const FRAME_HEADER_LEN: usize = 8;
/// Smallest payload a frame may carry (one TL constructor id).
pub const MIN_FRAME_PAYLOAD: usize = 4;
/// Largest payload a frame may carry (16 MiB).
pub const MAX_FRAME_PAYLOAD: usize = 1 << 24;

/// Largest chunk the decoder asks to reserve at once when told to prepare
/// for a read (see [`FrameDecoder::reserve_for_read`]).
const READ_RESERVE_CHUNK: usize = 64 * 1024;
/// Smallest chunk the decoder reserves for a read.
const READ_RESERVE_MIN: usize = 4 * 1024;

/// A violation of the frame format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A payload length outside `MIN_FRAME_PAYLOAD..=MAX_FRAME_PAYLOAD`
    /// (when encoding: the payload handed in; when decoding: the header).
    #[error(
        "frame payload length {len} is outside the allowed range \
         {MIN_FRAME_PAYLOAD}..={MAX_FRAME_PAYLOAD}"
    )]
    LengthOutOfRange {
        /// The offending length.
        len: u64,
    },
    /// A received frame whose seqno is not the next one expected.
    #[error("bad seqno: expected {expected}, got {got}")]
    BadSeqno {
        /// The seqno the decoder expected.
        expected: i32,
        /// The seqno found in the header.
        got: i32,
    },
}

/// Checks that a payload length is allowed inside a frame.
pub fn check_payload_len(len: usize) -> Result<(), FrameError> {
    if (MIN_FRAME_PAYLOAD..=MAX_FRAME_PAYLOAD).contains(&len) {
        Ok(())
    } else {
        Err(FrameError::LengthOutOfRange { len: len as u64 })
    }
}

/// Produces the outgoing frames of one direction, numbering them.
#[derive(Debug, Default, Clone)]
pub struct FrameEncoder {
    next_seqno: i32,
}

impl FrameEncoder {
    /// A fresh encoder whose first frame gets seqno 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seqno the next encoded frame will carry.
    pub fn next_seqno(&self) -> i32 {
        self.next_seqno
    }

    /// Appends one frame carrying `payload` to `dst` and advances the seqno.
    ///
    /// A payload outside the allowed range is rejected; then nothing is
    /// written and the seqno does not advance.
    pub fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        check_payload_len(payload.len())?;
        // In range, so it fits in u32.
        let len = payload.len() as u32;
        dst.reserve(FRAME_HEADER_LEN + payload.len());
        dst.put_u32_le(len);
        dst.put_i32_le(self.next_seqno);
        dst.put_slice(payload);
        // The reference numbers frames with a plain i32 counter; wrapping keeps
        // both sides in step even past 2^31 frames.
        self.next_seqno = self.next_seqno.wrapping_add(1);
        Ok(())
    }

    /// Encodes one frame into a fresh vector.
    pub fn encode_to_vec(&mut self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut dst = BytesMut::with_capacity(FRAME_HEADER_LEN + payload.len());
        self.encode(payload, &mut dst)?;
        Ok(dst.to_vec())
    }
}

/// Reassembles the incoming frames of one direction from a byte stream.
///
/// Feed bytes with [`push`](Self::push) (or read straight into
/// [`buffer_mut`](Self::buffer_mut)), then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
    expected_seqno: i32,
    /// Payload length of the frame whose header has been validated and
    /// consumed but whose body is not complete yet.
    body_len: Option<usize>,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A fresh decoder expecting seqno 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seqno the next frame must carry.
    pub fn expected_seqno(&self) -> i32 {
        self.expected_seqno
    }

    /// Bytes received but not yet returned as part of a frame.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the decoder holds a partial frame (header or body).
    pub fn has_partial_frame(&self) -> bool {
        self.body_len.is_some() || !self.buf.is_empty()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The receive buffer, for reading straight into it (e.g. with
    /// `AsyncReadExt::read_buf`). Only append to it.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Ensures spare capacity for the next read: at least a few KiB, and as
    /// much of the current frame's missing bytes as fits in 64 KiB. Memory
    /// therefore grows only as the peer actually sends bytes.
    pub fn reserve_for_read(&mut self) {
        let missing = match self.body_len {
            Some(len) => len.saturating_sub(self.buf.len()),
            None => FRAME_HEADER_LEN.saturating_sub(self.buf.len()),
        };
        let want = missing.clamp(READ_RESERVE_MIN, READ_RESERVE_CHUNK);
        self.buf.reserve(want);
    }

    /// Returns the next complete payload, `Ok(None)` if more bytes are
    /// needed, or the framing violation. After a violation every later call
    /// returns the same error.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let body_len = match self.body_len {
            Some(len) => len,
            None => match self.take_header() {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(None),
                Err(err) => {
                    self.failed = Some(err.clone());
                    return Err(err);
                }
            },
        };
        if self.buf.len() < body_len {
            self.body_len = Some(body_len);
            return Ok(None);
        }
        self.body_len = None;
        Ok(Some(self.buf.split_to(body_len).freeze()))
    }

    /// Validates and consumes a complete header, if one is buffered.
    fn take_header(&mut self) -> Result<Option<usize>, FrameError> {
        let Some(header) = self.buf.get(..FRAME_HEADER_LEN) else {
            return Ok(None);
        };
        let mut header = header;
        let len = header.get_u32_le();
        let seqno = header.get_i32_le();
        let len = usize::try_from(len).map_err(|_| FrameError::LengthOutOfRange {
            len: u64::from(len),
        })?;
        check_payload_len(len)?;
        if seqno != self.expected_seqno {
            return Err(FrameError::BadSeqno {
                expected: self.expected_seqno,
                got: seqno,
            });
        }
        self.buf.advance(FRAME_HEADER_LEN);
        self.expected_seqno = self.expected_seqno.wrapping_add(1);
        Ok(Some(len))
    }
}

#[cfg(test)]
mod tests;
