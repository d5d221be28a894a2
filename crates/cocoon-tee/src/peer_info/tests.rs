//! Tests of the record codec, its identity mapping and the relayed-policy check.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::policy::{expected_report_data, PolicyConfig, PolicyKind};
use crate::{AttestError, TeeKind};

fn key() -> [u8; 32] {
    core::array::from_fn(|i| i as u8 + 1)
}

fn end(ip: &str, port: i32) -> Endpoint {
    Endpoint {
        ip: ip.into(),
        port,
    }
}

/// The reference's test pattern (tee.md §4.5), report data bound to `key()`.
fn pattern_tdx() -> TdxReport {
    TdxReport {
        mr_td: [0x12; 48],
        mr_config_id: [0x34; 48],
        mr_owner: [0xaa; 48],
        mr_owner_config: [0xbb; 48],
        rtmr: [[b'a'; 48], [b'b'; 48], [b'c'; 48], [b'd'; 48]],
        report_data: expected_report_data(&key()),
        collateral_root_hash: [0x46; 48],
    }
}

fn fake_tdx() -> TdxReport {
    TdxReport {
        report_data: expected_report_data(&key()),
        ..TdxReport::zeroed()
    }
}

fn record(version: RecordVersion, report: PeerReport) -> AttestedPeerInfo {
    AttestedPeerInfo {
        version,
        report,
        public_key: key(),
        source: end("10.0.0.5", 51234),
        destination: end("127.0.0.1", 11101),
    }
}

#[test]
fn worked_example_v1_any_byte_for_byte() {
    // tee.md §7.2: policy `any`, src 127.0.0.1:40000, dst 127.0.0.1:11101.
    let expected = format!(
        "78000000 00000000 {} 20{}000000 093132372e302e302e310000 409c0000 093132372e302e302e310000 5d2b0000",
        "00".repeat(48),
        hex::encode(key())
    )
    .replace(' ', "");
    let info = AttestedPeerInfo {
        version: RecordVersion::V1,
        report: PeerReport::Absent,
        public_key: key(),
        source: end("127.0.0.1", 40000),
        destination: end("127.0.0.1", 11101),
    };
    let framed = info.encode_framed().expect("encodable");
    assert_eq!(hex::encode(&framed), expected);
    assert_eq!(framed.len(), 4 + 120);
    let decoded = AttestedPeerInfo::decode_framed(&framed).expect("decodes");
    assert_eq!(decoded, info);
    let id = decoded.to_identity();
    assert_eq!(id.tee, TeeKind::None);
    assert_eq!(
        id.image_hash,
        crate::image_hash::ZERO_MEASUREMENTS_IMAGE_HASH
    );
    assert_eq!(id.public_key, key());
}

#[test]
fn fake_record_is_572_bytes_in_both_versions() {
    for version in [RecordVersion::V1, RecordVersion::V2] {
        let bytes = record(version, PeerReport::Tdx(fake_tdx()))
            .encode()
            .expect("encodable");
        assert_eq!(bytes.len(), 572, "{version:?}");
        let id = AttestedPeerInfo::decode(&bytes)
            .expect("decodes")
            .to_identity();
        assert_eq!(id.tee, TeeKind::Fake);
        assert_eq!(
            id.image_hash,
            crate::image_hash::ZERO_MEASUREMENTS_IMAGE_HASH
        );
        assert_eq!(id.root_key_id, None);
    }
}

#[test]
fn tdx_v1_and_v2_differ_only_in_the_first_int() {
    let v1 = record(RecordVersion::V1, PeerReport::Tdx(pattern_tdx())).encode();
    let v2 = record(RecordVersion::V2, PeerReport::Tdx(pattern_tdx())).encode();
    let (v1, v2) = (v1.expect("v1"), v2.expect("v2"));
    assert_eq!(&v1[..4], &1i32.to_le_bytes());
    assert_eq!(&v2[..4], &2i32.to_le_bytes());
    assert_eq!(v1[4..], v2[4..]);
}

