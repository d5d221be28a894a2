//! JSON → TL bytes, driven by the generated constructor table.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{find_by_name, ConstructorInfo, FieldType, CANONICAL_NAN_BITS};
use crate::tl::{
    write_bool, write_bytes, write_f64, write_i32, write_i64, write_string, write_u32,
    write_vector_len,
};

/// Why a JSON value could not be encoded, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct EncodeError {
    /// Field path from the top-level object, e.g. `params.is_test` or
    /// `headers[2].name`; `(top level)` for the object itself.
    pub path: String,
    /// What is wrong with the value there.
    pub message: String,
}

impl EncodeError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            path: String::new(),
            message: message.into(),
        }
    }

    /// Prefixes the path with `segment` (a field name or `[index]`).
    fn within(mut self, segment: &str) -> Self {
        self.path = if self.path.is_empty() {
            segment.to_string()
        } else if self.path.starts_with('[') {
            format!("{segment}{}", self.path)
        } else {
            format!("{segment}.{}", self.path)
        };
        self
    }
}

/// Encodes a JSON object (with `"@type"` naming a constructor or function)
/// to boxed TL bytes.
///
/// See the [module documentation](super) for the JSON form.
pub fn encode_json(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    let result = match value.as_object() {
        Some(object) => match type_name(object) {
            Some(name) => match find_by_name(name) {
                Some(info) => {
                    write_u32(&mut out, info.id);
                    write_fields(&mut out, object, info)
                }
                None => Err(EncodeError::new(format!(
                    "unknown constructor or function `{name}`"
                ))),
            },
            None => Err(EncodeError::new("the object has no string \"@type\"")),
        },
        None => Err(EncodeError::new("expected a JSON object with \"@type\"")),
    };
    result.map_err(|e| {
        if e.path.is_empty() {
            e.within("(top level)")
        } else {
            e
        }
    })?;
    Ok(out)
}

fn type_name(object: &Map<String, Value>) -> Option<&str> {
    object.get("@type").and_then(Value::as_str)
}

/// A field's value, treating `null` like an absent key.
fn present<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).filter(|v| !v.is_null())
}

