//! Token metering: count the tokens of an inference answer from the engine's response bytes as
//! they stream by, and turn them into billed ("adjusted") tokens.
//!
//! The reference worker (runners.md §5.1, delta §4.12) parses the body as concatenated JSON values
//! and keeps, per counter, the maximum over all values of `usage.prompt_tokens`,
//! `usage.prompt_tokens_details.cached_tokens`, `usage.completion_tokens`,
//! `usage.completion_tokens_details.reasoning_tokens` / `usage.reasoning_tokens` (non-negative
//! integers only; anything else counts as 0). It cannot parse OpenAI server-sent events
//! (`data: {...}`), so streamed answers are billed 0 (runners.md §13.3) and, at April 2026,
//! delivered empty (delta §8.1). [`TokenMeter`] reads both formats:
//!
//! * **JSON / NDJSON** (body starts with `{` or `[`): concatenated JSON values, whitespace
//!   separated or not, as the reference;
//! * **SSE** (anything else): `field: value` lines ended by LF, CRLF or CR; the `data` lines of an
//!   event are scanned as JSON (so `data: [DONE]` and comments are harmless); a blank line ends
//!   the event.
//!
//! Chunks may split the body at any byte. Memory stays bounded whatever the body: only a short
//! key and the `usage` object itself are buffered (see `json_scan`), never a whole line or value.
//! Unlike the reference, a malformed value does not stop counting of the values after it.
//!
//! [`adjust_tokens`] and [`adjusted_tokens`] are the reference's pricing arithmetic (runners.md
//! §5.2).

mod json_scan;

use json_scan::JsonUsageScanner;

/// Raw token counts reported by the engine (the maximum seen of each counter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// `usage.prompt_tokens` (includes cached tokens).
    pub prompt: u64,
    /// `usage.prompt_tokens_details.cached_tokens`.
    pub cached: u64,
    /// `usage.completion_tokens` (includes reasoning tokens).
    pub completion: u64,
    /// `usage.completion_tokens_details.reasoning_tokens` or `usage.reasoning_tokens`.
    pub reasoning: u64,
    /// `usage.total_tokens`, informational: billing ignores it, as the reference does.
    pub total: u64,
}

impl TokenUsage {
    /// Reads the counters from a `usage` object (missing or non-`u64` values count as 0).
    pub fn from_usage_object(usage: &serde_json::Value) -> Self {
        let get = |path: &[&str]| {
            path.iter()
                .try_fold(usage, |v, key| v.get(key))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        TokenUsage {
            prompt: get(&["prompt_tokens"]),
            cached: get(&["prompt_tokens_details", "cached_tokens"]),
            completion: get(&["completion_tokens"]),
            reasoning: get(&["completion_tokens_details", "reasoning_tokens"])
                .max(get(&["reasoning_tokens"])),
            total: get(&["total_tokens"]),
        }
    }

    /// Whether a billed counter (prompt, cached, completion, reasoning) is above `other`'s.
    pub fn bills_more_than(&self, other: &TokenUsage) -> bool {
        self.prompt > other.prompt
            || self.cached > other.cached
            || self.completion > other.completion
            || self.reasoning > other.reasoning
    }

    /// Field-wise maximum.
    pub fn max_fields(&self, other: &TokenUsage) -> TokenUsage {
        TokenUsage {
            prompt: self.prompt.max(other.prompt),
            cached: self.cached.max(other.cached),
            completion: self.completion.max(other.completion),
            reasoning: self.reasoning.max(other.reasoning),
            total: self.total.max(other.total),
        }
    }
}

/// How the response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// Decide from the first non-whitespace byte: `{` or `[` means JSON, anything else SSE.
    Detect,
    /// Concatenated JSON values (a JSON answer, NDJSON).
    Json,
    /// `text/event-stream`.
    Sse,
}

