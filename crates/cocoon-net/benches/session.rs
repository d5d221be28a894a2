//! Session-layer throughput and latency over an in-memory pipe: one-way
//! packets (dialer → acceptor) and query round trips. Measures the frame,
//! TL and task overhead of cocoon-net itself, not a network.

use cocoon_net::{establish, Inbound, InboundMessage, Session, SessionConfig};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn pair() -> ((Session, Inbound), (Session, Inbound)) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    let (d, acc) = tokio::join!(
        establish(a, SessionConfig::dialer()),
        establish(b, SessionConfig::acceptor())
    );
    (d.expect("dialer"), acc.expect("acceptor"))
}

fn packets(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("packets");
    for size in [64usize, 1024, 64 * 1024] {
        let count = (4 << 20) / size; // 4 MiB per iteration
        group.throughput(Throughput::Bytes((count * size) as u64));
        group.bench_function(format!("{size}B"), |b| {
            b.iter_batched(
                || rt.block_on(pair()),
                |((dialer, _din), (_acceptor, mut ain))| {
                    rt.block_on(async move {
                        let sender = tokio::spawn(async move {
                            for _ in 0..count {
                                dialer.send(vec![0xab; size]).await.expect("send");
                            }
                            dialer
                        });
                        for _ in 0..count {
                            match ain.next().await {
                                Some(InboundMessage::Packet(_)) => {}
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                        sender.await.expect("sender task");
                    })
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn query_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let ((dialer, _din), (_acceptor, mut ain)) = rt.block_on(pair());
    rt.spawn(async move {
        while let Some(message) = ain.next().await {
            if let InboundMessage::Query(mut query) = message {
                let data = query.take_data();
                let _ = query.answer(data).await;
            }
        }
    });
    c.bench_function("query_round_trip_256B", |b| {
        b.iter(|| {
            rt.block_on(dialer.query(vec![0x5a; 256], Duration::from_secs(5)))
                .expect("answer")
        })
    });
}

criterion_group!(benches, packets, query_round_trip);
criterion_main!(benches);
