//! Unit and property tests of the frame codec, including the worked
//! examples of the reference facts (runners.md §2.4).

use super::*;
use proptest::prelude::*;

fn unhex(s: &str) -> Vec<u8> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(compact).expect("test vector is valid hex")
}

/// runners.md §2.4: `tcp.connect id=0x1122334455667788` as frame 0.
#[test]
fn tcp_connect_frame_matches_reference_bytes() {
    let payload = unhex("61427ca5 8877665544332211");
    let expected = unhex("0c000000 00000000 61427ca5 8877665544332211");
    let mut enc = FrameEncoder::new();
    assert_eq!(enc.encode_to_vec(&payload).unwrap(), expected);
    assert_eq!(enc.next_seqno(), 1);

    let mut dec = FrameDecoder::new();
    dec.push(&expected);
    assert_eq!(dec.next_frame().unwrap().as_deref(), Some(&payload[..]));
    assert_eq!(dec.next_frame().unwrap(), None);
    assert_eq!(dec.expected_seqno(), 1);
    assert!(!dec.has_partial_frame());
}

/// runners.md §2.4: the `client.connectToProxy` query, sent as frame 1.
#[test]
fn connect_to_proxy_query_frame_header() {
    let owner = b"UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m";
    assert_eq!(owner.len(), 48);
    let mut inner = unhex("f4a05fff 03000000 30");
    inner.extend_from_slice(owner);
    inner.extend_from_slice(&unhex("000000 b5757299 01000000 02000000 03000000"));
    assert_eq!(inner.len(), 76);
    let mut payload = unhex("0819f53a 0807060504030201 4c");
    payload.extend_from_slice(&inner);
    payload.extend_from_slice(&[0, 0, 0]);

    let mut enc = FrameEncoder::new();
    enc.encode_to_vec(&unhex("61427ca5 8877665544332211"))
        .unwrap();
    let frame = enc.encode_to_vec(&payload).unwrap();
    assert_eq!(frame[..12], unhex("5c000000 01000000 0819f53a")[..]);
    assert_eq!(frame.len(), FRAME_HEADER_LEN + 0x5c);

    // The decoder must have seen frame 0 before it accepts frame 1.
    let mut dec = FrameDecoder::new();
    dec.push(&unhex("0c000000 00000000 61427ca5 8877665544332211"));
    dec.push(&frame);
    assert!(dec.next_frame().unwrap().is_some());
    assert_eq!(dec.next_frame().unwrap().as_deref(), Some(&payload[..]));
}

#[test]
fn encoder_rejects_out_of_range_payloads_without_advancing() {
    let mut enc = FrameEncoder::new();
    let mut dst = BytesMut::new();
    assert_eq!(
        enc.encode(&[1, 2, 3], &mut dst),
        Err(FrameError::LengthOutOfRange { len: 3 })
    );
    let huge = vec![0u8; MAX_FRAME_PAYLOAD + 1];
    assert_eq!(
        enc.encode(&huge, &mut dst),
        Err(FrameError::LengthOutOfRange {
            len: (MAX_FRAME_PAYLOAD + 1) as u64
        })
    );
    assert!(dst.is_empty());
    assert_eq!(enc.next_seqno(), 0);
    // The exact bounds are accepted.
    enc.encode(&[0; MIN_FRAME_PAYLOAD], &mut dst).unwrap();
    enc.encode(&huge[..MAX_FRAME_PAYLOAD], &mut dst).unwrap();
    assert_eq!(enc.next_seqno(), 2);
}

#[test]
fn decoder_rejects_length_as_soon_as_header_arrives() {
    for bad_len in [0u32, 3, (MAX_FRAME_PAYLOAD as u32) + 1, u32::MAX] {
        let mut dec = FrameDecoder::new();
        let mut header = bad_len.to_le_bytes().to_vec();
        header.extend_from_slice(&0i32.to_le_bytes());
        dec.push(&header[..7]);
        assert_eq!(dec.next_frame(), Ok(None));
        dec.push(&header[7..]);
        let err = FrameError::LengthOutOfRange {
            len: u64::from(bad_len),
        };
        assert_eq!(dec.next_frame(), Err(err.clone()));
        // Sticky: more bytes do not revive it.
        dec.push(&[0; 16]);
        assert_eq!(dec.next_frame(), Err(err));
    }
}

