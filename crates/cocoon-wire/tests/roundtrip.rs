//! Property tests over every constructor and function of the schema:
//! random values built from the dynamic table → `encode_json` → typed decode
//! (through the enums / `AnyFunction`) → typed re-encode gives identical
//! bytes, and `decode_json` gives back the identical JSON.

use base64::Engine as _;
use cocoon_wire::dynamic::{
    constructors, decode_json, encode_json, find_by_name, ConstructorInfo, FieldType,
};
use cocoon_wire::schema::{enums, functions};
use cocoon_wire::tl::{from_bytes, to_bytes, Boxed, DecodeError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value};

fn b64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// JSON form of a long: a number within ±2^53, else a decimal string.
fn long_json(v: i64) -> Value {
    if v.unsigned_abs() <= 1 << 53 {
        Value::from(v)
    } else {
        Value::String(v.to_string())
    }
}

/// JSON form of a double: a number if finite, else its string name.
fn double_json(v: f64) -> Value {
    match serde_json::Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None if v == f64::INFINITY => Value::from("Infinity"),
        None if v == f64::NEG_INFINITY => Value::from("-Infinity"),
        None if v.to_bits() == 0x7ff8_0000_0000_0000 => Value::from("NaN"),
        None => Value::String(format!("NaN:{:#018x}", v.to_bits())),
    }
}

fn value_strategy(ty: &'static FieldType) -> BoxedStrategy<Value> {
    match ty {
        FieldType::Int => any::<i32>().prop_map(Value::from).boxed(),
        FieldType::Flags => any::<u32>().prop_map(Value::from).boxed(),
        FieldType::Long => prop_oneof![any::<i64>(), -1000i64..1000]
            .prop_map(long_json)
            .boxed(),
        FieldType::Double => prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            any::<u64>().prop_map(|bits| f64::from_bits(bits | 0x7ff0_0000_0000_0001)),
        ]
        .prop_map(double_json)
        .boxed(),
        FieldType::String => prop_oneof![".{0,12}", "[a-z]{250,300}"]
            .prop_map(Value::String)
            .boxed(),
        FieldType::Bytes => prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 250..300),
        ]
        .prop_map(|b| b64(&b))
        .boxed(),
        FieldType::Int128 => any::<[u8; 16]>().prop_map(|b| b64(&b)).boxed(),
        FieldType::Int256 => any::<[u8; 32]>().prop_map(|b| b64(&b)).boxed(),
        FieldType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        FieldType::Vector(inner) => proptest::collection::vec(value_strategy(inner), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        FieldType::Bare(name) => object_strategy(find_by_name(name).expect("bare type in table")),
        FieldType::Boxed(ty) => {
            let variants: Vec<BoxedStrategy<Value>> = constructors()
                .iter()
                .filter(|c| !c.is_function && c.result_type == *ty)
                .map(object_strategy)
                .collect();
            proptest::strategy::Union::new(variants).boxed()
        }
    }
}

/// A random object of constructor `info`, in exactly the JSON form that
/// `decode_json` produces (optional fields present iff their bit is set).
fn object_strategy(info: &'static ConstructorInfo) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Value>> =
        info.fields.iter().map(|f| value_strategy(&f.ty)).collect();
    fields
        .prop_map(move |values| {
            let mut map = Map::new();
            map.insert("@type".into(), Value::from(info.name));
            for (field, value) in info.fields.iter().zip(values) {
                if let Some(cond) = field.condition {
                    let word = map
                        .get(cond.flags_field)
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    if word & (1 << cond.bit) == 0 {
                        continue;
                    }
                }
                map.insert(field.name.into(), value);
            }
            Value::Object(map)
        })
        .boxed()
}

