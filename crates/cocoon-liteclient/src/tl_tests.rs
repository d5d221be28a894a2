//! Tests of the hand-written lite_api TL codec.

use super::*;

fn schema_id(line: &str) -> u32 {
    crc32fast::hash(line.as_bytes())
}

#[test]
fn constructor_ids_match_schema_crc32() {
    let table: &[(&str, u32)] = &[
        ("adnl.message.query query_id:int256 query:bytes = adnl.Message", ids::ADNL_MESSAGE_QUERY),
        ("adnl.message.answer query_id:int256 answer:bytes = adnl.Message", ids::ADNL_MESSAGE_ANSWER),
        ("tcp.ping random_id:long = tcp.Pong", ids::TCP_PING),
        ("tcp.pong random_id:long = tcp.Pong", ids::TCP_PONG),
        ("liteServer.query data:bytes = Object", ids::LITE_QUERY),
        ("liteServer.waitMasterchainSeqno seqno:int timeout_ms:int = Object", ids::WAIT_MASTERCHAIN_SEQNO),
        ("liteServer.getMasterchainInfo = liteServer.MasterchainInfo", ids::GET_MASTERCHAIN_INFO),
        (
            "liteServer.lookupBlock mode:# id:tonNode.blockId lt:mode.1?long utime:mode.2?int = liteServer.BlockHeader",
            ids::LOOKUP_BLOCK,
        ),
        (
            "liteServer.getAccountState id:tonNode.blockIdExt account:liteServer.accountId = liteServer.AccountState",
            ids::GET_ACCOUNT_STATE,
        ),
        (
            "liteServer.getTransactions count:# account:liteServer.accountId lt:long hash:int256 = liteServer.TransactionList",
            ids::GET_TRANSACTIONS,
        ),
        ("liteServer.sendMessage body:bytes = liteServer.SendMsgStatus", ids::SEND_MESSAGE),
        (
            "liteServer.masterchainInfo last:tonNode.blockIdExt state_root_hash:int256 init:tonNode.zeroStateIdExt = liteServer.MasterchainInfo",
            ids::MASTERCHAIN_INFO,
        ),
        (
            "liteServer.blockHeader id:tonNode.blockIdExt mode:# header_proof:bytes = liteServer.BlockHeader",
            ids::BLOCK_HEADER,
        ),
        (
            "liteServer.accountState id:tonNode.blockIdExt shardblk:tonNode.blockIdExt shard_proof:bytes proof:bytes state:bytes = liteServer.AccountState",
            ids::ACCOUNT_STATE,
        ),
        (
            // TL drops the parentheses of `(vector T)` before hashing.
            "liteServer.transactionList ids:vector tonNode.blockIdExt transactions:bytes = liteServer.TransactionList",
            ids::TRANSACTION_LIST,
        ),
        ("liteServer.sendMsgStatus status:int = liteServer.SendMsgStatus", ids::SEND_MSG_STATUS),
        ("liteServer.error code:int message:string = liteServer.Error", ids::ERROR),
    ];
    for (line, id) in table {
        assert_eq!(schema_id(line), *id, "{line}");
    }
}

fn block(seqno: u32) -> BlockIdExt {
    BlockIdExt {
        workchain: MASTERCHAIN,
        shard: SHARD_FULL,
        seqno,
        root_hash: [seqno as u8; 32],
        file_hash: [0xee; 32],
    }
}

#[test]
fn queries_round_trip() {
    let account = AccountId {
        workchain: 0,
        id: [7; 32],
    };
    let requests = [
        LiteRequest::GetMasterchainInfo,
        LiteRequest::LookupMasterchainBlock { seqno: 42 },
        LiteRequest::GetAccountState {
            block: block(5),
            account,
        },
        LiteRequest::GetTransactions {
            count: 16,
            account,
            lt: 99,
            hash: [3; 32],
        },
        LiteRequest::SendMessage { body: vec![1; 300] },
    ];
    for request in requests {
        for wait in [None, Some((5, 3000))] {
            let q = LiteQuery {
                wait_masterchain_seqno: wait,
                request: request.clone(),
            };
            let bytes = q.encode();
            assert_eq!(bytes.len() % 4, 0);
            assert_eq!(LiteQuery::decode(&bytes), Ok(q));
        }
    }
}

