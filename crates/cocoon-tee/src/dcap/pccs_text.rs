//! Text helpers for PCCS responses: the exact source text of a signed JSON
//! member (signatures cover the bytes as served, so re-serializing is not an
//! option) and percent-decoding of issuer-chain headers.

/// The exact source text of the object value of top-level member `key` in a
/// JSON object (already validated by serde_json).
pub(super) fn raw_object_member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
    let mut wanted_value_at_depth1 = false;
    let mut value_start = None;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'"' => {
                let start = i + 1;
                i += 1;
                while let Some(&s) = bytes.get(i) {
                    match s {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                let string = text.get(start..i)?;
                if depth == 1 && value_start.is_none() && string == key {
                    // a key if the next non-space character is ':'
                    let after = text.get(i + 1..)?.trim_start();
                    wanted_value_at_depth1 = after.starts_with(':');
                }
            }
            b'{' | b'[' => {
                if depth == 1 && wanted_value_at_depth1 && c == b'{' {
                    value_start = Some(i);
                }
                depth += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 1 {
                    if let Some(start) = value_start {
                        return text.get(start..=i);
                    }
                }
            }
            b',' if depth == 1 => wanted_value_at_depth1 = false,
            _ => {}
        }
        i += 1;
    }
    None
}

pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_member_keeps_exact_text() {
        let text = r#"{"x":1, "tcbInfo" : {"a":"}{\"","b":[1,{"c":2}]},"signature":"00"}"#;
        assert_eq!(
            raw_object_member(text, "tcbInfo"),
            Some(r#"{"a":"}{\"","b":[1,{"c":2}]}"#)
        );
        assert_eq!(
            raw_object_member(text, "signature"),
            None,
            "not an object value"
        );
        assert_eq!(
            raw_object_member(r#"{"k":{"tcbInfo":{}}}"#, "tcbInfo"),
            None,
            "only top level"
        );
        assert_eq!(raw_object_member(r#"{"tcbInfo""#, "tcbInfo"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%0A").as_deref(), Some("a/b\n"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
