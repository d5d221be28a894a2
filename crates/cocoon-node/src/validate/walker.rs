//! Building blocks of the schema walker: the JSON-object view that remembers which members were
//! looked at ([`Obj`]), the type checks, and the reference's path and message formats.

use serde_json::{Map, Value};

use super::RequestError;

pub(super) type Check<'f> = &'f dyn Fn(&Value, &str) -> Result<(), RequestError>;

/// How a path is shown in messages: the root is called `request`.
pub(super) fn shown(path: &str) -> &str {
    if path.is_empty() {
        "request"
    } else {
        path
    }
}

/// The OpenAI `param` for a path: without the leading dot.
pub(super) fn param(path: &str) -> Option<String> {
    let p = path.trim_start_matches('.');
    (!p.is_empty()).then(|| p.to_string())
}

pub(super) fn member_path(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

pub(super) fn wrong_type(path: &str, what: &str) -> RequestError {
    RequestError::invalid(
        "invalid_type",
        param(path),
        format!("{} must be {what}", shown(path)),
    )
}

pub(super) fn invalid_value(path: &str, message: String) -> RequestError {
    RequestError::invalid("invalid_value", param(path), message)
}

/// One JSON object being checked: members are looked up by name and remembered, and
/// [`Obj::finish`] rejects the members nobody asked for.
pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
    known: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    /// Deviation 11: where the schema has an object, the value must be one.
    pub(super) fn new(value: &'a Value, path: &'a str) -> Result<Self, RequestError> {
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                path,
                known: Vec::new(),
            }),
            _ => Err(wrong_type(path, "an object")),
        }
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    pub(super) fn mark_known(&mut self, name: &'static str) {
        self.known.push(name);
    }

    /// Checks member `name` with `check` if present. A missing required member is an error;
    /// an optional member set to `null` counts as absent (deviation 1).
    pub(super) fn field(
        &mut self,
        name: &'static str,
        required: bool,
        check: Check<'_>,
    ) -> Result<(), RequestError> {
        self.known.push(name);
        match self.map.get(name) {
            None => {
                if required {
                    Err(RequestError::invalid(
                        "missing_required_parameter",
                        param(&member_path(self.path, name)),
                        format!("'{}' must have a field '{name}'", shown(self.path)),
                    ))
                } else {
                    Ok(())
                }
            }
            Some(Value::Null) if !required => Ok(()),
            Some(v) => check(v, &member_path(self.path, name)),
        }
    }

    /// Like [`Obj::field`] for a required string member, returning it.
    pub(super) fn required_string(&mut self, name: &'static str) -> Result<&'a str, RequestError> {
        self.field(name, true, &string)?;
        Ok(self.get(name).and_then(Value::as_str).unwrap_or_default())
    }

    pub(super) fn finish(self) -> Result<(), RequestError> {
        for name in self.map.keys() {
            if !self.known.iter().any(|k| k == name) {
                return Err(RequestError::invalid(
                    "unknown_parameter",
                    param(&member_path(self.path, name)),
                    format!("{} has unknown field '{name}'", shown(self.path)),
                ));
            }
        }
        Ok(())
    }
}

pub(super) fn string(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_string() {
        Ok(())
    } else {
        Err(wrong_type(path, "a string"))
    }
}

pub(super) fn integer(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_i64() || v.is_u64() {
        Ok(())
    } else {
        Err(wrong_type(path, "an integer"))
    }
}

pub(super) fn number(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_number() {
        Ok(())
    } else {
        Err(wrong_type(path, "a number"))
    }
}

pub(super) fn boolean(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_boolean() {
        Ok(())
    } else {
        Err(wrong_type(path, "a boolean"))
    }
}

pub(super) fn anything(_: &Value, _: &str) -> Result<(), RequestError> {
    Ok(())
}

pub(super) fn array_of(v: &Value, path: &str, item: Check<'_>) -> Result<(), RequestError> {
    let Value::Array(items) = v else {
        return Err(wrong_type(path, "an array"));
    };
    items
        .iter()
        .enumerate()
        .try_for_each(|(i, x)| item(x, &format!("{path}[{i}]")))
}

pub(super) fn string_array(v: &Value, path: &str) -> Result<(), RequestError> {
    array_of(v, path, &string)
}

/// `prompt` and (deviation 4) `stop`: a string or an array of strings.
pub(super) fn string_or_string_array(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_array() {
        string_array(v, path)
    } else {
        string(v, path)
    }
}

/// Deviation 5 (`service_tier`) and 6 (completions `logprobs`): either of two types.
pub(super) fn string_or_integer(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_string() || v.is_i64() || v.is_u64() {
        Ok(())
    } else {
        Err(wrong_type(path, "a string"))
    }
}

pub(super) fn integer_or_boolean(v: &Value, path: &str) -> Result<(), RequestError> {
    if v.is_boolean() || v.is_i64() || v.is_u64() {
        Ok(())
    } else {
        Err(wrong_type(path, "an integer or a boolean"))
    }
}
