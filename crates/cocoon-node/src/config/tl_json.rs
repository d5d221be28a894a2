//! TL-JSON field decoding, with the value rules of TON's `tl_json.h` (see the parent module) and
//! errors that name the field.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{ConfigError, Int256, SecretKeySeed};

/// Parses `text` as a JSON object; the first step of every config decoder.
pub(super) fn parse_object(text: &str) -> Result<Map<String, Value>, ConfigError> {
    let value: Value =
        serde_json::from_str(text).map_err(|source| ConfigError::Json { path: None, source })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ConfigError::NotAnObject { path: None }),
    }
}

/// Takes the fields of one TL object out of a JSON object, one by one; [`ObjectReader::finish`]
/// then rejects whatever is left (except the listed ignored keys).
pub(super) struct ObjectReader {
    map: Map<String, Value>,
    /// Field path prefix for error messages, e.g. `registered_proxies[0]`; empty at the top level.
    prefix: String,
    tl_type: &'static str,
}

impl ObjectReader {
    pub(super) fn new(map: Map<String, Value>, prefix: String, tl_type: &'static str) -> Self {
        Self {
            map,
            prefix,
            tl_type,
        }
    }

    /// Builds a reader for a nested object value, failing if it is not an object.
    pub(super) fn nested(
        value: Value,
        prefix: String,
        tl_type: &'static str,
    ) -> Result<Self, ConfigError> {
        match value {
            Value::Object(map) => Ok(Self::new(map, prefix, tl_type)),
            other => Err(invalid(
                &prefix,
                format!("expected an object, got {}", kind(&other)),
            )),
        }
    }

    fn field_name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.prefix, key)
        }
    }

    /// Removes `key`; `None` when absent or `null` (TL-JSON treats both as the default).
    fn take(&mut self, key: &str) -> Option<(String, Value)> {
        match self.map.remove(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some((self.field_name(key), v)),
        }
    }

    /// Accepts a `"@type"` key if it names `expected`.
    pub(super) fn type_tag(&mut self, expected: &str) -> Result<(), ConfigError> {
        if let Some((name, v)) = self.take("@type") {
            if v.as_str() != Some(expected) {
                return Err(invalid(&name, format!("expected \"{expected}\", got {v}")));
            }
        }
        Ok(())
    }

    /// TL `int`: a JSON integer or a string holding a decimal integer, in `i32` range.
    pub(super) fn int32(&mut self, key: &str) -> Result<i32, ConfigError> {
        match self.take(key) {
            None => Ok(0),
            Some((name, v)) => int32_value(&name, &v),
        }
    }

    /// TL `int` used as a TCP port: like [`Self::int32`] but limited to 0..=65535.
    pub(super) fn port(&mut self, key: &str) -> Result<u16, ConfigError> {
        match self.take(key) {
            None => Ok(0),
            Some((name, v)) => {
                let n = int32_value(&name, &v)?;
                u16::try_from(n)
                    .map_err(|_| invalid(&name, format!("port {n} is outside 0..=65535")))
            }
        }
    }

    /// TL `Bool`: `true`/`false`, or an `int` (number or numeric string) where non-zero is true.
    pub(super) fn boolean(&mut self, key: &str) -> Result<bool, ConfigError> {
        match self.take(key) {
            None => Ok(false),
            Some((_, Value::Bool(b))) => Ok(b),
            Some((name, v)) => match int32_value(&name, &v) {
                Ok(n) => Ok(n != 0),
                Err(_) => Err(invalid(
                    &name,
                    format!(
                        "expected a boolean (true/false, or 0/1 as number or string), got {}{}",
                        kind(&v),
                        template_hint(&v)
                    ),
                )),
            },
        }
    }

    /// TL `string`.
    pub(super) fn string(&mut self, key: &str) -> Result<String, ConfigError> {
        match self.take(key) {
            None => Ok(String::new()),
            Some((name, v)) => string_value(&name, v),
        }
    }

    /// TL `int256` holding public data.
    pub(super) fn int256(&mut self, key: &str) -> Result<Int256, ConfigError> {
        match self.take(key) {
            None => Ok(Int256::default()),
            Some((name, v)) => int256_value(&name, &v).map(Int256),
        }
    }

    /// TL `int256` holding a private-key seed.
    pub(super) fn secret_seed(&mut self, key: &str) -> Result<SecretKeySeed, ConfigError> {
        match self.take(key) {
            None => Ok(SecretKeySeed::default()),
            Some((name, v)) => int256_value(&name, &v).map(SecretKeySeed),
        }
    }

    /// TL `(vector int256)`.
    pub(super) fn int256_vec(&mut self, key: &str) -> Result<Vec<Int256>, ConfigError> {
        let Some((name, v)) = self.take(key) else {
            return Ok(Vec::new());
        };
        array_items(&name, v)?
            .into_iter()
            .enumerate()
            .map(|(i, item)| int256_value(&format!("{name}[{i}]"), &item).map(Int256))
            .collect()
    }

    /// TL `(vector string)`.
    pub(super) fn string_vec(&mut self, key: &str) -> Result<Vec<String>, ConfigError> {
        let Some((name, v)) = self.take(key) else {
            return Ok(Vec::new());
        };
        array_items(&name, v)?
            .into_iter()
            .enumerate()
            .map(|(i, item)| string_value(&format!("{name}[{i}]"), item))
            .collect()
    }

    /// TL `(vector <bare object>)`: one reader per element, prefixed `key[i]`.
    pub(super) fn object_vec(
        &mut self,
        key: &str,
        tl_type: &'static str,
    ) -> Result<Vec<ObjectReader>, ConfigError> {
        let Some((name, v)) = self.take(key) else {
            return Ok(Vec::new());
        };
        array_items(&name, v)?
            .into_iter()
            .enumerate()
            .map(|(i, item)| ObjectReader::nested(item, format!("{name}[{i}]"), tl_type))
            .collect()
    }

    /// Ends decoding: keys in `ignored` are returned (with their path) for the caller to report;
    /// any other key left over is an [`ConfigError::UnknownField`].
    pub(super) fn finish(mut self, ignored: &[&str]) -> Result<Vec<String>, ConfigError> {
        let mut ignored_found = Vec::new();
        for key in ignored {
            if self.map.remove(*key).is_some() {
                ignored_found.push(self.field_name(key));
            }
        }
        if let Some(key) = self.map.keys().next() {
            return Err(ConfigError::UnknownField {
                path: None,
                field: self.field_name(key),
                tl_type: self.tl_type,
            });
        }
        Ok(ignored_found)
    }
}