fn write_fields(
    out: &mut Vec<u8>,
    object: &Map<String, Value>,
    info: &ConstructorInfo,
) -> Result<(), EncodeError> {
    if let Some(unknown) = object
        .keys()
        .find(|k| *k != "@type" && !info.fields.iter().any(|f| f.name == k.as_str()))
    {
        return Err(EncodeError::new(format!(
            "`{}` has no field `{unknown}`",
            info.name
        )));
    }
    // The flags words as they will be written: given value (or 0) plus the
    // bits of the optional fields that are present.
    let mut flags: Vec<(&'static str, u32)> = Vec::new();
    for field in info.fields.iter().filter(|f| f.ty == FieldType::Flags) {
        let mut word = match present(object, field.name) {
            Some(v) => json_u32(v).map_err(|e| e.within(field.name))?,
            None => 0,
        };
        for other in info.fields {
            if let Some(cond) = other.condition {
                if cond.flags_field == field.name && present(object, other.name).is_some() {
                    word |= 1u32 << cond.bit;
                }
            }
        }
        flags.push((field.name, word));
    }
    for field in info.fields {
        let value = present(object, field.name);
        if field.ty == FieldType::Flags {
            let word = flags
                .iter()
                .find(|(name, _)| *name == field.name)
                .map_or(0, |(_, w)| *w);
            write_u32(out, word);
            continue;
        }
        if let Some(cond) = field.condition {
            let word = flags
                .iter()
                .find(|(name, _)| *name == cond.flags_field)
                .map_or(0, |(_, w)| *w);
            if word & (1u32 << cond.bit) == 0 {
                continue;
            }
            if value.is_none() {
                return Err(EncodeError::new(format!(
                    "missing: bit {} of `{}` is set, so this field is required",
                    cond.bit, cond.flags_field
                ))
                .within(field.name));
            }
        }
        match value {
            Some(v) => write_value(out, &field.ty, v).map_err(|e| e.within(field.name))?,
            None => return Err(EncodeError::new("missing required field").within(field.name)),
        }
    }
    Ok(())
}

fn write_value(out: &mut Vec<u8>, ty: &FieldType, value: &Value) -> Result<(), EncodeError> {
    match ty {
        FieldType::Int => {
            let v = value
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| expected("a 32-bit signed integer (int)", value))?;
            write_i32(out, v);
        }
        FieldType::Flags => write_u32(out, json_u32(value)?),
        FieldType::Long => write_i64(out, json_i64(value)?),
        FieldType::Double => write_f64(out, json_f64(value)?),
        FieldType::String => {
            let text = value.as_str().ok_or_else(|| expected("a string", value))?;
            write_string(out, text);
        }
        FieldType::Bytes => write_bytes(out, &json_base64(value)?),
        FieldType::Int128 => out.extend_from_slice(&json_fixed::<16>(value)?),
        FieldType::Int256 => out.extend_from_slice(&json_fixed::<32>(value)?),
        FieldType::Bool => write_bool(
            out,
            value
                .as_bool()
                .ok_or_else(|| expected("true or false", value))?,
        ),
        FieldType::Vector(inner) => {
            let items = value
                .as_array()
                .ok_or_else(|| expected("an array", value))?;
            write_vector_len(out, items.len());
            for (index, item) in items.iter().enumerate() {
                write_value(out, inner, item).map_err(|e| e.within(&format!("[{index}]")))?;
            }
        }
        FieldType::Bare(name) => {
            let object = value
                .as_object()
                .ok_or_else(|| expected(&format!("a `{name}` object"), value))?;
            if let Some(given) = object.get("@type") {
                if given.as_str() != Some(name) {
                    return Err(EncodeError::new(format!(
                        "\"@type\" must be `{name}` here (bare field), got {given}"
                    )));
                }
            }
            let info = find_by_name(name)
                .ok_or_else(|| EncodeError::new(format!("unknown constructor `{name}`")))?;
            write_fields(out, object, info)?;
        }
        FieldType::Boxed(type_name_expected) => {
            let object = value.as_object().ok_or_else(|| {
                expected(&format!("an object of type `{type_name_expected}`"), value)
            })?;
            let name = type_name(object).ok_or_else(|| {
                EncodeError::new(format!(
                    "needs \"@type\": a constructor of `{type_name_expected}`"
                ))
            })?;
            let info = find_by_name(name)
                .filter(|c| !c.is_function && c.result_type == *type_name_expected)
                .ok_or_else(|| {
                    EncodeError::new(format!(
                        "`{name}` is not a constructor of `{type_name_expected}`"
                    ))
                })?;
            write_u32(out, info.id);
            write_fields(out, object, info)?;
        }
    }
    Ok(())
}

fn expected(what: &str, got: &Value) -> EncodeError {
    let mut shown = got.to_string();
    if shown.len() > 40 {
        let mut cut = 40;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    EncodeError::new(format!("expected {what}, got {shown}"))
}

fn json_u32(value: &Value) -> Result<u32, EncodeError> {
    value
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| expected("a 32-bit unsigned integer (flags)", value))
}

fn json_i64(value: &Value) -> Result<i64, EncodeError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        expected(
            "a 64-bit signed integer (long) as number or decimal string",
            value,
        )
    })
}

fn json_f64(value: &Value) -> Result<f64, EncodeError> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::from_bits(CANONICAL_NAN_BITS)),
            other => other
                .strip_prefix("NaN:0x")
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .map(f64::from_bits)
                .filter(|v| v.is_nan()),
        },
        _ => None,
    };
    parsed.ok_or_else(|| {
        expected(
            "a number, or \"Infinity\", \"-Infinity\", \"NaN\", \"NaN:0x<bits>\" (double)",
            value,
        )
    })
}

fn json_base64(value: &Value) -> Result<Vec<u8>, EncodeError> {
    let text = value
        .as_str()
        .ok_or_else(|| expected("a base64 string", value))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| EncodeError::new(format!("invalid base64 (standard alphabet, padded): {e}")))
}

fn json_fixed<const N: usize>(value: &Value) -> Result<[u8; N], EncodeError> {
    let bytes = json_base64(value)?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| EncodeError::new(format!("expected {N} bytes in base64, got {}", bytes.len())))
}
