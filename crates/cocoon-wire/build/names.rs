//! Naming rules of the generated Rust code: TL names to modules, types and
//! field identifiers.

/// Splits `ns.local` into (`Some(ns)`, `local`); `local` alone has no namespace.
pub(crate) fn split_name(full: &str) -> (Option<&str>, &str) {
    match full.rsplit_once('.') {
        Some((ns, local)) => (Some(ns), local),
        None => (None, full),
    }
}

/// `keyManagerDb` → `key_manager_db`.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `queryAnswerPartEx` → `QueryAnswerPartEx`.
pub(crate) fn pascal(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `client.runQueryEx` → `ClientRunQueryEx`.
pub(crate) fn full_pascal(full: &str) -> String {
    full.split('.').map(pascal).collect()
}

pub(crate) fn field_ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
        "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
        "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async",
        "await", "dyn", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
        "typeof", "unsized", "virtual", "yield", "try", "gen",
    ];
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

pub(crate) fn module_path(kind: &str, full: &str) -> String {
    let (ns, local) = split_name(full);
    match ns {
        Some(ns) => format!("crate::schema::{kind}::{}::{}", snake(ns), pascal(local)),
        None => format!("crate::schema::{kind}::{}", pascal(local)),
    }
}