/// Decodes `bytes` with the typed enum of `info`'s type and re-encodes it.
fn typed_reencode(info: &ConstructorInfo, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    fn via<T: Boxed>(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let value = from_bytes::<T>(bytes)?;
        let out = to_bytes(&value);
        assert_eq!(value.boxed_len(), out.len());
        Ok(out)
    }
    if info.is_function {
        return via::<functions::AnyFunction>(bytes);
    }
    macro_rules! by_type {
        ($($name:literal => $ty:ty,)*) => {
            match info.result_type {
                $($name => via::<$ty>(bytes),)*
                other => panic!("boxed type {other} is missing from this test's list"),
            }
        };
    }
    by_type! {
        "TokensUsed" => enums::TokensUsed,
        "tcp.Packet" => enums::tcp::Packet,
        "ton.BlockIdExt" => enums::ton::BlockIdExt,
        "test.Answer" => enums::test::Answer,
        "proxyRunner.Config" => enums::proxy_runner::Config,
        "workerRunner.Config" => enums::worker_runner::Config,
        "clientRunner.Config" => enums::client_runner::Config,
        "keyStorageRunner.Config" => enums::key_storage_runner::Config,
        "rootConfig.RegisteredProxy" => enums::root_config::RegisteredProxy,
        "rootConfig.RegisteredPublicKey" => enums::root_config::RegisteredPublicKey,
        "rootConfig.Config" => enums::root_config::Config,
        "proxyDb.ClientInfo" => enums::proxy_db::ClientInfo,
        "proxyDb.WorkerInfo" => enums::proxy_db::WorkerInfo,
        "proxyDb.PendingBlockchainSeqnoCommit" => enums::proxy_db::PendingBlockchainSeqnoCommit,
        "proxyDb.Config" => enums::proxy_db::Config,
        "proxyDb.OldClient" => enums::proxy_db::OldClient,
        "proxyDb.OldWorker" => enums::proxy_db::OldWorker,
        "proxyDb.OldInstance" => enums::proxy_db::OldInstance,
        "keyManagerDb.Config" => enums::key_manager_db::Config,
        "keyManagerDb.Key" => enums::key_manager_db::Key,
        "worker.Params" => enums::worker::Params,
        "proxy.Params" => enums::proxy::Params,
        "client.Params" => enums::client::Params,
        "client.ProxyConnectionAuth" => enums::client::ProxyConnectionAuth,
        "client.AuthorizationWithProxy" => enums::client::AuthorizationWithProxy,
        "client.ConnectedToProxy" => enums::client::ConnectedToProxy,
        "client.QueryAnswer" => enums::client::QueryAnswer,
        "client.QueryAnswerPart" => enums::client::QueryAnswerPart,
        "client.QueryFinalInfo" => enums::client::QueryFinalInfo,
        "client.QueryAnswerEx" => enums::client::QueryAnswerEx,
        "client.Refund" => enums::client::Refund,
        "client.WorkerType" => enums::client::WorkerType,
        "client.WorkerTypes" => enums::client::WorkerTypes,
        "client.WorkerInstanceV2" => enums::client::WorkerInstanceV2,
        "client.WorkerTypeV2" => enums::client::WorkerTypeV2,
        "client.WorkerTypesV2" => enums::client::WorkerTypesV2,
        "client.PaymentStatus" => enums::client::PaymentStatus,
        "proxy.WorkerRequestPayment" => enums::proxy::WorkerRequestPayment,
        "proxy.SignedPayment" => enums::proxy::SignedPayment,
        "proxy.QueryAnswer" => enums::proxy::QueryAnswer,
        "proxy.QueryAnswerPart" => enums::proxy::QueryAnswerPart,
        "proxy.QueryFinalInfo" => enums::proxy::QueryFinalInfo,
        "proxy.QueryAnswerEx" => enums::proxy::QueryAnswerEx,
        "worker.EnabledDisabled" => enums::worker::EnabledDisabled,
        "worker.NewCoefficient" => enums::worker::NewCoefficient,
        "worker.ConnectedToProxy" => enums::worker::ConnectedToProxy,
        "worker.CompareBalanceWithProxyResult" => enums::worker::CompareBalanceWithProxyResult,
        "worker.ExtendedCompareBalanceWithProxyResult" => enums::worker::ExtendedCompareBalanceWithProxyResult,
        "worker.HandshakeCompleted" => enums::worker::HandshakeCompleted,
        "worker.PaymentStatus" => enums::worker::PaymentStatus,
        "worker.ChangedModel" => enums::worker::ChangedModel,
        "keyManager.PrivateKey" => enums::key_manager::PrivateKey,
        "keyManager.PrivateKeys" => enums::key_manager::PrivateKeys,
        "http.Header" => enums::http::Header,
        "http.Response" => enums::http::Response,
        // cocoon-rs extension (docs/protocol-extensions.md).
        "cocoonrs.Control" => enums::cocoonrs::Control,
    }
}

