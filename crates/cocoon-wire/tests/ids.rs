//! Constructor ids against the protocol facts: the id table of the spec
//! (runners.md Appendix A, with the April-2026 changes of delta §1.2 applied),
//! and the CRC-32 examples of runners.md §2.3 / delta Appendix A.
//!
//! Our own protocol extensions (the `cocoonrs.*` section at the end of the
//! schema, docs/protocol-extensions.md) are listed in a separate table: the
//! reference table must still match the schema exactly, one for one.

use std::collections::BTreeMap;

use cocoon_wire::dynamic::{all_ids, find_by_name};
use cocoon_wire::schema::{builtin_ids, functions, types};

/// Every constructor and function of the April-2026 schema with its wire id,
/// transcribed from the specification tables (not from our schema file).
const EXPECTED_IDS: &[(&str, u32)] = &[
    // built-ins
    ("boolTrue", 0x997275b5),
    ("boolFalse", 0xbc799737),
    ("vector", 0x1cb5c415),
    // link layer
    ("tcp.ping", 0xbbe9627c),
    ("tcp.pong", 0x0bd4302c),
    ("tcp.packet", 0x9c17baf8),
    ("tcp.queryAnswer", 0xc048c311),
    ("tcp.queryError", 0x4cd2f602),
    ("tcp.query", 0x3af51908),
    ("tcp.connected", 0x636d41d6),
    ("tcp.connect", 0xa57c4261),
    ("ton.blockIdExt", 0xbc3f6da5),
    ("test.answer", 0x0d4fcdb6),
    ("test.query", 0x394e9143),
    // runner configs (April ids from delta §1.2)
    ("proxyRunner.config", 0x9a8f2045),
    ("workerRunner.config", 0x41af605f),
    ("clientRunner.config", 0xaf0bd51f),
    ("keyStorageRunner.config", 0xec650826),
    // root config
    ("rootConfig.registeredProxy", 0x9f4e446a),
    ("rootConfig.registeredPublicKey", 0x37312ecd),
    ("rootConfig.pseudo", 0xd0035db6),
    ("rootConfig.configV7", 0xc51207cb),
    // proxy DB
    ("proxyDb.clientInfo", 0x6cfeaa21),
    ("proxyDb.clientInfoV2", 0x3078c9bf),
    ("proxyDb.workerInfo", 0x2517b38f),
    ("proxyDb.pendingBlockchainSeqnoCommit", 0x525b14a9),
    ("proxyDb.configEmpty", 0x43dc40b4),
    ("proxyDb.configV4", 0xbde43703),
    ("proxyDb.configV4Disabled", 0xad2cfb4a),
    ("proxyDb.oldClient", 0x2fae7b42),
    ("proxyDb.oldWorker", 0xf04156a0),
    ("proxyDb.oldInstance", 0xa8c9e178),
    // key manager DB
    ("keyManagerDb.configEmpty", 0xd3fc2385),
    ("keyManagerDb.configV1", 0x6d2817ac),
    ("keyManagerDb.key", 0x35c91007),
    // shared
    ("tokensUsed", 0x70c5b15c),
    ("worker.params", 0x869c73ed),
    ("proxy.params", 0xd5c5609f),
    ("client.params", 0x40fdca64),
    // client <-> proxy types
    ("client.proxyConnectionAuthShort", 0xd6ffc5af),
    ("client.proxyConnectionAuthLong", 0x417bf016),
    ("client.authorizationWithProxySuccess", 0x75d5ac34),
    ("client.authorizationWithProxyFailed", 0x60551c96),
    ("client.connectedToProxy", 0x95317ad1),
    ("client.queryAnswer", 0x9b943922),
    ("client.queryAnswerError", 0x6d60569a),
    ("client.queryAnswerPart", 0xb765de4c),
    ("client.queryAnswerPartError", 0xd790a022),
    ("client.queryFinalInfo", 0x69a452f0),
    ("client.queryAnswerEx", 0xcd524720),
    ("client.queryAnswerErrorEx", 0x072562a8),
    ("client.queryAnswerPartEx", 0xc07bfaec),
    ("client.refund", 0x83aabead),
    ("client.refundRejected", 0xcf9d9957),
    ("client.workerType", 0x8210e21c),
    ("client.workerTypes", 0xf64e0e01),
    ("client.workerInstanceV2", 0x3ea93d00),
    ("client.workerTypeV2", 0xb27d8197),
    ("client.workerTypesV2", 0x0cf0dc67),
    ("client.paymentStatus", 0xaa8a0ecc),
    ("proxy.clientRequestPayment", 0xc6bcf127),
    // client functions
    ("client.connectToProxy", 0xff5fa0f4),
    ("client.authorizeWithProxyShort", 0x6c276723),
    ("client.authorizeWithProxyLong", 0xd3474303),
    ("client.runQuery", 0xbc748f32),
    ("client.runQueryEx", 0xf54cb74b),
    ("client.requestRefund", 0x238d863d),
    ("client.updatePaymentStatus", 0x9ed1c697),
    ("client.getWorkerTypes", 0x7f062bdb),
    ("client.getWorkerTypesV2", 0xb2133d72),
    // proxy <-> worker types
    ("proxy.signedPayment", 0x02998182),
    ("proxy.signedPaymentEmpty", 0xb347ce64),
    ("proxy.queryAnswer", 0x37e5f725),
    ("proxy.queryAnswerError", 0x669d014e),
    ("proxy.queryAnswerPart", 0x72eb00ee),
    ("proxy.queryAnswerPartError", 0x940e1168),
    ("proxy.queryFinalInfo", 0xe794e6fc),
    ("proxy.queryAnswerEx", 0x1ce574e8),
    ("proxy.queryAnswerErrorEx", 0x8f7fb0a7),
    ("proxy.queryAnswerPartEx", 0x6d85b50f),
    ("proxy.workerRequestPayment", 0x1436c0d5),
    ("proxy.runQuery", 0x47182416),
    ("proxy.runQueryEx", 0xc805e7e2),
    ("worker.enabledDisabled", 0xb3b71039),
    ("worker.newCoefficient", 0x6af092b0),
    ("worker.connectedToProxy", 0x66bc82ee),
    ("worker.compareBalanceWithProxyResult", 0x9054c411),
    ("worker.extendedCompareBalanceWithProxyResult", 0x0c10973e),
    ("worker.proxyHandshakeCompleted", 0x3ad9b886),
    ("worker.paymentStatus", 0xa88bd701),
    ("worker.changedModel", 0x34029366),
    // worker functions
    ("worker.connectToProxy", 0xcc484c5d),
    ("worker.compareBalanceWithProxy", 0xdb386501),
    ("worker.extendedCompareBalanceWithProxy", 0xf8dd9914),
    ("worker.proxyHandshakeComplete", 0xf843b066),
    ("worker.updatePaymentStatus", 0xdc70a524),
    ("worker.changeModel", 0x72662cee),
    // key manager
    ("keyManager.privateKey", 0x60f4f8e7),
    ("keyManager.privateKeys", 0x0ed66ce5),
    ("keyManager.getWorkerPrivateKeys", 0x4b90e9b1),
    ("keyManager.getProxyPrivateKeys", 0x4135d0bd),
    // http
    ("http.header", 0x8e9be511),
    ("http.response", 0x1cd0c42b),
    ("http.request", 0x47492de5),
];