/// Where the SSE line parser is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SseLine {
    /// Reading the field name (up to `:` or the end of the line).
    FieldName,
    /// Reading the value of a `data` field; `skip_space` drops one leading space.
    Data { skip_space: bool },
    /// Reading the value of another field, or a comment: ignored.
    Ignored,
}

/// Longest SSE field name we keep (`data` is 4 bytes; longer names are just "not data").
const MAX_FIELD_NAME: usize = 16;

/// A streaming token counter for one engine response body.
///
/// ```
/// use cocoon_node::metering::TokenMeter;
/// let mut meter = TokenMeter::new();
/// meter.feed(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,");
/// meter.feed(b"\"completion_tokens\":5,\"total_tokens\":8}}\n\ndata: [DONE]\n\n");
/// let usage = meter.finish();
/// assert_eq!((usage.prompt, usage.completion, usage.total), (3, 5, 8));
/// ```
#[derive(Debug)]
pub struct TokenMeter {
    format: BodyFormat,
    scanner: JsonUsageScanner,
    line: SseLine,
    field: Vec<u8>,
    field_overflow: bool,
    after_cr: bool,
    event_has_data: bool,
    /// The usage the last cost fields were computed from ([`Self::feed_priced`]).
    priced: TokenUsage,
}

/// What the worker needs to price an answer's `usage`: the request's coefficient, the root's
/// multipliers and price per token (delta §4.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    /// The worker coefficient the proxy put into the request (1000 = 1.0×).
    pub coefficient: i64,
    /// The root's price multipliers.
    pub multipliers: PriceMultipliers,
    /// The root's `price_per_token`, nanoTON.
    pub price_per_token: i64,
}

impl Default for TokenMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenMeter {
    /// A meter that detects the body format.
    pub fn new() -> Self {
        Self::with_format(BodyFormat::Detect)
    }

    /// A meter for a known body format (e.g. from the response's `Content-Type`).
    pub fn with_format(format: BodyFormat) -> Self {
        TokenMeter {
            format,
            scanner: JsonUsageScanner::new(),
            line: SseLine::FieldName,
            field: Vec::new(),
            field_overflow: false,
            after_cr: false,
            event_has_data: false,
            priced: TokenUsage::default(),
        }
    }

    /// The format in use (`Detect` until the first significant byte arrived).
    pub fn format(&self) -> BodyFormat {
        self.format
    }

