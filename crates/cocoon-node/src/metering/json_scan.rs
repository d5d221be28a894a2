//! A byte-at-a-time scanner over concatenated JSON values that picks out the top-level `usage`
//! member of each value without buffering the value itself.
//!
//! Memory is bounded: only an object key at depth 1 (≤ [`MAX_KEY_BYTES`]) and the `usage` object
//! (≤ [`MAX_USAGE_BYTES`]) are buffered. The scanner tracks strings, escapes and nesting depth; it
//! does not validate the JSON grammar. A `usage` object counts only once the top-level value that
//! holds it is closed (the reference counts complete JSON values only).

use super::TokenUsage;

/// Longest depth-1 object key we buffer; longer keys cannot be `usage`.
pub(crate) const MAX_KEY_BYTES: usize = 64;
/// Largest `usage` object we buffer; a bigger one is skipped (real ones are ~300 bytes).
pub(crate) const MAX_USAGE_BYTES: usize = 64 * 1024;

/// Where the scanner is relative to the members of a top-level object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberState {
    /// Not inside a top-level object (at depth 0, or the top-level value is an array).
    None,
    /// After `{` or `,`: the next string is a key.
    ExpectKey,
    /// Inside a key string.
    InKey,
    /// After a key, before `:`.
    AfterKey,
    /// After `:`, before the value's first byte.
    ExpectValue,
    /// Inside a member value (scalar, string, or nested container).
    InValue,
}

#[derive(Debug)]
pub(crate) struct JsonUsageScanner {
    /// Nesting depth of `{`/`[`.
    depth: u64,
    in_string: bool,
    escape: bool,
    /// Whether the current top-level value is an object (members are tracked only then).
    top_is_object: bool,
    member: MemberState,
    key: Vec<u8>,
    key_overflow: bool,
    /// Whether the current member's key is `usage`.
    key_is_usage: bool,
    /// Whether the current member value is being captured into `usage_buf`.
    capturing: bool,
    usage_buf: Vec<u8>,
    usage_overflow: bool,
    /// Usage found in the current (still open) top-level value.
    pending: Option<TokenUsage>,
    /// Usage of completed top-level values (field-wise maximum).
    committed: TokenUsage,
    /// Offset, in the caller's chunk, of the byte being stepped (see [`Self::feed_at`]).
    pos: usize,
    /// The `usage` objects closed by the bytes fed since [`Self::take_closed`].
    closed: Vec<UsageClosed>,
}

/// A top-level `usage` object that just closed: where its `}` stands in the caller's chunk, and
/// the usage seen so far with it (committed values and the open one, field-wise maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsageClosed {
    pub(crate) closing_brace_at: usize,
    pub(crate) seen: TokenUsage,
}

impl JsonUsageScanner {
    pub(crate) fn new() -> Self {
        Self {
            depth: 0,
            in_string: false,
            escape: false,
            top_is_object: false,
            member: MemberState::None,
            key: Vec::new(),
            key_overflow: false,
            key_is_usage: false,
            capturing: false,
            usage_buf: Vec::new(),
            usage_overflow: false,
            pending: None,
            committed: TokenUsage::default(),
            pos: 0,
            closed: Vec::new(),
        }
    }

    /// The `usage` objects closed since the last call (positions as given to [`Self::feed_at`]).
    pub(crate) fn take_closed(&mut self) -> Vec<UsageClosed> {
        std::mem::take(&mut self.closed)
    }

    /// Usage of all completed top-level values so far.
    pub(crate) fn committed(&self) -> TokenUsage {
        self.committed
    }

    /// Drops any incomplete value (an SSE event ended, or the body ended), keeping committed usage.
    pub(crate) fn reset_incomplete(&mut self) {
        let committed = self.committed;
        let closed = std::mem::take(&mut self.closed);
        *self = Self::new();
        self.committed = committed;
        self.closed = closed;
    }

    /// Feeds `data`, which starts at offset `base` of the caller's chunk (positions of closed
    /// `usage` objects are reported in the caller's chunk).
    pub(crate) fn feed_at(&mut self, data: &[u8], base: usize) {
        let mut i = 0;
        while i < data.len() {
            // Fast path: skip string contents that cannot matter.
            if self.in_skippable_string() {
                match data
                    .get(i..)
                    .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                {
                    Some(p) => i += p,
                    None => return,
                }
            }
            self.pos = base + i;
            self.step(data[i]);
            i += 1;
        }
    }