/// cocoon-rs extensions: not in the reference protocol (reference peers drop
/// them as unknown). Ids by the normal CRC rule of their declaration.
const EXTENSION_IDS: &[(&str, u32)] = &[("cocoonrs.cancelRequest", 0x020f2a44)];

/// Name prefix of every extension constructor.
const EXTENSION_PREFIX: &str = "cocoonrs.";

/// Compares `expected` with the part of `actual` it covers; names of `actual`
/// that `in_scope` selects but `expected` lacks are problems too.
fn compare_ids(
    expected: &[(&'static str, u32)],
    actual: &BTreeMap<&str, u32>,
    in_scope: impl Fn(&str) -> bool,
    table: &str,
) -> Vec<String> {
    let wanted: BTreeMap<&str, u32> = expected.iter().copied().collect();
    assert_eq!(
        wanted.len(),
        expected.len(),
        "duplicate name in the {table} table"
    );
    let mut problems = Vec::new();
    for (name, id) in &wanted {
        match actual.get(name) {
            Some(got) if got == id => {}
            Some(got) => problems.push(format!("{name}: schema {got:#010x}, {table} {id:#010x}")),
            None => problems.push(format!("{name}: missing from the schema")),
        }
    }
    for name in actual.keys().filter(|n| in_scope(n)) {
        if !wanted.contains_key(name) {
            problems.push(format!(
                "{name}: in the schema but not in the {table} table"
            ));
        }
    }
    problems
}

#[test]
fn every_id_matches_the_specification() {
    let actual: BTreeMap<&str, u32> = all_ids().into_iter().collect();
    // Every reference id, exactly; any schema name outside the extension
    // namespace must be a reference name.
    let mut problems = compare_ids(
        EXPECTED_IDS,
        &actual,
        |name| !name.starts_with(EXTENSION_PREFIX),
        "spec",
    );
    problems.extend(compare_ids(
        EXTENSION_IDS,
        &actual,
        |name| name.starts_with(EXTENSION_PREFIX),
        "extension",
    ));
    assert!(
        problems.is_empty(),
        "id mismatches:\n{}",
        problems.join("\n")
    );
}

#[test]
fn extensions_stay_apart_from_the_reference() {
    let reference: BTreeMap<u32, &str> = EXPECTED_IDS.iter().map(|(n, id)| (*id, *n)).collect();
    for (name, id) in EXTENSION_IDS {
        assert!(name.starts_with(EXTENSION_PREFIX), "{name}");
        assert!(
            !EXPECTED_IDS.iter().any(|(n, _)| n == name),
            "{name} reuses a reference name"
        );
        assert_eq!(
            reference.get(id),
            None,
            "{name} {id:#010x} collides with a reference id"
        );
        let c = find_by_name(name).expect("extension in the schema");
        assert!(!c.explicit_id, "{name}: extensions use the CRC rule");
        assert_eq!(crc32fast::hash(c.declaration.as_bytes()), *id, "{name}");
    }
    assert_eq!(
        crc32fast::hash(
            b"cocoonrs.cancelRequest request_id:int256 reason:string = cocoonrs.Control"
        ),
        0x020f2a44
    );
    assert_eq!(types::cocoonrs::CancelRequest::CONSTRUCTOR_ID, 0x020f2a44);
}

#[test]
fn all_ids_is_sorted_by_name_and_unique() {
    let ids = all_ids();
    assert!(ids.windows(2).all(|w| w[0].0 < w[1].0));
    let unique: std::collections::BTreeSet<u32> = ids.iter().map(|(_, id)| *id).collect();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn crc_examples_of_the_spec() {
    // runners.md §2.3, three worked CRC examples.
    assert_eq!(
        crc32fast::hash(b"tcp.ping id:long = tcp.Packet"),
        0xbbe9627c
    );
    assert_eq!(
        crc32fast::hash(b"client.workerTypes types:vector client.workerType = client.WorkerTypes"),
        0xf64e0e01
    );
    let december_run_query_ex =
        "client.runQueryEx model_name:string query:bytes max_coefficient:int \
        max_tokens:int timeout:double request_id:int256 min_config_version:int flags:# \
        enable_debug:flags.0?Bool = client.QueryAnswerEx";
    assert_eq!(
        crc32fast::hash(december_run_query_ex.as_bytes()),
        0xf54cb74b
    );
}

#[test]
fn our_normalised_declarations_hash_to_the_spec_ids() {
    // The generator's canonical text must be exactly the reference's.
    let ping = find_by_name("tcp.ping").unwrap();
    assert_eq!(ping.declaration, "tcp.ping id:long = tcp.Packet");
    let worker_types = find_by_name("client.workerTypes").unwrap();
    assert_eq!(
        worker_types.declaration,
        "client.workerTypes types:vector client.workerType = client.WorkerTypes"
    );
    assert_eq!(
        crc32fast::hash(worker_types.declaration.as_bytes()),
        worker_types.id
    );

    // Pinned functions: delta Appendix A gives their (unused) CRCs.
    let client_run = find_by_name("client.runQueryEx").unwrap();
    assert!(client_run.explicit_id);
    assert_eq!(
        crc32fast::hash(client_run.declaration.as_bytes()),
        0x2a223a90
    );
    let proxy_run = find_by_name("proxy.runQueryEx").unwrap();
    assert!(proxy_run.explicit_id);
    assert_eq!(
        crc32fast::hash(proxy_run.declaration.as_bytes()),
        0x57eefa78
    );
    // worker.params: delta §1.2 gives the April implicit CRC that the pin avoids.
    let worker_params = find_by_name("worker.params").unwrap();
    assert_eq!(
        crc32fast::hash(worker_params.declaration.as_bytes()),
        0xebddc42d
    );

    // Every implicit id is the CRC of its declaration.
    for c in cocoon_wire::dynamic::constructors() {
        if !c.explicit_id {
            assert_eq!(
                crc32fast::hash(c.declaration.as_bytes()),
                c.id,
                "{}",
                c.name
            );
        }
    }
}

#[test]
fn typed_constants_agree_with_the_table() {
    assert_eq!(types::tcp::Ping::CONSTRUCTOR_ID, 0xbbe9627c);
    assert_eq!(types::TokensUsed::CONSTRUCTOR_ID, 0x70c5b15c);
    assert_eq!(
        types::proxy::QueryAnswerPartEx::NAME,
        "proxy.queryAnswerPartEx"
    );
    assert_eq!(functions::client::RunQueryEx::CONSTRUCTOR_ID, 0xf54cb74b);
    assert_eq!(
        functions::key_manager::GetWorkerPrivateKeys::CONSTRUCTOR_ID,
        0x4b90e9b1
    );
    assert_eq!(builtin_ids::BOOL_TRUE, 0x997275b5);
    assert_eq!(builtin_ids::BOOL_FALSE, 0xbc799737);
    assert_eq!(builtin_ids::VECTOR, 0x1cb5c415);
}