pub(super) fn invalid(field: &str, reason: String) -> ConfigError {
    ConfigError::InvalidField {
        path: None,
        field: field.to_string(),
        reason,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A hint for values such as `"$IS_DEBUG"`: the reference's spec files are templates that
/// `cocoon-subst` fills in before a runner reads them.
fn template_hint(v: &Value) -> &'static str {
    match v.as_str() {
        Some(s) if s.contains('$') => " (an unsubstituted template variable?)",
        _ => "",
    }
}

fn int32_value(name: &str, v: &Value) -> Result<i32, ConfigError> {
    let parsed = match v {
        Value::Number(n) => n.as_i64().and_then(|x| i32::try_from(x).ok()),
        // The reference's `to_integer_safe`: optional '-', then decimal digits only.
        Value::String(s) => parse_decimal_i32(s),
        _ => None,
    };
    parsed.ok_or_else(|| {
        invalid(
            name,
            format!(
                "expected a 32-bit integer (number or decimal string), got {}{}",
                describe(v),
                template_hint(v)
            ),
        )
    })
}

fn parse_decimal_i32(s: &str) -> Option<i32> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok()
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() <= 64 => format!("the string {s:?}"),
        other => kind(other).to_string(),
    }
}

fn string_value(name: &str, v: Value) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(invalid(
            name,
            format!("expected a string, got {}", kind(&other)),
        )),
    }
}

fn int256_value(name: &str, v: &Value) -> Result<[u8; 32], ConfigError> {
    let Value::String(s) = v else {
        return Err(invalid(
            name,
            format!("expected a base64 string of 32 bytes, got {}", kind(v)),
        ));
    };
    // Standard alphabet, padding required, non-canonical trailing bits rejected: as td's decoder.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| {
            invalid(
                name,
                format!(
                    "expected standard base64 of 32 bytes: {e}{}",
                    template_hint(v)
                ),
            )
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        invalid(
            name,
            format!(
                "expected 32 bytes after base64 decoding, got {}",
                bytes.len()
            ),
        )
    })
}

fn array_items(name: &str, v: Value) -> Result<Vec<Value>, ConfigError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(invalid(
            name,
            format!("expected an array, got {}", kind(&other)),
        )),
    }
}

/// Parses `"a.b.c.d:port"` (optionally `"[a.b.c.d:port]"`), IPv4 only, as the reference's
/// `connect_to_proxy_via` and root-config address parsers do.
pub(super) fn ipv4_socket_addr(name: &str, s: &str) -> Result<std::net::SocketAddrV4, ConfigError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let parsed = inner.split_once(':').and_then(|(ip, port)| {
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port: u16 = port.parse().ok()?;
        Some(std::net::SocketAddrV4::new(ip, port))
    });
    parsed.ok_or_else(|| {
        invalid(
            name,
            format!("expected an IPv4 address with port like \"127.0.0.1:8116\", got {s:?}"),
        )
    })
}
