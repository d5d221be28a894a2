//! Schema parser for the build script: reads `schema/cocoon.tl` into
//! declarations, resolves field types and computes constructor ids.
//!
//! Errors are returned as text (with the line number) and reported by
//! `build.rs` as a build failure.

use std::collections::{BTreeMap, BTreeSet};

/// A field type after resolution against the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Int,
    Long,
    Double,
    String,
    Bytes,
    Int128,
    Int256,
    Bool,
    /// `#`: a u32 flags word.
    Flags,
    /// `(vector T)`: bare vector.
    Vector(Box<Ty>),
    /// Lower-case constructor name: the constructor's fields, without id.
    Bare(String),
    /// Upper-case type name: constructor id, then that constructor's fields.
    Boxed(String),
}

/// `flags.N?T`: the field is present iff bit `bit` of field `flags_field` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub flags_field: String,
    pub bit: u8,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub condition: Option<Condition>,
    /// Type as written, without parentheses (as it enters the CRC text).
    pub type_text: String,
}

#[derive(Debug, Clone)]
pub struct Decl {
    /// Full name, e.g. `tcp.ping`.
    pub name: String,
    pub is_function: bool,
    pub fields: Vec<Field>,
    /// Result type, e.g. `tcp.Packet`.
    pub result: String,
    /// The normalised declaration whose CRC-32 is the implicit id.
    pub canonical: String,
    pub explicit_id: Option<u32>,
    /// The id used on the wire: the explicit one if given, else the CRC.
    pub id: u32,
    /// Doc comment lines written above the declaration.
    pub doc: Vec<String>,
    pub line: usize,
}

pub struct Schema {
    pub decls: Vec<Decl>,
}

impl Schema {
    /// Constructor (not function) declarations by full name.
    pub fn constructor(&self, name: &str) -> Option<&Decl> {
        self.decls.iter().find(|d| !d.is_function && d.name == name)
    }

    /// Constructors (not functions) whose result is `ty`, in schema order.
    pub fn constructors_of(&self, ty: &str) -> Vec<&Decl> {
        self.decls
            .iter()
            .filter(|d| !d.is_function && d.result == ty)
            .collect()
    }

    /// Every boxed type name that has at least one constructor, sorted.
    pub fn boxed_types(&self) -> BTreeSet<String> {
        self.decls
            .iter()
            .filter(|d| !d.is_function)
            .map(|d| d.result.clone())
            .collect()
    }
}

/// The IEEE CRC-32 of a canonical declaration text.
pub fn crc_id(canonical: &str) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(canonical.as_bytes());
    hasher.finalize()
}

/// Parses and validates the whole schema text.
pub fn parse_schema(text: &str) -> Result<Schema, String> {
    let raw = split_declarations(text)?;
    let mut decls = Vec::with_capacity(raw.len());
    for r in raw {
        decls.push(parse_declaration(&r)?);
    }
    let schema = Schema { decls };
    validate(&schema)?;
    Ok(schema)
}

/// One `;`-terminated declaration with the comments that precede it.
struct RawDecl {
    text: String,
    is_function: bool,
    doc: Vec<String>,
    line: usize,
}

