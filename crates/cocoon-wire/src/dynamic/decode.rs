//! TL bytes → JSON, driven by the generated constructor table.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::{
    find_by_id, find_by_name, min_size, ConstructorInfo, FieldType, CANONICAL_NAN_BITS,
    MAX_SAFE_JSON_INTEGER,
};
use crate::tl::{DecodeError, Reader};

/// Decodes one boxed object or function spanning all of `bytes` into JSON.
///
/// See the [module documentation](super) for the JSON form.
pub fn decode_json(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = read_boxed(&mut reader, None)?;
    reader.finish()?;
    Ok(value)
}

/// Reads an id and the fields of its constructor. With `expected_type`, only
/// data constructors of that type are accepted; without, any entry.
fn read_boxed(
    r: &mut Reader<'_>,
    expected_type: Option<&'static str>,
) -> Result<Value, DecodeError> {
    let id = r.read_constructor_id()?;
    let info = find_by_id(id).filter(|c| match expected_type {
        Some(ty) => !c.is_function && c.result_type == ty,
        None => true,
    });
    match info {
        Some(info) => read_fields(r, info),
        None => Err(r.unknown_constructor(id, expected_type.unwrap_or("any schema object"))),
    }
}

fn read_fields(r: &mut Reader<'_>, info: &'static ConstructorInfo) -> Result<Value, DecodeError> {
    r.enter()?;
    let mut map = Map::new();
    map.insert("@type".to_string(), Value::String(info.name.to_string()));
    // Values of the `#` fields read so far, for the conditions of later fields.
    let mut flags: Vec<(&'static str, u32)> = Vec::new();
    for field in info.fields {
        if let Some(cond) = field.condition {
            let word = flags
                .iter()
                .find(|(name, _)| *name == cond.flags_field)
                .map_or(0, |(_, value)| *value);
            if word & (1u32 << cond.bit) == 0 {
                continue;
            }
        }
        let value = if field.ty == FieldType::Flags {
            let word = r.field(info.name, field.name, Reader::read_u32)?;
            flags.push((field.name, word));
            Value::from(word)
        } else {
            r.field(info.name, field.name, |r| read_value(r, &field.ty))?
        };
        map.insert(field.name.to_string(), value);
    }
    r.leave();
    Ok(Value::Object(map))
}

fn read_value(r: &mut Reader<'_>, ty: &FieldType) -> Result<Value, DecodeError> {
    let base64 = &base64::engine::general_purpose::STANDARD;
    Ok(match ty {
        FieldType::Int => Value::from(r.read_i32()?),
        FieldType::Flags => Value::from(r.read_u32()?),
        FieldType::Long => long_to_json(r.read_i64()?),
        FieldType::Double => double_to_json(r.read_f64()?),
        FieldType::String => Value::String(r.read_string()?),
        FieldType::Bytes => Value::String(base64.encode(r.read_bytes_ref()?)),
        FieldType::Int128 => Value::String(base64.encode(r.read_int128()?)),
        FieldType::Int256 => Value::String(base64.encode(r.read_int256()?)),
        FieldType::Bool => Value::Bool(r.read_bool()?),
        FieldType::Vector(inner) => {
            Value::Array(r.read_vector(min_size(inner), |r| read_value(r, inner))?)
        }
        FieldType::Bare(name) => match find_by_name(name) {
            Some(info) => read_fields(r, info)?,
            // The generator checks every bare type; this is unreachable for the built-in table.
            None => return Err(r.unknown_constructor(0, name)),
        },
        FieldType::Boxed(ty) => read_boxed(r, Some(ty))?,
    })
}

/// A `long` as a JSON number when exactly representable in every JSON reader, else a string.
fn long_to_json(v: i64) -> Value {
    if v.unsigned_abs() <= MAX_SAFE_JSON_INTEGER as u64 {
        Value::from(v)
    } else {
        Value::String(v.to_string())
    }
}

/// A `double` as a JSON number, or a string naming a non-finite value.
fn double_to_json(v: f64) -> Value {
    if let Some(n) = Number::from_f64(v) {
        return Value::Number(n);
    }
    let text = if v == f64::INFINITY {
        "Infinity".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Infinity".to_string()
    } else if v.to_bits() == CANONICAL_NAN_BITS {
        "NaN".to_string()
    } else {
        format!("NaN:{:#018x}", v.to_bits())
    };
    Value::String(text)
}