#[test]
fn decoder_rejects_bad_seqno_with_expected_and_got() {
    let mut enc = FrameEncoder::new();
    let first = enc.encode_to_vec(b"abcd").unwrap();
    let mut dec = FrameDecoder::new();
    dec.push(&first);
    dec.push(&first); // seqno 0 again
    assert_eq!(dec.next_frame().unwrap().as_deref(), Some(&b"abcd"[..]));
    let err = dec.next_frame().unwrap_err();
    assert_eq!(
        err,
        FrameError::BadSeqno {
            expected: 1,
            got: 0
        }
    );
    assert_eq!(err.to_string(), "bad seqno: expected 1, got 0");
}

#[test]
fn decoder_waits_for_body_and_reserves_incrementally() {
    let mut enc = FrameEncoder::new();
    let payload = vec![7u8; 100_000];
    let frame = enc.encode_to_vec(&payload).unwrap();
    let mut dec = FrameDecoder::new();
    dec.push(&frame[..FRAME_HEADER_LEN + 10]);
    assert_eq!(dec.next_frame(), Ok(None));
    assert!(dec.has_partial_frame());
    dec.reserve_for_read();
    // Bounded by the chunk size even though 99 990 bytes are missing.
    assert!(dec.buffer_mut().capacity() <= 10 + 2 * READ_RESERVE_CHUNK);
    dec.push(&frame[FRAME_HEADER_LEN + 10..]);
    assert_eq!(dec.next_frame().unwrap().as_deref(), Some(&payload[..]));
}

proptest! {
    #[test]
    fn arbitrary_chunks_never_panic(chunks in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..64), 0..32)) {
        let mut dec = FrameDecoder::new();
        for chunk in &chunks {
            dec.push(chunk);
            dec.reserve_for_read();
            while let Ok(Some(frame)) = dec.next_frame() {
                prop_assert!((MIN_FRAME_PAYLOAD..=MAX_FRAME_PAYLOAD).contains(&frame.len()));
            }
        }
    }

    /// Mostly well-formed streams with occasional bad seqnos and lengths:
    /// the decoder yields frames until the first violation, then only
    /// that error, and never panics.
    #[test]
    fn forged_headers_yield_frames_then_one_sticky_error(
        frames in proptest::collection::vec(
            (any::<bool>(), 0u32..64, proptest::collection::vec(any::<u8>(), 0..64)),
            1..16),
        chunk in 1usize..50,
    ) {
        let mut stream = Vec::new();
        let mut seqno = 0i32;
        for (honest, len, body) in &frames {
            let (len, seqno_sent) = if *honest {
                ((body.len().max(MIN_FRAME_PAYLOAD)) as u32, seqno)
            } else {
                (*len, seqno.wrapping_add(i32::from(*len % 3 == 0)))
            };
            stream.extend_from_slice(&len.to_le_bytes());
            stream.extend_from_slice(&seqno_sent.to_le_bytes());
            let mut body = body.clone();
            body.resize(len as usize, 0);
            stream.extend_from_slice(&body);
            seqno = seqno.wrapping_add(1);
        }
        let mut dec = FrameDecoder::new();
        let mut first_error = None;
        for piece in stream.chunks(chunk) {
            dec.push(piece);
            loop {
                match dec.next_frame() {
                    Ok(Some(frame)) => prop_assert!(first_error.is_none() && frame.len() >= 4),
                    Ok(None) => break,
                    Err(err) => {
                        if let Some(first) = &first_error {
                            prop_assert_eq!(first, &err);
                        }
                        first_error = Some(err);
                        break;
                    }
                }
            }
        }
    }

    #[test]
    fn encode_then_decode_over_random_chunking_round_trips(
        payloads in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), MIN_FRAME_PAYLOAD..300), 1..12),
        cuts in proptest::collection::vec(1usize..97, 1..40),
    ) {
        let mut enc = FrameEncoder::new();
        let mut stream = BytesMut::new();
        for p in &payloads {
            enc.encode(p, &mut stream).unwrap();
        }
        let mut dec = FrameDecoder::new();
        let mut decoded = Vec::new();
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            dec.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(frame) = dec.next_frame().unwrap() {
                decoded.push(frame.to_vec());
            }
        }
        prop_assert_eq!(decoded, payloads);
        prop_assert!(!dec.has_partial_frame());
    }
}