fn split_declarations(text: &str) -> Result<Vec<RawDecl>, String> {
    let mut out = Vec::new();
    let mut is_function = false;
    let mut pending_doc: Vec<String> = Vec::new();
    let mut current: Option<RawDecl> = None;
    for (index, full_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let (code, comment) = match full_line.find("//") {
            Some(pos) => (&full_line[..pos], Some(full_line[pos + 2..].trim())),
            None => (full_line, None),
        };
        let code = code.trim();
        if code.is_empty() {
            match (comment, &current) {
                // A comment inside a declaration is ignored; above one it is its doc.
                (Some(c), None) => pending_doc.push(c.to_string()),
                (Some(_), Some(_)) => {}
                (None, None) => pending_doc.clear(),
                (None, Some(_)) => {}
            }
            continue;
        }
        if code.starts_with("---") {
            if current.is_some() {
                return Err(format!(
                    "line {line_no}: section marker inside a declaration"
                ));
            }
            is_function = match code {
                "---types---" => false,
                "---functions---" => true,
                other => return Err(format!("line {line_no}: unknown section marker {other}")),
            };
            pending_doc.clear();
            continue;
        }
        let decl = current.get_or_insert_with(|| RawDecl {
            text: String::new(),
            is_function,
            doc: std::mem::take(&mut pending_doc),
            line: line_no,
        });
        let mut rest = code;
        while let Some(pos) = rest.find(';') {
            decl.text.push(' ');
            decl.text.push_str(&rest[..pos]);
            let finished = std::mem::replace(
                decl,
                RawDecl {
                    text: String::new(),
                    is_function,
                    doc: Vec::new(),
                    line: line_no,
                },
            );
            out.push(finished);
            rest = &rest[pos + 1..];
        }
        if rest.trim().is_empty() {
            if decl.text.trim().is_empty() {
                current = None;
            }
        } else {
            decl.text.push(' ');
            decl.text.push_str(rest);
        }
    }
    if let Some(decl) = current {
        if !decl.text.trim().is_empty() {
            return Err(format!(
                "line {}: declaration not terminated by ';'",
                decl.line
            ));
        }
    }
    Ok(out)
}

/// Splits on whitespace, keeping parenthesised groups together.
fn tokenize(text: &str, line: usize) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("line {line}: unbalanced ')'"))?;
                current.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if depth != 0 {
        return Err(format!("line {line}: unbalanced '('"));
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    Ok(tokens)
}

/// Removes parentheses and collapses whitespace, as the id rule requires.
fn normalise_type_text(text: &str) -> String {
    text.replace(['(', ')'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_declaration(raw: &RawDecl) -> Result<Decl, String> {
    let line = raw.line;
    let tokens = tokenize(&raw.text, line)?;
    let eq = tokens
        .iter()
        .position(|t| t == "=")
        .ok_or_else(|| format!("line {line}: declaration without '='"))?;
    let head = tokens
        .first()
        .filter(|_| eq > 0)
        .ok_or_else(|| format!("line {line}: declaration without a name"))?;
    let (name, explicit_id) = match head.split_once('#') {
        Some((name, hex)) => {
            let id = u32::from_str_radix(hex, 16)
                .map_err(|_| format!("line {line}: bad explicit id #{hex}"))?;
            (name.to_string(), Some(id))
        }
        None => (head.clone(), None),
    };
    check_identifier(&name, line)?;

    let mut fields = Vec::new();
    for token in &tokens[1..eq] {
        let (field_name, type_raw) = token
            .split_once(':')
            .ok_or_else(|| format!("line {line}: field `{token}` is not `name:type`"))?;
        check_identifier(field_name, line)?;
        let (condition, type_body) = match type_raw.split_once('?') {
            Some((cond, body)) => {
                let (flags_field, bit) = cond
                    .split_once('.')
                    .ok_or_else(|| format!("line {line}: bad condition `{cond}`"))?;
                let bit: u8 = bit
                    .parse()
                    .ok()
                    .filter(|b| *b < 32)
                    .ok_or_else(|| format!("line {line}: bad flag bit in `{cond}`"))?;
                let condition = Condition {
                    flags_field: flags_field.to_string(),
                    bit,
                };
                (Some(condition), body)
            }
            None => (None, type_raw),
        };
        let ty = parse_type(type_body, line)?;
        fields.push(Field {
            name: field_name.to_string(),
            ty,
            condition,
            type_text: normalise_type_text(type_raw),
        });
    }
    let result = normalise_type_text(&tokens[eq + 1..].join(" "));
    if result.is_empty() || result.contains(' ') {
        return Err(format!("line {line}: unsupported result type `{result}`"));
    }

    let mut canonical = name.clone();
    for f in &fields {
        canonical.push(' ');
        canonical.push_str(&f.name);
        canonical.push(':');
        canonical.push_str(&f.type_text);
    }
    canonical.push_str(" = ");
    canonical.push_str(&result);
    let id = explicit_id.unwrap_or_else(|| crc_id(&canonical));

    Ok(Decl {
        name,
        is_function: raw.is_function,
        fields,
        result,
        canonical,
        explicit_id,
        id,
        doc: raw.doc.clone(),
        line,
    })
}

fn check_identifier(name: &str, line: usize) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("line {line}: bad identifier `{name}`"))
    }
}

