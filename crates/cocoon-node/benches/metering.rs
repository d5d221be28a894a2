//! Throughput of the streaming token meter on engine-shaped bodies (SSE and NDJSON), fed in
//! 16 KiB pieces as the worker receives them from the backend.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use cocoon_node::metering::TokenMeter;

const USAGE: &str = r#"{"prompt_tokens":34,"completion_tokens":100,"total_tokens":134,"prompt_tokens_details":{"cached_tokens":11},"completion_tokens_details":{"reasoning_tokens":10}}"#;

fn sse_body(chunks: usize, chunk_bytes: usize) -> Vec<u8> {
    let text = "0".repeat(chunk_bytes);
    let mut body = String::new();
    for _ in 0..chunks {
        body.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    body.push_str(&format!(
        "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{USAGE}}}\n\ndata: [DONE]\n\n"
    ));
    body.into_bytes()
}

fn ndjson_body(chunks: usize, chunk_bytes: usize) -> Vec<u8> {
    let text = "0".repeat(chunk_bytes);
    let mut body = String::new();
    for i in 0..chunks {
        body.push_str(&format!("{{\"delta\":\"{text}\",\"i\":{i}}}\n"));
    }
    body.push_str(&format!("{{\"usage\":{USAGE}}}\n"));
    body.into_bytes()
}

fn bench_meter(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_meter");
    for (name, body) in [
        ("sse_50x128", sse_body(50, 128)),
        ("sse_2000x16", sse_body(2000, 16)),
        ("ndjson_50x128", ndjson_body(50, 128)),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| {
                let mut meter = TokenMeter::new();
                for piece in body.chunks(16 * 1024) {
                    meter.feed(piece);
                }
                let usage = meter.finish();
                assert_eq!(usage.total, 134);
                usage
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_meter);
criterion_main!(benches);