    /// Inside a string that is neither a key nor captured, with no escape pending: nothing
    /// matters until the next quote or backslash.
    fn in_skippable_string(&self) -> bool {
        let in_key = self.depth == 1 && self.member == MemberState::InKey;
        self.in_string && !self.escape && !self.capturing && !in_key
    }

    fn step(&mut self, b: u8) {
        if self.capturing {
            self.capture_byte(b);
        }
        if self.in_string {
            self.step_in_string(b);
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.top_is_object {
                    match self.member {
                        MemberState::ExpectKey => {
                            self.member = MemberState::InKey;
                            self.key.clear();
                            self.key_overflow = false;
                        }
                        MemberState::ExpectValue => self.member = MemberState::InValue,
                        _ => {}
                    }
                }
            }
            b'{' | b'[' => self.open(b),
            b'}' | b']' => self.close(),
            b':' if self.depth == 1 && self.member == MemberState::AfterKey => {
                self.member = MemberState::ExpectValue;
            }
            b',' if self.depth == 1 && self.top_is_object => {
                self.member = MemberState::ExpectKey;
                self.key_is_usage = false;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => {
                if self.depth == 1 && self.member == MemberState::ExpectValue {
                    // A scalar member value (number, true, false, null): nothing to capture.
                    self.member = MemberState::InValue;
                }
            }
        }
    }

    fn step_in_string(&mut self, b: u8) {
        let in_key = self.depth == 1 && self.member == MemberState::InKey;
        if self.escape {
            self.escape = false;
        } else if b == b'\\' {
            self.escape = true;
        } else if b == b'"' {
            self.in_string = false;
            if in_key {
                self.member = MemberState::AfterKey;
                self.key_is_usage = !self.key_overflow && key_is_usage(&self.key);
            }
            return;
        }
        if in_key {
            if self.key.len() < MAX_KEY_BYTES {
                self.key.push(b);
            } else {
                self.key_overflow = true;
            }
        }
    }

    fn open(&mut self, b: u8) {
        if self.depth == 0 {
            self.top_is_object = b == b'{';
            self.member = if self.top_is_object {
                MemberState::ExpectKey
            } else {
                MemberState::None
            };
            self.key_is_usage = false;
            self.pending = None;
        } else if self.depth == 1 && self.member == MemberState::ExpectValue {
            self.member = MemberState::InValue;
            if b == b'{' && self.key_is_usage {
                self.capturing = true;
                self.usage_buf.clear();
                self.usage_buf.push(b'{');
                self.usage_overflow = false;
            }
        }
        self.depth = self.depth.saturating_add(1);
    }

    fn close(&mut self) {
        match self.depth {
            // A stray closer outside any value: garbage, ignore it.
            0 => {}
            1 => {
                self.depth = 0;
                self.member = MemberState::None;
                if let Some(u) = self.pending.take() {
                    self.committed = self.committed.max_fields(&u);
                }
            }
            _ => {
                self.depth -= 1;
                if self.depth == 1 && self.capturing {
                    self.capturing = false;
                    self.finish_capture();
                }
            }
        }
    }

    fn capture_byte(&mut self, b: u8) {
        // The opening `{` was stored when capturing started; every later byte, including the
        // closing `}`, is stored here before `close` ends the capture.
        if self.usage_overflow {
            return;
        }
        if self.usage_buf.len() < MAX_USAGE_BYTES {
            self.usage_buf.push(b);
        } else {
            self.usage_overflow = true;
        }
    }

    fn finish_capture(&mut self) {
        if self.usage_overflow {
            return;
        }
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&self.usage_buf) {
            let found = TokenUsage::from_usage_object(&value);
            let pending = match self.pending {
                Some(p) => p.max_fields(&found),
                None => found,
            };
            self.pending = Some(pending);
            self.closed.push(UsageClosed {
                closing_brace_at: self.pos,
                seen: self.committed.max_fields(&pending),
            });
        }
        self.usage_buf.clear();
    }
}

/// Whether the raw bytes between a key's quotes spell `usage` (escapes decoded).
fn key_is_usage(raw: &[u8]) -> bool {
    if raw == b"usage" {
        return true;
    }
    if !raw.contains(&b'\\') {
        return false;
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    matches!(serde_json::from_slice::<String>(&quoted), Ok(s) if s == "usage")
}
