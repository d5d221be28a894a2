//! The streaming token meter (SSE and JSON bodies, any chunking, garbage) and the pricing
//! arithmetic of runners.md §5.2.

use cocoon_node::metering::{
    adjust_tokens, adjusted_tokens, AdjustedTokens, BodyFormat, PriceMultipliers, TokenMeter,
    TokenUsage,
};
use proptest::prelude::*;

const USAGE: &str = r#"{"prompt_tokens":34,"total_tokens":134,"completion_tokens":100,"completion_tokens_details":{"reasoning_tokens":10},"prompt_tokens_details":{"cached_tokens":11}}"#;

const REFERENCE_USAGE: TokenUsage = TokenUsage {
    prompt: 34,
    cached: 11,
    completion: 100,
    reasoning: 10,
    total: 134,
};

/// The reference benchmark server's NDJSON answer (runners.md §12).
fn ndjson_body() -> String {
    let mut body = String::from("{\"chunks\":3,\"bytes\":8,\"delay\":0}\n");
    for i in 0..3 {
        body.push_str(&format!("{{\"delta\":\"00000000\",\"i\":{i}}}\n"));
    }
    body.push_str(&format!("{{\"usage\":{USAGE}}}\n"));
    body
}

/// An OpenAI-style SSE answer with `include_usage`.
fn sse_body(line_end: &str) -> String {
    let e = line_end;
    let mut body = String::new();
    for piece in ["Hel", "lo \\\"usage\\\" {", "}"] {
        body.push_str(&format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{piece}\"}}}}],\"usage\":null}}{e}{e}"
        ));
    }
    body.push_str(&format!(": keep-alive comment{e}{e}"));
    body.push_str(&format!(
        "event: message{e}data: {{\"id\":\"c1\",\"choices\":[],\"usage\":{USAGE}}}{e}{e}data: [DONE]{e}{e}"
    ));
    body
}

fn meter_all(chunks: &[&[u8]]) -> TokenUsage {
    let mut m = TokenMeter::new();
    for c in chunks {
        m.feed(c);
    }
    m.finish()
}

#[test]
fn ndjson_from_the_reference_benchmark_server() {
    let body = ndjson_body();
    let mut m = TokenMeter::new();
    m.feed(body.as_bytes());
    assert_eq!(m.format(), BodyFormat::Json);
    assert_eq!(m.finish(), REFERENCE_USAGE);
}

#[test]
fn sse_with_lf_crlf_and_cr() {
    for e in ["\n", "\r\n", "\r"] {
        let body = sse_body(e);
        let mut m = TokenMeter::new();
        m.feed(body.as_bytes());
        assert_eq!(m.format(), BodyFormat::Sse);
        assert_eq!(m.finish(), REFERENCE_USAGE, "line end {e:?}");
    }
}

#[test]
fn single_json_answer() {
    let body = format!(
        "{{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{{\"message\":{{\"role\":\"assistant\",\"content\":\"{{\\\"usage\\\":{{\\\"prompt_tokens\\\":999}}}}\"}}}}],\n  \"usage\": {USAGE}\n}}"
    );
    assert_eq!(meter_all(&[body.as_bytes()]), REFERENCE_USAGE);
}

#[test]
fn maximum_over_values_and_both_reasoning_paths() {
    let body = concat!(
        r#"{"usage":{"prompt_tokens":5,"completion_tokens":1}}"#,
        r#"{"usage":{"prompt_tokens":4,"completion_tokens":9,"reasoning_tokens":3}}"#,
        r#" {"usage":{"completion_tokens_details":{"reasoning_tokens":2},"total_tokens":14}}"#,
    );
    let u = meter_all(&[body.as_bytes()]);
    assert_eq!(
        u,
        TokenUsage {
            prompt: 5,
            cached: 0,
            completion: 9,
            reasoning: 3,
            total: 14
        }
    );
}

#[test]
fn missing_or_invalid_usage_counts_zero() {
    let bodies = [
        "",
        "   \n",
        "{\"choices\":[]}\n",
        "data: {\"choices\":[]}\n\ndata: [DONE]\n\n",
        // Not u64: negative, float, string, nested too deep for the reference's paths.
        r#"{"usage":{"prompt_tokens":-3,"completion_tokens":2.0,"total_tokens":"5"}}"#,
        r#"{"x":{"usage":{"prompt_tokens":3}}}"#,
        r#"{"usage":7}"#,
        r#"[{"usage":{"prompt_tokens":3}}]"#,
    ];
    for body in bodies {
        assert_eq!(
            meter_all(&[body.as_bytes()]),
            TokenUsage::default(),
            "{body}"
        );
    }
}

#[test]
fn unfinished_values_do_not_count() {
    // A truncated answer: the reference counts complete JSON values only.
    let body = format!("{{\"usage\":{USAGE}");
    assert_eq!(meter_all(&[body.as_bytes()]), TokenUsage::default());
    // An SSE event whose data never closes is dropped at the blank line; later events count.
    let body =
        format!("data: {{\"usage\":{USAGE}\n\ndata: {{\"usage\":{{\"prompt_tokens\":2}}}}\n\n");
    assert_eq!(meter_all(&[body.as_bytes()]).prompt, 2);
}

#[test]
fn escaped_usage_key_is_recognised() {
    let body = r#"{"us\u0061ge":{"prompt_tokens":8}}"#;
    assert_eq!(meter_all(&[body.as_bytes()]).prompt, 8);
}

