//! The streaming token meter (SSE and JSON bodies, any chunking, garbage) and the pricing
//! arithmetic of runners.md §5.2.

use cocoon_node::metering::{
    adjust_tokens, adjusted_tokens, AdjustedTokens, BodyFormat, PriceMultipliers, Pricing,
    TokenMeter, TokenUsage,
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

// ---- The reference worker's cost fields inside `usage` (delta §4.12) ----

const PRICING: Pricing = Pricing {
    coefficient: 1000,
    multipliers: PriceMultipliers {
        prompt: 10_000,
        cached: 10_000,
        completion: 10_000,
        reasoning: 10_000,
    },
    price_per_token: 2,
};

/// Feeds `body` in the given parts and joins what comes out.
fn priced(body: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut meter = TokenMeter::new();
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        let cut = cut.clamp(from, body.len());
        out.extend(meter.feed_priced(body[from..cut].to_vec(), &PRICING));
        from = cut;
    }
    out
}

fn usage_of(line: &str) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_str(line).expect("output line is JSON");
    value["usage"].clone()
}

#[test]
fn cost_fields_are_added_to_the_usage_value_only() {
    let body = ndjson_body();
    let out = String::from_utf8(priced(body.as_bytes(), &[])).unwrap();
    let (in_lines, out_lines): (Vec<&str>, Vec<&str>) =
        (body.lines().collect(), out.lines().collect());
    assert_eq!(in_lines.len(), out_lines.len());
    // Every value without usage passes byte for byte.
    assert_eq!(in_lines[..4], out_lines[..4]);
    let usage = usage_of(out_lines[4]);
    // runners.md §12 figures at price 2: (23 + 11)·2, (90 + 10)·2, 134·2.
    assert_eq!(usage["prompt_total_cost"], 68);
    assert_eq!(usage["completion_total_cost"], 200);
    assert_eq!(usage["total_cost"], 268);
    // The engine's own fields are untouched.
    assert_eq!(usage["prompt_tokens"], 34);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 10);
}

#[test]
fn cost_fields_follow_coefficient_and_price() {
    let body = format!("{{\"usage\":{USAGE}}}");
    let mut meter = TokenMeter::new();
    let pricing = Pricing {
        coefficient: 2000,
        price_per_token: 5,
        ..PRICING
    };
    let out = meter.feed_priced(body.into_bytes(), &pricing);
    let usage = usage_of(std::str::from_utf8(&out).unwrap());
    // Coefficient 2.0×: P'=46, C'=22, O'=180, R'=20; total 268; price 5.
    assert_eq!(usage["prompt_total_cost"], (46 + 22) * 5);
    assert_eq!(usage["completion_total_cost"], (180 + 20) * 5);
    assert_eq!(usage["total_cost"], 268 * 5);
}

#[test]
fn cost_fields_only_when_a_counter_rises() {
    // A repeated usage (same counters) gets no second set of fields; an empty usage object
    // raises nothing; a nested `usage` is not the answer's usage.
    let body = format!(
        "{{\"usage\":{USAGE}}}\n{{\"usage\":{USAGE}}}\n{{\"usage\":{{}}}}\n{{\"x\":{{\"usage\":{USAGE}}}}}\n"
    );
    let out = String::from_utf8(priced(body.as_bytes(), &[])).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(usage_of(lines[0]).get("total_cost").is_some());
    let rest: Vec<&str> = body.lines().skip(1).collect();
    assert_eq!(lines[1..], rest[..]);
}

#[test]
fn cost_fields_go_last_in_the_usage_object() {
    let body = "{\"usage\":{\"prompt_tokens\":3}}";
    let out = String::from_utf8(priced(body.as_bytes(), &[])).unwrap();
    assert_eq!(
        out,
        "{\"usage\":{\"prompt_tokens\":3,\"prompt_total_cost\":6,\"completion_total_cost\":0,\"total_cost\":6}}"
    );
}

#[test]
fn cost_fields_in_sse_data_lines() {
    let body = format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"hi\"}}}}]}}\n\ndata: {{\"choices\":[],\"usage\":{USAGE}}}\n\ndata: [DONE]\n\n"
    );
    let out = String::from_utf8(priced(body.as_bytes(), &[])).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], body.lines().next().unwrap());
    let usage = usage_of(lines[2].strip_prefix("data: ").unwrap());
    assert_eq!(usage["total_cost"], 268);
    assert_eq!(lines[4], "data: [DONE]");
}

proptest! {
    /// Any split of the body into parts gives the same bytes out as one part, and the usage
    /// counted is the same as without pricing.
    #[test]
    fn cost_fields_do_not_depend_on_chunking(
        cuts in proptest::collection::vec(0usize..400, 0..8),
        sse in any::<bool>(),
    ) {
        let body = if sse {
            format!("data: {{\"a\":1}}\n\ndata: {{\"usage\":{USAGE}}}\n\ndata: [DONE]\n\n")
        } else {
            ndjson_body()
        };
        let mut cuts = cuts;
        cuts.sort_unstable();
        let whole = priced(body.as_bytes(), &[]);
        prop_assert_eq!(priced(body.as_bytes(), &cuts), whole);
    }

    /// Arbitrary bytes never panic and come out as they went in, plus inserted fields only.
    #[test]
    fn pricing_arbitrary_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let out = priced(&body, &[body.len() / 2]);
        prop_assert!(out.len() >= body.len());
    }
}