#[test]
fn get_masterchain_info_query_matches_known_bytes() {
    // liteServer.query wrapping getMasterchainInfo: id, 1-byte length 4, inner id, 3 padding bytes.
    let q = LiteQuery {
        wait_masterchain_seqno: None,
        request: LiteRequest::GetMasterchainInfo,
    };
    assert_eq!(hex::encode(q.encode()), "df068c79042ee6b589000000");
}

#[test]
fn responses_round_trip_and_truncations_fail_cleanly() {
    let responses = [
        LiteResponse::MasterchainInfo {
            last: block(9),
            state_root_hash: [1; 32],
            init: ZeroStateIdExt {
                workchain: -1,
                root_hash: [2; 32],
                file_hash: [3; 32],
            },
        },
        LiteResponse::BlockHeader {
            id: block(3),
            mode: 0,
            header_proof: vec![9; 10],
        },
        LiteResponse::AccountState {
            id: block(1),
            shardblk: block(2),
            shard_proof: vec![],
            proof: vec![4; 253],
            state: vec![5; 254],
        },
        LiteResponse::TransactionList {
            ids: vec![block(1), block(2)],
            transactions: vec![6; 1000],
        },
        LiteResponse::SendMsgStatus { status: 1 },
        LiteResponse::Error {
            code: 651,
            message: "too big masterchain block seqno".into(),
        },
    ];
    for response in responses {
        let bytes = response.encode();
        assert_eq!(LiteResponse::decode(&bytes), Ok(response));
        for cut in 0..bytes.len() {
            assert!(
                LiteResponse::decode(&bytes[..cut]).is_err(),
                "prefix {cut} decoded"
            );
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        assert_eq!(
            LiteResponse::decode(&longer),
            Err(TlError::TrailingBytes(4))
        );
    }
}

#[test]
fn hostile_inputs_are_rejected() {
    // A transaction list claiming 2^32-1 ids must not allocate.
    let mut w = TlWriter::default();
    w.u32(ids::TRANSACTION_LIST).u32(u32::MAX);
    assert_eq!(
        LiteResponse::decode(&w.out),
        Err(TlError::VectorTooLong(u32::MAX))
    );
    // A bytes field claiming 16 MiB with nothing behind it.
    let mut w = TlWriter::default();
    w.u32(ids::SEND_MESSAGE);
    w.out.extend_from_slice(&[254, 0xff, 0xff, 0xff]);
    let mut outer = TlWriter::default();
    outer.u32(ids::LITE_QUERY).bytes(&w.out);
    assert_eq!(LiteQuery::decode(&outer.out), Err(TlError::Truncated));
    // A non-UTF-8 error message is decoded lossily.
    let mut w = TlWriter::default();
    w.u32(ids::ERROR).i32(1).bytes(&[0xff, 0xfe, b'x']);
    let decoded = LiteResponse::decode(&w.out);
    assert!(
        matches!(decoded, Ok(LiteResponse::Error { code: 1, ref message }) if message.ends_with('x'))
    );
    assert_eq!(
        LiteResponse::decode(&[0, 0, 0, 0]),
        Err(TlError::UnknownConstructor(0))
    );
}

#[test]
fn adnl_messages_round_trip() {
    for m in [
        AdnlMessage::Query {
            query_id: [1; 32],
            query: vec![1, 2, 3],
        },
        AdnlMessage::Answer {
            query_id: [2; 32],
            answer: vec![0; 600],
        },
        AdnlMessage::Ping { random_id: 7 },
        AdnlMessage::Pong { random_id: 8 },
    ] {
        assert_eq!(AdnlMessage::decode(&m.encode()), Ok(m));
    }
}
