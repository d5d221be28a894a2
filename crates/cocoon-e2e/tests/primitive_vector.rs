//! The primitive against `delta-2026-04.md` §2.3, byte for byte: keys, X25519 value,
//! both direction secrets and two encrypted strings with a zero padding prefix.

mod support;

use cocoon_e2e::cipher::{decrypt_string, encrypt_with_prefix, prefix_len, ENC_PREFIX};
use cocoon_e2e::keys::{agreement, message_secret, Direction};
use cocoon_e2e::{E2eError, PublicKey};
use support::{caller_seed, key, km_seed, CALLER_PUBLIC, KM_PUBLIC};

const NONCE: &str = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=";

#[test]
fn seeds_derive_the_published_public_keys() {
    assert_eq!(caller_seed().public_key().to_hex(), CALLER_PUBLIC);
    assert_eq!(km_seed().public_key().to_hex(), KM_PUBLIC);
    assert_eq!(
        PublicKey::parse_field(b"+2fQ/NM48g4NSVfZ6CrcEB0uNROkSKOrRgUu4biMWBg=").unwrap(),
        key(KM_PUBLIC)
    );
}

#[test]
fn agreement_is_the_vector_and_symmetric() {
    let from_caller = agreement(&caller_seed(), &key(KM_PUBLIC)).unwrap();
    let from_km = agreement(&km_seed(), &key(CALLER_PUBLIC)).unwrap();
    assert_eq!(
        hex::encode(*from_caller),
        "42b914885bfded9dd14830547cebd98388b41030d736d9717836d0b50141c85c"
    );
    assert_eq!(*from_caller, *from_km);
}

#[test]
fn secrets_per_direction_are_the_vector() {
    let caller = caller_seed();
    let own = caller.public_key();
    let c = message_secret(
        &caller,
        &key(KM_PUBLIC),
        &own,
        NONCE.as_bytes(),
        Direction::CallerToWorker,
    )
    .unwrap();
    let w = message_secret(
        &caller,
        &key(KM_PUBLIC),
        &own,
        NONCE.as_bytes(),
        Direction::WorkerToCaller,
    )
    .unwrap();
    assert_eq!(
        hex::encode(*c),
        "e9acbdbb5c8e7044e0a1a95d93943d33cb4509966219acb29740bfc3d6e0a860"
    );
    assert_eq!(
        hex::encode(*w),
        "a25ce804e40e1ffbdc876267be3b688b40c53db32e0410e67cdfea17e701a6ce"
    );
}

#[test]
fn secret_refuses_a_local_key_that_is_not_ours() {
    let caller = caller_seed();
    let err = message_secret(
        &caller,
        &key(KM_PUBLIC),
        &key(KM_PUBLIC),
        NONCE.as_bytes(),
        Direction::CallerToWorker,
    )
    .unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.code()),
        ("public key mismatch", 602)
    );
}

#[test]
fn strings_encrypt_to_the_vector_and_back() {
    let caller = caller_seed();
    let own = caller.public_key();
    let secret = message_secret(
        &caller,
        &key(KM_PUBLIC),
        &own,
        NONCE.as_bytes(),
        Direction::CallerToWorker,
    )
    .unwrap();
    for (text, expected) in [
        ("Hello", "1da125e03817068f11bb5b35a030ac27830ae03ca67b9a5022d85c5ceee3f180b62418aa6c2b4dee039686cfaea7e416"),
        ("user", "3e2be0ad8eebfd81eb3b59e7f57bd115545ca5c659beb400864e09526c3216f6017c41c967e327eca844d1a03b1abd29"),
    ] {
        let prefix = vec![0u8; prefix_len(text.len())];
        let blob = encrypt_with_prefix(text.as_bytes(), &prefix, &secret);
        assert_eq!(hex::encode(&blob), expected, "{text}");
        let value = format!("{ENC_PREFIX}{expected}");
        assert_eq!(decrypt_string(value.as_bytes(), &secret).unwrap(), text.as_bytes());
    }
}

#[test]
fn padding_prefix_is_between_16_and_31_and_fills_blocks() {
    for len in 0..100 {
        let l = prefix_len(len);
        assert!((16..=31).contains(&l), "{len}: {l}");
        assert_eq!((l + len) % 16, 0);
    }
    assert_eq!(prefix_len(5), 27);
    assert_eq!(prefix_len(4), 28);
}

#[test]
fn a_peer_key_off_the_curve_or_of_small_order_is_refused() {
    // y = 2 has no x on edwards25519; the identity (y = 1) has order 1.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for peer in [off_curve, identity] {
        let err = agreement(&caller_seed(), &PublicKey(peer)).unwrap_err();
        assert_eq!(err, E2eError::SharedSecret);
    }
}

#[test]
fn a_zero_key_on_the_wire_means_none() {
    assert!(cocoon_e2e::Seed::from_wire([0; 32]).is_none());
    let seed = cocoon_e2e::Seed::from_wire([7; 32]).expect("a non-zero seed");
    assert_eq!(seed.as_bytes(), &[7; 32]);
    assert!(
        !format!("{seed:?}").contains("0707"),
        "Debug shows the public key, not the seed"
    );
}