#[test]
fn v2_tdx_round_trip_and_identity() {
    let info = record(RecordVersion::V2, PeerReport::Tdx(pattern_tdx()));
    let bytes = info.encode_framed().expect("encodable");
    let back = AttestedPeerInfo::decode_framed(&bytes).expect("decodes");
    assert_eq!(back, info);
    let id = back.to_identity();
    assert_eq!(id.tee, TeeKind::Tdx);
    assert_eq!(
        hex::encode(id.image_hash),
        "36caf4e8958afa865b8ccc68f1c6f40bc7bddb11150bf437f6fed58b1ca26000"
    );
    assert_eq!(id.root_key_id, Some([0x46; 48]));
    let again = AttestedPeerInfo::from_identity(&id, info.source.clone(), info.destination.clone())
        .expect("tdx identity is expressible");
    assert_eq!(again, info);
}

#[test]
fn v2_unattested_is_a_zero_tdx_body() {
    let none = AttestedPeerInfo::decode(
        &record(RecordVersion::V1, PeerReport::Absent)
            .encode()
            .expect("v1"),
    )
    .expect("decodes")
    .to_identity();
    let info = AttestedPeerInfo::from_identity(&none, end("", 0), end("", 0)).expect("expressible");
    assert_eq!(info.report, PeerReport::Tdx(TdxReport::zeroed()));
    let bytes = info.encode().expect("encodable");
    assert_eq!(&bytes[..8], &[2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        AttestedPeerInfo::decode(&bytes)
            .expect("decodes")
            .to_identity(),
        none
    );
    let absent_v2 = record(RecordVersion::V2, PeerReport::Absent).encode();
    assert!(matches!(absent_v2, Err(PeerInfoError::NotEncodable { .. })));
}

#[test]
fn v2_sev_round_trip() {
    let sev = SevReport {
        measurement: [7; 48],
        report_data: [9; 64],
    };
    let info = record(RecordVersion::V2, PeerReport::Sev(sev.clone()));
    let bytes = info.encode().expect("encodable");
    assert_eq!(bytes.len(), 4 + 4 + SEV_BODY_LEN + 36 + 32);
    let back = AttestedPeerInfo::decode(&bytes).expect("decodes");
    assert_eq!(back, info);
    let id = back.to_identity();
    assert_eq!(id.tee, TeeKind::SevSnp);
    let mut preimage = vec![7u8; 48];
    preimage.extend([0u8; 64]);
    assert_eq!(
        id.image_hash,
        <[u8; 32]>::from(sha2::Sha256::digest(&preimage))
    );
    assert!(matches!(
        record(RecordVersion::V1, PeerReport::Sev(sev)).encode(),
        Err(PeerInfoError::NotEncodable { .. })
    ));
}

use sha2::Digest as _;

#[test]
fn v1_sgx_round_trip() {
    let sgx = SgxReport {
        mr_enclave: [3; 32],
        report_data: [4; 64],
        collateral_root_hash: [5; 48],
    };
    let info = record(RecordVersion::V1, PeerReport::Sgx(sgx));
    let back = AttestedPeerInfo::decode(&info.encode().expect("v1")).expect("decodes");
    assert_eq!(back, info);
    assert_eq!(back.to_identity().tee, TeeKind::Sgx);
}

fn valid_v2() -> Vec<u8> {
    record(RecordVersion::V2, PeerReport::Tdx(pattern_tdx()))
        .encode()
        .expect("encodable")
}

#[test]
fn malformed_records_are_refused_with_a_reason() {
    let good = valid_v2();
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        AttestedPeerInfo::decode(&trailing),
        Err(PeerInfoError::TrailingBytes { count: 1 })
    );
    assert!(matches!(
        AttestedPeerInfo::decode(&good[..good.len() - 1]),
        Err(PeerInfoError::Truncated { .. })
    ));
    let mut version = good.clone();
    version[0] = 3;
    assert_eq!(
        AttestedPeerInfo::decode(&version),
        Err(PeerInfoError::UnknownVersion(3))
    );
    let mut variant = good.clone();
    variant[4] = 2;
    assert!(matches!(
        AttestedPeerInfo::decode(&variant),
        Err(PeerInfoError::UnknownVariant { variant: 2, .. })
    ));
    // The key string starts right after the 4 + 4 + 496 byte report.
    let key_at = 8 + TDX_BODY_LEN;
    let mut short_key = good.clone();
    short_key[key_at] = 0x1f;
    short_key.remove(key_at + 32);
    assert!(matches!(
        AttestedPeerInfo::decode(&short_key),
        Err(PeerInfoError::KeyLength(31))
    ));
    let mut padding = good.clone();
    padding[key_at + 33] = 1;
    assert!(matches!(
        AttestedPeerInfo::decode(&padding),
        Err(PeerInfoError::BadString { .. })
    ));
    let mut absent = record(RecordVersion::V1, PeerReport::Absent)
        .encode()
        .expect("v1");
    absent[4] = 1;
    assert_eq!(
        AttestedPeerInfo::decode(&absent),
        Err(PeerInfoError::CollateralWithoutAttestation)
    );
    let oversize = vec![0u8; MAX_PEER_INFO_LEN + 1];
    assert!(matches!(
        AttestedPeerInfo::decode(&oversize),
        Err(PeerInfoError::TooLong { .. })
    ));
    let mut prefix = ((MAX_PEER_INFO_LEN + 1) as u32).to_le_bytes().to_vec();
    prefix.extend(&good);
    assert!(matches!(
        AttestedPeerInfo::decode_framed(&prefix),
        Err(PeerInfoError::TooLong { .. })
    ));
}