fn check_round_trip(info: &ConstructorInfo, json: &Value) -> Result<(), TestCaseError> {
    let bytes = encode_json(json).map_err(|e| TestCaseError::fail(format!("encode_json: {e}")))?;
    let typed = typed_reencode(info, &bytes)
        .map_err(|e| TestCaseError::fail(format!("typed decode: {e}")))?;
    prop_assert_eq!(&typed, &bytes, "typed re-encoding differs");
    let back = decode_json(&bytes).map_err(|e| TestCaseError::fail(format!("decode_json: {e}")))?;
    prop_assert_eq!(&back, json);
    // Through JSON text too (exact floats need serde_json's float_roundtrip).
    let text = serde_json::to_string(&back).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let reparsed: Value =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let again = encode_json(&reparsed)
        .map_err(|e| TestCaseError::fail(format!("encode_json(text): {e}")))?;
    prop_assert_eq!(again, bytes);
    Ok(())
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn every_constructor_round_trips_through_json_and_typed_layers() {
    for info in constructors() {
        // A fresh runner per constructor: a runner counts cases across runs.
        let mut runner = TestRunner::new(config(48));
        let strategy = object_strategy(info);
        if let Err(err) = runner.run(&strategy, |json| check_round_trip(info, &json)) {
            panic!("{}: {err}", info.name);
        }
    }
}

proptest! {
    #![proptest_config(Config { cases: 2000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_json(&bytes);
        let _ = from_bytes::<enums::tcp::Packet>(&bytes);
        let _ = from_bytes::<enums::client::QueryAnswerEx>(&bytes);
        let _ = from_bytes::<enums::proxy_db::Config>(&bytes);
        let _ = from_bytes::<functions::AnyFunction>(&bytes);
    }

    #[test]
    fn known_id_with_random_body_never_panics(
        index in 0..constructors().len(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let info = &constructors()[index];
        let mut bytes = info.id.to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        let decoded = decode_json(&bytes);
        let typed = typed_reencode(info, &bytes);
        // Both layers agree on acceptance, and on the canonical bytes.
        match (decoded, typed) {
            (Ok(json), Ok(typed_bytes)) => {
                prop_assert_eq!(encode_json(&json).ok(), Some(typed_bytes));
            }
            (Err(_), Err(_)) => {}
            (d, t) => prop_assert!(false, "layers disagree: json {:?} typed {:?}", d.map(|_| ()), t.map(|_| ())),
        }
    }
}

#[test]
fn mutated_valid_messages_never_panic_and_layers_agree() {
    for info in constructors() {
        let mut runner = TestRunner::new(config(16));
        let strategy = (object_strategy(info), any::<u64>(), any::<u8>());
        let result = runner.run(&strategy, |(json, position, byte)| {
            let mut bytes = encode_json(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let at = (position % bytes.len() as u64) as usize;
            bytes[at] = byte;
            let cut = bytes.len() - (position as usize % 3);
            let bytes = &bytes[..cut];
            let decoded = decode_json(bytes);
            let typed = typed_reencode(info, bytes);
            prop_assert_eq!(decoded.is_ok(), typed.is_ok());
            if let (Ok(json), Ok(typed_bytes)) = (decoded, typed) {
                prop_assert_eq!(encode_json(&json).ok(), Some(typed_bytes));
            }
            Ok(())
        });
        if let Err(err) = result {
            panic!("{}: {err}", info.name);
        }
    }
}
