//! Voucher tests, including the fixed test vector.
//!
//! The expected bytes were derived independently from the layout in the module doc with a
//! small Python script (own bit writer, cell hash and BoC header; `cryptography` Ed25519).

use super::*;
use proptest::prelude::*;
use tonlib_core::TonHash;

const WORKER_VECTOR_INNER_HASH: &str =
    "cde987d984fb671f3ae848b10974da3f63b708fed1cdee5ce72dfa130633a55f";
const WORKER_VECTOR_BOC: &str = "b5ee9c720101020100a90001dba040ad280123456789abcdef80177777777777777777777777777777777777777777777777777777777777777769\
8758fc09b652fedb52757dded6f45e8720ddcbb7071d1374fc94b31f33eeef72dce4cfbc94a0dc168261cd2624fa4b724b073dd2ed81d9908b6a82f3adb5213001\
006ba040ad280123456789abcdef00000000000f424080155555555555555555555555555555555555555555555555555555555555555550";
const CLIENT_VECTOR_INNER_HASH: &str =
    "be8585cd00bde6c286c20ded73a6866b614cf50c053bc77607d6826751bb5ead";
const CLIENT_VECTOR_BOC: &str = "b5ee9c720101020100a90001dbbb63ff930123456789abcdef8017777777777777777777777777777777777777777777777777777777777777777b\
0b34bf8b9147c3dfdfac3206df38a569cdfabed4b5cb84ea0062608277278ac977f5ab19da42e65146bbbf7ed268ed879bee926f1a60b2429fe8490282ba601\
001006bbb63ff930123456789abcdef00000000000f424080155555555555555555555555555555555555555555555555555555555555555550";

fn key() -> SigningKey {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    SigningKey::from_bytes(&seed)
}

fn target() -> TonAddress {
    TonAddress::new(0, TonHash::from([0xaa; 32]))
}

fn excess() -> TonAddress {
    TonAddress::new(0, TonHash::from([0xbb; 32]))
}

fn terms(kind: VoucherKind, tokens: u64) -> VoucherTerms {
    VoucherTerms {
        kind,
        qid: 0x0123_4567_89ab_cdef,
        tokens,
        target: target(),
    }
}

#[test]
fn test_vector_worker_and_client_vouchers() {
    assert_eq!(
        hex::encode(key().verifying_key().as_bytes()),
        "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
    );
    for (kind, inner_hash, boc) in [
        (
            VoucherKind::WorkerPayout,
            WORKER_VECTOR_INNER_HASH,
            WORKER_VECTOR_BOC,
        ),
        (
            VoucherKind::ClientCharge,
            CLIENT_VECTOR_INNER_HASH,
            CLIENT_VECTOR_BOC,
        ),
    ] {
        let voucher = sign(&key(), terms(kind, 1_000_000), &excess()).expect("sign");
        assert_eq!(hex::encode(voucher.inner_hash), inner_hash);
        assert_eq!(hex::encode(&voucher.boc), boc);
        let checked =
            verify(&voucher.boc, kind, &target(), &key().verifying_key()).expect("verify");
        assert_eq!(checked.terms.tokens, 1_000_000);
        assert_eq!(checked.excess_to, excess());
    }
}

#[test]
fn verification_rejects_wrong_op_target_key_and_tampering() {
    let pk = key().verifying_key();
    let v = sign(&key(), terms(VoucherKind::WorkerPayout, 5), &excess()).expect("sign");
    assert!(matches!(
        verify(&v.boc, VoucherKind::ClientCharge, &target(), &pk),
        Err(VoucherError::WrongOp { .. })
    ));
    assert!(matches!(
        verify(&v.boc, VoucherKind::WorkerPayout, &excess(), &pk),
        Err(VoucherError::WrongTarget { .. })
    ));
    let other = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
    assert_eq!(
        verify(&v.boc, VoucherKind::WorkerPayout, &target(), &other),
        Err(VoucherError::BadSignature)
    );
    // Flip one bit of the signed token count inside the inner cell (last cell in the BoC).
    let mut tampered = v.boc.clone();
    let tokens_byte = tampered.len() - 34 - 1;
    tampered[tokens_byte] ^= 0x01;
    assert_eq!(
        verify(&tampered, VoucherKind::WorkerPayout, &target(), &pk),
        Err(VoucherError::BadSignature)
    );
}

#[test]
fn repacked_voucher_keeps_a_valid_signature() {
    let v = sign(&key(), terms(VoucherKind::ClientCharge, 77), &excess()).expect("sign");
    let mine = TonAddress::new(0, TonHash::from([0x42; 32]));
    let repacked = repack(&v.boc, VoucherKind::ClientCharge, &mine).expect("repack");
    assert_ne!(repacked, v.boc);
    let checked = verify(
        &repacked,
        VoucherKind::ClientCharge,
        &target(),
        &key().verifying_key(),
    )
    .expect("valid");
    assert_eq!(checked.excess_to, mine);
    assert_eq!(checked.inner_hash, v.inner_hash);
}

#[test]
fn keeper_keeps_the_highest_voucher() {
    let mut keeper = VoucherKeeper::new(VoucherKind::WorkerPayout, target(), key().verifying_key());
    let v10 = sign(&key(), terms(VoucherKind::WorkerPayout, 10), &excess()).expect("sign");
    let v20 = sign(&key(), terms(VoucherKind::WorkerPayout, 20), &excess()).expect("sign");
    assert_eq!(keeper.offer(&v10.boc), Ok(Offer::Accepted { tokens: 10 }));
    assert_eq!(keeper.offer(&v20.boc), Ok(Offer::Accepted { tokens: 20 }));
    assert_eq!(
        keeper.offer(&v10.boc),
        Ok(Offer::NotHigher {
            offered: 10,
            kept: 20
        })
    );
    let forged = sign(
        &SigningKey::from_bytes(&[7u8; 32]),
        terms(VoucherKind::WorkerPayout, 99),
        &excess(),
    )
    .expect("sign");
    assert_eq!(keeper.offer(&forged.boc), Err(VoucherError::BadSignature));
    assert_eq!(keeper.tokens(), 20);
    assert_eq!(keeper.best().map(|v| v.boc.clone()), Some(v20.boc.clone()));
    // The kept voucher offered again is recognised, not accepted twice.
    assert_eq!(
        keeper.offer(&v20.boc),
        Ok(Offer::NotHigher {
            offered: 20,
            kept: 20
        })
    );
    // A voucher with the kept one's tokens but different bytes is still verified.
    let mut tampered = v20.boc.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(keeper.offer(&tampered).is_err());
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = verify(&bytes, VoucherKind::WorkerPayout, &target(), &key().verifying_key());
        let _ = repack(&bytes, VoucherKind::ClientCharge, &excess());
    }

    #[test]
    fn truncated_or_mutated_vouchers_never_panic_or_verify(cut in 1usize..190, pos in 0usize..190, bit in 0u8..8) {
        let v = sign(&key(), terms(VoucherKind::WorkerPayout, 123), &excess()).expect("sign");
        let truncated = &v.boc[..v.boc.len().saturating_sub(cut)];
        prop_assert!(verify(truncated, VoucherKind::WorkerPayout, &target(), &key().verifying_key()).is_err());
        let mut mutated = v.boc.clone();
        let at = pos % mutated.len();
        mutated[at] ^= 1 << bit;
        // A flip inside excess_to is legitimately still valid (unsigned field); anything else fails.
        if let Ok(ok) = verify(&mutated, VoucherKind::WorkerPayout, &target(), &key().verifying_key()) {
            prop_assert_eq!(ok.terms, v.terms.clone());
        }
    }
}