#[test]
fn long_strings_use_the_long_form_and_oversize_records_are_not_written() {
    let mut info = record(RecordVersion::V2, PeerReport::Tdx(pattern_tdx()));
    info.source.ip = "x".repeat(300);
    let bytes = info.encode().expect("encodable");
    assert_eq!(AttestedPeerInfo::decode(&bytes).expect("decodes"), info);
    info.source.ip = "x".repeat(MAX_PEER_INFO_LEN);
    assert!(matches!(info.encode(), Err(PeerInfoError::TooLong { .. })));
}

#[tokio::test]
async fn read_stops_at_the_record_end() {
    let info = record(RecordVersion::V2, PeerReport::Tdx(pattern_tdx()));
    let (mut a, mut b) = tokio::io::duplex(64 * 1024);
    write_peer_info(&mut a, &info).await.expect("written");
    tokio::io::AsyncWriteExt::write_all(&mut a, b"NEXT")
        .await
        .expect("written");
    let got = read_peer_info(&mut b, Duration::from_secs(5)).await;
    assert_eq!(got, Ok(info));
    let mut next = [0u8; 4];
    tokio::io::AsyncReadExt::read_exact(&mut b, &mut next)
        .await
        .expect("rest");
    assert_eq!(&next, b"NEXT");
}

#[tokio::test(start_paused = true)]
async fn read_times_out_and_refuses_oversize_prefixes() {
    let (_a, mut b) = tokio::io::duplex(1024);
    let got = read_peer_info(&mut b, Duration::from_secs(3)).await;
    assert_eq!(got, Err(PeerInfoError::Timeout(Duration::from_secs(3))));
    let (mut a, mut b) = tokio::io::duplex(1024);
    tokio::io::AsyncWriteExt::write_all(&mut a, &u32::MAX.to_le_bytes())
        .await
        .expect("written");
    let got = read_peer_info(&mut b, Duration::from_secs(3)).await;
    assert!(matches!(got, Err(PeerInfoError::TooLong { .. })));
    drop(a);
    let got = read_peer_info(&mut b, Duration::from_secs(3)).await;
    assert!(matches!(got, Err(PeerInfoError::Io(_))));
}

fn policy(kind: PolicyKind, config: PolicyConfig) -> RelayedPolicy {
    RelayedPolicy {
        name: "p".into(),
        kind,
        config,
    }
}