    /// Feeds the next bytes of the body.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.scanner.take_closed();
        self.feed_chunk(chunk);
    }

    /// Feeds the next bytes of the body and returns them with the cost fields the reference
    /// worker adds (delta §4.12, runners.md §5.1) inserted at the end of every top-level `usage`
    /// object that raises a counter: `prompt_total_cost`, `completion_total_cost` and
    /// `total_cost`, the adjusted tokens seen so far times the price per token. Every other
    /// byte is passed through unchanged (the reference re-serialises each JSON value with
    /// sorted keys; the values are the same). Unlike the reference, SSE `data:` values get the
    /// fields too, since they are metered.
    pub fn feed_priced(&mut self, part: Vec<u8>, pricing: &Pricing) -> Vec<u8> {
        self.feed(&part);
        let mut inserts: Vec<(usize, String)> = Vec::new();
        for closed in self.scanner.take_closed() {
            if !closed.seen.bills_more_than(&self.priced) {
                continue;
            }
            self.priced = self.priced.max_fields(&closed.seen);
            let costs = adjusted_tokens(&self.priced, pricing.coefficient, &pricing.multipliers)
                .costs(pricing.price_per_token);
            // A usage object that raises a counter has members, so the fields follow a comma.
            let fields = format!(
                ",\"prompt_total_cost\":{},\"completion_total_cost\":{},\"total_cost\":{}",
                costs.prompt_total_cost, costs.completion_total_cost, costs.total_cost
            );
            inserts.push((closed.closing_brace_at, fields));
        }
        if inserts.is_empty() {
            return part;
        }
        let extra: usize = inserts.iter().map(|(_, f)| f.len()).sum();
        let mut out = Vec::with_capacity(part.len() + extra);
        let mut from = 0;
        for (at, fields) in inserts {
            let at = at.min(part.len());
            out.extend_from_slice(&part[from..at]);
            out.extend_from_slice(fields.as_bytes());
            from = at;
        }
        out.extend_from_slice(&part[from..]);
        out
    }

    fn feed_chunk(&mut self, mut chunk: &[u8]) {
        let mut base = 0;
        if self.format == BodyFormat::Detect {
            // Skip leading whitespace and a UTF-8 byte-order mark.
            let skip = chunk
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0xEF | 0xBB | 0xBF))
                .count();
            chunk = &chunk[skip..];
            base = skip;
            match chunk.first() {
                None => return,
                Some(b'{') | Some(b'[') => self.format = BodyFormat::Json,
                Some(_) => self.format = BodyFormat::Sse,
            }
        }
        match self.format {
            BodyFormat::Json => self.scanner.feed_at(chunk, base),
            BodyFormat::Sse => self.feed_sse(chunk, base),
            BodyFormat::Detect => {}
        }
    }

    /// Usage counted so far (complete values only).
    pub fn usage(&self) -> TokenUsage {
        self.scanner.committed()
    }

    /// Ends the body and returns the usage. An unfinished trailing value is not counted.
    pub fn finish(self) -> TokenUsage {
        self.scanner.committed()
    }

    fn feed_sse(&mut self, chunk: &[u8], base: usize) {
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    i += 1;
                    continue;
                }
            }
            if b == b'\n' || b == b'\r' {
                self.after_cr = b == b'\r';
                self.end_of_line();
                i += 1;
                continue;
            }
            match self.line {
                SseLine::FieldName => {
                    if b == b':' {
                        self.start_value();
                    } else if self.field.len() < MAX_FIELD_NAME {
                        self.field.push(b);
                    } else {
                        self.field_overflow = true;
                    }
                    i += 1;
                }
                SseLine::Data { skip_space } => {
                    if skip_space {
                        self.line = SseLine::Data { skip_space: false };
                        if b == b' ' {
                            i += 1;
                            continue;
                        }
                    }
                    // Feed the run of bytes up to the end of the line in one call.
                    let end = chunk[i..]
                        .iter()
                        .position(|c| *c == b'\n' || *c == b'\r')
                        .map_or(chunk.len(), |p| i + p);
                    self.scanner.feed_at(&chunk[i..end], base + i);
                    i = end;
                }
                SseLine::Ignored => {
                    let end = chunk[i..]
                        .iter()
                        .position(|c| *c == b'\n' || *c == b'\r')
                        .map_or(chunk.len(), |p| i + p);
                    i = end;
                }
            }
        }
    }

    fn field_is_data(&self) -> bool {
        !self.field_overflow && self.field == b"data"
    }

    /// A `:` ended the field name.
    fn start_value(&mut self) {
        if self.field_is_data() {
            self.begin_data_line();
            self.line = SseLine::Data { skip_space: true };
        } else {
            self.line = SseLine::Ignored;
        }
    }

    fn begin_data_line(&mut self) {
        // Data lines of one event are joined with a newline (SSE spec).
        if self.event_has_data {
            // A synthetic byte: it closes no object, so its position never matters.
            self.scanner.feed_at(b"\n", 0);
        }
        self.event_has_data = true;
    }

    fn end_of_line(&mut self) {
        if self.line == SseLine::FieldName {
            if self.field.is_empty() && !self.field_overflow {
                // Blank line: the event is complete; drop any unfinished value in it.
                self.scanner.reset_incomplete();
                self.event_has_data = false;
            } else if self.field_is_data() {
                // `data` without a colon: a data line with an empty value.
                self.begin_data_line();
            }
        }
        self.line = SseLine::FieldName;
        self.field.clear();
        self.field_overflow = false;
    }
}