#[test]
fn garbage_between_values_does_not_stop_counting() {
    let body = format!("xx}}]] \"str{{\" 12 {{\"usage\":{USAGE}}}");
    let mut m = TokenMeter::with_format(BodyFormat::Json);
    m.feed(body.as_bytes());
    assert_eq!(m.finish(), REFERENCE_USAGE);
}

#[test]
fn huge_lines_are_bounded_and_skipped_safely() {
    // A 3 MiB content string inside one SSE event, then the usage event.
    let big = "a".repeat(3 * 1024 * 1024);
    let mut m = TokenMeter::new();
    m.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"");
    for piece in big.as_bytes().chunks(64 * 1024) {
        m.feed(piece);
    }
    m.feed(b"\"}}]}\n\n");
    m.feed(format!("data: {{\"usage\":{USAGE}}}\n\n").as_bytes());
    assert_eq!(m.finish(), REFERENCE_USAGE);
    // An oversized usage object is skipped, not buffered without bound.
    let mut m = TokenMeter::new();
    m.feed(b"{\"usage\":{\"prompt_tokens\":5,\"pad\":\"");
    m.feed(&vec![b'z'; 200 * 1024]);
    m.feed(b"\"}}");
    assert_eq!(m.finish(), TokenUsage::default());
}

#[test]
fn adjust_tokens_matches_the_reference_formula() {
    assert_eq!(adjust_tokens(134, 1000, 10_000), 134);
    assert_eq!(adjust_tokens(100, 1500, 10_000), 150);
    assert_eq!(adjust_tokens(3, 333, 10_000), 0, "truncation toward zero");
    assert_eq!(adjust_tokens(-7, 1000, 10_000), -7);
    assert_eq!(adjust_tokens(i64::MAX, 4000, 10_000), i64::MAX, "saturates");
    // Reservation of runners.md §12: (8000 + ~400 bytes) × 4.0.
    assert_eq!(adjust_tokens(8400, 4000, 10_000), 33_600);
}

#[test]
fn adjusted_tokens_of_the_reference_benchmark_answer() {
    // runners.md §12: P'=23, C'=11, O'=90, R'=10, total 134 at coefficient 1000.
    let a = adjusted_tokens(&REFERENCE_USAGE, 1000, &PriceMultipliers::default());
    assert_eq!(
        a,
        AdjustedTokens {
            prompt: 23,
            cached: 11,
            completion: 90,
            reasoning: 10,
            total: 134
        }
    );
    let costs = a.costs(2);
    assert_eq!(
        (
            costs.prompt_total_cost,
            costs.completion_total_cost,
            costs.total_cost
        ),
        (68, 200, 268)
    );
    // Coefficient 0 (the reference's --local-all worker) bills nothing.
    assert_eq!(
        adjusted_tokens(&REFERENCE_USAGE, 0, &PriceMultipliers::default()).total,
        0
    );
    // Cached above prompt does not go negative (documented deviation).
    let odd = TokenUsage {
        prompt: 1,
        cached: 5,
        ..TokenUsage::default()
    };
    assert_eq!(
        adjusted_tokens(&odd, 1000, &PriceMultipliers::default()).prompt,
        0
    );
}

fn split_at_points(body: &[u8], mut points: Vec<usize>) -> Vec<&[u8]> {
    points.iter_mut().for_each(|p| *p %= body.len() + 1);
    points.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(&body[last..p]);
        last = p;
    }
    out.push(&body[last..]);
    out
}

proptest! {
    #[test]
    fn any_chunking_gives_the_one_chunk_result(
        which in 0usize..4,
        points in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let body = match which {
            0 => ndjson_body(),
            1 => sse_body("\n"),
            2 => sse_body("\r\n"),
            _ => sse_body("\r"),
        };
        let whole = meter_all(&[body.as_bytes()]);
        let pieces = split_at_points(body.as_bytes(), points);
        prop_assert_eq!(meter_all(&pieces), whole);
        prop_assert_eq!(whole, REFERENCE_USAGE);
    }

    #[test]
    fn byte_by_byte_equals_one_chunk(which in 0usize..4) {
        let body = match which {
            0 => ndjson_body(),
            1 => sse_body("\n"),
            2 => sse_body("\r\n"),
            _ => sse_body("\r"),
        };
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        prop_assert_eq!(meter_all(&bytes), meter_all(&[body.as_bytes()]));
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096), cut in any::<usize>()) {
        let cut = cut % (data.len() + 1);
        for format in [BodyFormat::Detect, BodyFormat::Json, BodyFormat::Sse] {
            let mut m = TokenMeter::with_format(format);
            m.feed(&data[..cut]);
            m.feed(&data[cut..]);
            let _ = m.usage();
            let _ = m.finish();
        }
    }

    #[test]
    fn json_shaped_garbage_never_panics(
        data in proptest::collection::vec(prop::sample::select(b"{}[]\":,\\ usage0123456789\n\rdata".to_vec()), 0..2048)
    ) {
        let mut m = TokenMeter::new();
        m.feed(&data);
        let _ = m.finish();
        let mut m = TokenMeter::with_format(BodyFormat::Sse);
        m.feed(b"data: ");
        m.feed(&data);
        let _ = m.finish();
    }
}
