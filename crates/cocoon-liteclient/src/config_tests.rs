//! Tests of global config parsing and its error messages.

use super::*;

const GOOD: &str = r#"{
  "@type": "config.global",
  "liteservers": [
    {"ip": 84478511, "port": 19949, "id": {"@type": "pub.ed25519", "key": "n4VDnSCUuSpjnCyUk9e3QOOd6o0ItSWYbTnW3Wnn8wk="}},
    {"ip": -1185555191, "port": 4924, "id": {"@type": "pub.ed25519", "key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}
  ],
  "validator": {
    "@type": "validator.config.global",
    "zero_state": {"workchain": -1, "shard": -9223372036854775808, "seqno": 0,
      "root_hash": "F6OpKZKqvqeFp6CQmFomXNMfMj2EnaUSOXN+Mh+wVWk=", "file_hash": "XplPz01CXAps5qeSWUtxcyBfdAo5zVb1N979KLSKD24="},
    "init_block": {"workchain": -1, "shard": -9223372036854775808, "seqno": 100,
      "root_hash": "F6OpKZKqvqeFp6CQmFomXNMfMj2EnaUSOXN+Mh+wVWk=", "file_hash": "XplPz01CXAps5qeSWUtxcyBfdAo5zVb1N979KLSKD24="}
  }
}"#;

#[test]
fn parses_liteservers_with_signed_ips_and_blocks() {
    let cfg = GlobalConfig::from_json(GOOD).expect("valid config");
    assert_eq!(cfg.liteservers.len(), 2);
    assert_eq!(cfg.liteservers[0].addr.to_string(), "5.9.10.47:19949");
    // A negative ip is the same 32 bits read as unsigned: 0xb955dd09 = 185.85.221.9.
    assert_eq!(cfg.liteservers[1].addr.to_string(), "185.85.221.9:4924");
    assert_eq!(cfg.liteservers[0].public_key[0], 0x9f);
    let zero = cfg.zero_state.expect("zero state");
    assert_eq!(
        (zero.workchain, zero.shard, zero.seqno),
        (-1, 0x8000_0000_0000_0000, 0)
    );
    assert_eq!(cfg.init_block.map(|b| b.seqno), Some(100));
}

fn error_of(text: &str) -> String {
    GlobalConfig::from_json(text)
        .expect_err("must fail")
        .to_string()
}

#[test]
fn errors_name_the_bad_field() {
    let bad_key = GOOD.replace(
        "n4VDnSCUuSpjnCyUk9e3QOOd6o0ItSWYbTnW3Wnn8wk=",
        "not base64!",
    );
    assert!(
        error_of(&bad_key).contains("liteservers[0].id.key: not valid base64"),
        "{}",
        error_of(&bad_key)
    );
    let short_key = GOOD.replace("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AAAA");
    assert!(error_of(&short_key).contains("liteservers[1].id.key: expected 32 bytes, got 3"));
    let big_ip = GOOD.replace("84478511", "4294967296");
    assert!(error_of(&big_ip).contains("liteservers[0].ip"));
    let bad_port = GOOD.replace("4924", "70000");
    assert!(error_of(&bad_port).contains("liteservers[1].port: 70000 is not a TCP port"));
    let bad_type = GOOD.replacen("pub.ed25519", "pub.aes", 1);
    assert!(error_of(&bad_type).contains("liteservers[0].id.@type"));
    let bad_hash = GOOD.replacen("XplPz01CXAps5qeSWUtxcyBfdAo5zVb1N979KLSKD24=", "AAAA", 1);
    assert!(error_of(&bad_hash).contains("validator.zero_state.file_hash"));
}

#[test]
fn structural_errors() {
    assert!(matches!(
        GlobalConfig::from_json("{"),
        Err(ConfigError::Json(_))
    ));
    assert!(matches!(
        GlobalConfig::from_json(r#"{"liteservers": []}"#),
        Err(ConfigError::NoLiteservers)
    ));
    assert!(matches!(
        GlobalConfig::from_json("{}"),
        Err(ConfigError::NoLiteservers)
    ));
    let missing_port = r#"{"liteservers": [{"ip": 1, "id": {"key": "AAAA"}}]}"#;
    assert!(error_of(missing_port).contains("port"));
    let missing = GlobalConfig::from_file(Path::new("/nonexistent/global.config.json"));
    assert!(matches!(missing, Err(ConfigError::Read { .. })));
}