fn parse_type(text: &str, line: usize) -> Result<Ty, String> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        return parse_type(inner, line);
    }
    if let Some(element) = text.strip_prefix("vector ") {
        return Ok(Ty::Vector(Box::new(parse_type(element, line)?)));
    }
    let ty = match text {
        "int" => Ty::Int,
        "long" => Ty::Long,
        "double" => Ty::Double,
        "string" => Ty::String,
        "bytes" => Ty::Bytes,
        "int128" => Ty::Int128,
        "int256" => Ty::Int256,
        "Bool" => Ty::Bool,
        "#" => Ty::Flags,
        other => {
            check_identifier(other, line)?;
            let last = other.rsplit('.').next().unwrap_or(other);
            if last.starts_with(|c: char| c.is_ascii_uppercase()) {
                Ty::Boxed(other.to_string())
            } else {
                Ty::Bare(other.to_string())
            }
        }
    };
    Ok(ty)
}

fn validate(schema: &Schema) -> Result<(), String> {
    let mut names = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for d in &schema.decls {
        if let Some(prev) = names.insert(d.name.clone(), d.line) {
            return Err(format!(
                "line {}: `{}` already declared on line {prev}",
                d.line, d.name
            ));
        }
        if let Some(prev) = ids.insert(d.id, d.name.clone()) {
            return Err(format!(
                "line {}: id {:08x} of `{}` already used by `{prev}`",
                d.line, d.id, d.name
            ));
        }
    }
    let types = schema.boxed_types();
    for d in &schema.decls {
        if d.is_function && !types.contains(&d.result) {
            return Err(format!(
                "line {}: result type `{}` has no constructor",
                d.line, d.result
            ));
        }
        let mut seen_flags: Vec<&str> = Vec::new();
        let mut seen_names: BTreeSet<&str> = BTreeSet::new();
        for f in &d.fields {
            if !seen_names.insert(&f.name) {
                return Err(format!("line {}: duplicate field `{}`", d.line, f.name));
            }
            if let Some(c) = &f.condition {
                if !seen_flags.contains(&c.flags_field.as_str()) {
                    return Err(format!(
                        "line {}: `{}` depends on `{}`, which is not an earlier `#` field",
                        d.line, f.name, c.flags_field
                    ));
                }
                if f.ty == Ty::Flags {
                    return Err(format!("line {}: optional `#` field `{}`", d.line, f.name));
                }
            }
            if f.ty == Ty::Flags {
                seen_flags.push(&f.name);
            }
            check_references(schema, &types, &f.ty, d)?;
        }
    }
    Ok(())
}

fn check_references(
    schema: &Schema,
    types: &BTreeSet<String>,
    ty: &Ty,
    d: &Decl,
) -> Result<(), String> {
    match ty {
        Ty::Vector(inner) => check_references(schema, types, inner, d),
        Ty::Bare(name) if schema.constructor(name).is_none() => Err(format!(
            "line {}: bare type `{name}` is not a constructor",
            d.line
        )),
        Ty::Boxed(name) if !types.contains(name) => Err(format!(
            "line {}: boxed type `{name}` has no constructor",
            d.line
        )),
        _ => Ok(()),
    }
}
