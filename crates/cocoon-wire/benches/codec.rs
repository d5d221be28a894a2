//! Codec throughput: encode/decode of the two hot messages of a request —
//! `client.queryAnswerPartEx` with a 16 KiB answer chunk, and
//! `client.runQueryEx` carrying a boxed `http.request` with a ~4 KiB body.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

use cocoon_wire::schema::{enums, functions, types};
use cocoon_wire::tl::{from_bytes, to_bytes};

fn answer_part() -> enums::client::QueryAnswerEx {
    types::client::QueryAnswerPartEx {
        request_id: [7; 32],
        answer: (0..16 * 1024).map(|i| (i % 251) as u8).collect(),
        flags: 0,
        final_info: None,
    }
    .into()
}

fn run_query() -> functions::client::RunQueryEx {
    let request = functions::http::Request {
        method: "POST".into(),
        url: "/v1/chat/completions".into(),
        http_version: "HTTP/1.1".into(),
        headers: vec![
            types::http::Header {
                name: "Content-Type".into(),
                value: "application/json".into(),
            },
            types::http::Header {
                name: "Accept".into(),
                value: "text/event-stream".into(),
            },
        ],
        payload: (0..4096).map(|i| b"{\"messages\":[]} "[i % 16]).collect(),
    };
    functions::client::RunQueryEx {
        model_name: "Qwen/Qwen3-32B".into(),
        query: to_bytes(&request),
        max_coefficient: 4000,
        max_tokens: 1000,
        timeout: 120.0,
        request_id: [9; 32],
        min_config_version: 3,
        flags: 0,
        enable_debug: Some(false),
        public_key: Some([1; 32]),
    }
}

fn bench_answer_part(c: &mut Criterion) {
    let value = answer_part();
    let bytes = to_bytes(&value);
    let mut group = c.benchmark_group("client.queryAnswerPartEx 16KiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| to_bytes(black_box(&value))));
    group.bench_function("decode", |b| {
        b.iter(|| from_bytes::<enums::client::QueryAnswerEx>(black_box(&bytes)))
    });
    group.finish();
}

fn bench_run_query(c: &mut Criterion) {
    let value = run_query();
    let bytes = to_bytes(&value);
    let mut group = c.benchmark_group("client.runQueryEx 4KiB http.request");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| to_bytes(black_box(&value))));
    group.bench_function("decode", |b| {
        b.iter(|| from_bytes::<functions::client::RunQueryEx>(black_box(&bytes)))
    });
    let inner = value.query.clone();
    group.bench_function("decode inner http.request only", |b| {
        b.iter(|| from_bytes::<functions::http::Request>(black_box(&inner)))
    });
    group.bench_function("decode with inner http.request", |b| {
        b.iter(|| {
            let call = from_bytes::<functions::client::RunQueryEx>(black_box(&bytes));
            call.and_then(|call| from_bytes::<functions::http::Request>(&call.query))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_answer_part, bench_run_query);
criterion_main!(benches);