/// The four root-config price multipliers (10000 = 1.0×).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceMultipliers {
    /// Non-cached prompt tokens.
    pub prompt: i32,
    /// Cached prompt tokens.
    pub cached: i32,
    /// Non-reasoning completion tokens.
    pub completion: i32,
    /// Reasoning tokens.
    pub reasoning: i32,
}

impl Default for PriceMultipliers {
    /// All 10000 (what the root uses when the params struct is too old to carry them).
    fn default() -> Self {
        PriceMultipliers {
            prompt: 10_000,
            cached: 10_000,
            completion: 10_000,
            reasoning: 10_000,
        }
    }
}

/// Billed token counts (the TL `tokensUsed` fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdjustedTokens {
    /// `prompt_tokens_used`: adjusted non-cached prompt tokens.
    pub prompt: i64,
    /// `cached_tokens_used`.
    pub cached: i64,
    /// `completion_tokens_used`: adjusted non-reasoning completion tokens.
    pub completion: i64,
    /// `reasoning_tokens_used`.
    pub reasoning: i64,
    /// `total_tokens_used`: the sum of the four.
    pub total: i64,
}

/// The cost fields the reference worker adds inside `usage` (delta §4.12), in nanoTON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCosts {
    /// `(prompt + cached) · price_per_token`.
    pub prompt_total_cost: i64,
    /// `(completion + reasoning) · price_per_token`.
    pub completion_total_cost: i64,
    /// `total · price_per_token`.
    pub total_cost: i64,
}

impl AdjustedTokens {
    /// The `usage.*_cost` values for a price per token.
    pub fn costs(&self, price_per_token: i64) -> UsageCosts {
        UsageCosts {
            prompt_total_cost: self
                .prompt
                .saturating_add(self.cached)
                .saturating_mul(price_per_token),
            completion_total_cost: self
                .completion
                .saturating_add(self.reasoning)
                .saturating_mul(price_per_token),
            total_cost: self.total.saturating_mul(price_per_token),
        }
    }
}

/// The reference's `adjust_tokens` (runners.md §5.2):
/// `trunc((f64)tokens · ((f64)coefficient · 0.001) · (f64)multiplier · 0.0001)`, evaluated left to
/// right in `f64`. `coefficient` 1000 and `multiplier` 10000 mean 1.0×. Out-of-range results
/// saturate (undefined behaviour in the reference).
pub fn adjust_tokens(tokens: i64, coefficient: i64, multiplier: i32) -> i64 {
    (tokens as f64 * (coefficient as f64 * 0.001) * multiplier as f64 * 0.0001) as i64
}

/// Adjusted tokens of one answer (runners.md §5.2): with P, C, O, R = prompt, cached, completion,
/// reasoning, `P' = adj(P − C, k, m_p)`, `C' = adj(C, k, m_c)`, `O' = adj(O − R, k, m_o)`,
/// `R' = adj(R, k, m_r)`, total = the sum. `coefficient` is the worker's current coefficient.
///
/// Deviation: `P − C` and `O − R` are clamped at 0, so a backend reporting more cached than prompt
/// tokens cannot make a bill negative (the reference would subtract).
pub fn adjusted_tokens(
    usage: &TokenUsage,
    coefficient: i64,
    multipliers: &PriceMultipliers,
) -> AdjustedTokens {
    let as_i64 = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let (p, c, o, r) = (
        as_i64(usage.prompt),
        as_i64(usage.cached),
        as_i64(usage.completion),
        as_i64(usage.reasoning),
    );
    let prompt = adjust_tokens(p.saturating_sub(c).max(0), coefficient, multipliers.prompt);
    let cached = adjust_tokens(c, coefficient, multipliers.cached);
    let completion = adjust_tokens(
        o.saturating_sub(r).max(0),
        coefficient,
        multipliers.completion,
    );
    let reasoning = adjust_tokens(r, coefficient, multipliers.reasoning);
    AdjustedTokens {
        prompt,
        cached,
        completion,
        reasoning,
        total: prompt
            .saturating_add(cached)
            .saturating_add(completion)
            .saturating_add(reasoning),
    }
}