#[test]
fn relayed_policy_checks_what_the_record_shows() {
    let tdx = record(RecordVersion::V2, PeerReport::Tdx(pattern_tdx())).to_identity();
    let fake = record(RecordVersion::V2, PeerReport::Tdx(fake_tdx())).to_identity();
    let none = record(RecordVersion::V1, PeerReport::Absent).to_identity();
    let allow = |h: [u8; 32]| PolicyConfig {
        allowed_image_hashes: vec![h],
        ..PolicyConfig::default()
    };
    assert_eq!(
        policy(PolicyKind::Tdx, allow(tdx.image_hash)).check(&tdx),
        Ok(())
    );
    assert!(matches!(
        policy(PolicyKind::Tdx, allow([1; 32])).check(&tdx),
        Err(AttestError::ImageHashNotAllowed { .. })
    ));
    assert!(matches!(
        policy(PolicyKind::Tdx, PolicyConfig::default()).check(&fake),
        Err(AttestError::FakeQuoteRejected { .. })
    ));
    assert_eq!(
        policy(PolicyKind::Fake, PolicyConfig::default()).check(&fake),
        Ok(())
    );
    assert!(policy(PolicyKind::Fake, PolicyConfig::default())
        .check(&tdx)
        .is_err());
    let strict = PolicyConfig {
        require_evidence: true,
        ..PolicyConfig::default()
    };
    assert!(matches!(
        policy(PolicyKind::Fake, strict).check(&none),
        Err(AttestError::QuoteMissing { .. })
    ));
    assert_eq!(
        policy(PolicyKind::Any, PolicyConfig::default()).check(&none),
        Ok(())
    );
    assert!(matches!(
        policy(PolicyKind::Any, allow(tdx.image_hash)).check(&tdx),
        Err(AttestError::ImageHashRequiresAttestation { .. })
    ));
    // A record whose report data is not bound to the key it names.
    let mut unbound = pattern_tdx();
    unbound.report_data = [0x55; 64];
    let unbound = record(RecordVersion::V2, PeerReport::Tdx(unbound)).to_identity();
    assert_eq!(
        policy(PolicyKind::Tdx, PolicyConfig::default()).check(&unbound),
        Err(AttestError::ReportDataMismatch)
    );
    let roots = PolicyConfig {
        allowed_root_key_ids: vec![[0x47; 48]],
        ..PolicyConfig::default()
    };
    assert!(matches!(
        policy(PolicyKind::Tdx, roots).check(&tdx),
        Err(AttestError::RootKeyNotAllowed { .. })
    ));
}

fn arb_endpoint() -> impl Strategy<Value = Endpoint> {
    ("[0-9a-f.:]{0,300}", any::<i32>()).prop_map(|(ip, port)| Endpoint { ip, port })
}

fn arb_record() -> impl Strategy<Value = AttestedPeerInfo> {
    let tdx = (any::<[u8; 32]>(), any::<u8>()).prop_map(|(seed, fill)| {
        let mut t = pattern_tdx();
        t.mr_td[..32].copy_from_slice(&seed);
        t.collateral_root_hash = [fill; 48];
        t
    });
    let v2 = prop_oneof![
        tdx.clone().prop_map(PeerReport::Tdx),
        (any::<[u8; 32]>(), any::<u8>()).prop_map(|(m, d)| {
            let mut measurement = [0u8; 48];
            measurement[..32].copy_from_slice(&m);
            PeerReport::Sev(SevReport {
                measurement,
                report_data: [d; 64],
            })
        }),
    ]
    .prop_map(|r| (RecordVersion::V2, r));
    let v1 = prop_oneof![
        Just(PeerReport::Absent),
        tdx.prop_map(PeerReport::Tdx),
        any::<[u8; 32]>().prop_map(|mr_enclave| PeerReport::Sgx(SgxReport {
            mr_enclave,
            report_data: [1; 64],
            collateral_root_hash: [2; 48],
        })),
    ]
    .prop_map(|r| (RecordVersion::V1, r));
    (
        prop_oneof![v1, v2],
        any::<[u8; 32]>(),
        arb_endpoint(),
        arb_endpoint(),
    )
        .prop_map(
            |((version, report), public_key, source, destination)| AttestedPeerInfo {
                version,
                report,
                public_key,
                source,
                destination,
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = AttestedPeerInfo::decode(&bytes);
        let _ = AttestedPeerInfo::decode_framed(&bytes);
    }

    #[test]
    fn accepted_mutations_are_canonical(info in arb_record(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        // Change one byte of a valid record: whatever still decodes must
        // encode back to exactly the same bytes (no second encoding of a value).
        let mut bytes = info.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let at = at.index(bytes.len());
        bytes[at] = byte;
        if let Ok(decoded) = AttestedPeerInfo::decode(&bytes) {
            prop_assert_eq!(decoded.encode().ok(), Some(bytes));
        }
    }

    #[test]
    fn records_round_trip_and_every_truncation_fails(info in arb_record(), cut in any::<prop::sample::Index>()) {
        let bytes = info.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(AttestedPeerInfo::decode(&bytes), Ok(info));
        let cut = cut.index(bytes.len());
        prop_assert!(AttestedPeerInfo::decode(&bytes[..cut]).is_err());
    }
}
