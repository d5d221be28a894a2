//! Full attested-link setup (PoW + mutual RA-TLS with fake-TEE certificates
//! and the fake policy) over an in-memory duplex, at PoW difficulty 0 and at
//! the reference default 20. Difficulty 20 costs ~2^20 SHA-256 evaluations on
//! average with a geometric spread, so its samples vary widely.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cocoon_tee::cert;
use cocoon_tee::fake::FakeQuoteProvider;
use cocoon_tee::link::{self, ClientLinkConfig, ServerLinkConfig};
use cocoon_tee::policy::{FakePolicy, PolicyConfig};
use cocoon_tee::tls::OwnCert;
use cocoon_tee::AttestationPolicy;
use criterion::{criterion_group, criterion_main, Criterion};

fn configs(difficulty: u32) -> (ServerLinkConfig, ClientLinkConfig) {
    let policy: Arc<dyn AttestationPolicy> = Arc::new(FakePolicy {
        name: "fake".into(),
        config: PolicyConfig::default(),
    });
    let not_before = SystemTime::now() - Duration::from_secs(60);
    let server_cert = cert::generate(Some(&FakeQuoteProvider), not_before).expect("server cert");
    let client_cert = cert::generate(Some(&FakeQuoteProvider), not_before).expect("client cert");
    let mut server =
        ServerLinkConfig::new(OwnCert::new(&server_cert).expect("own"), policy.clone());
    server.pow_difficulty = difficulty;
    let client = ClientLinkConfig::new(OwnCert::new(&client_cert).expect("own"), policy);
    (server, client)
}

async fn one_link(server: &ServerLinkConfig, client: &ClientLinkConfig) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let (accepted, connected) = tokio::join!(
        link::accept(server_io, server),
        link::connect(client_io, client)
    );
    accepted.expect("server side");
    connected.expect("client side");
}

fn bench_handshake(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("attested_link");
    for difficulty in [0u32, 20] {
        let (server, client) = configs(difficulty);
        if difficulty >= 20 {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(20));
        }
        group.bench_function(format!("duplex_fake_policy_pow{difficulty}"), |b| {
            b.iter(|| runtime.block_on(one_link(&server, &client)))
        });
    }
    group.finish();

    let salt = [7u8; 16];
    c.bench_function("pow_check_one_answer", |b| {
        b.iter(|| {
            cocoon_tee::pow::leading_zero_bits(
                std::hint::black_box(&salt),
                std::hint::black_box(84_956),
            )
        })
    });
}

criterion_group!(benches, bench_handshake);
criterion_main!(benches);
