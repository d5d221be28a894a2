//! Rust code generation for the build script: typed structs/enums with their
//! TL codecs (`schema.rs`) and the constructor table of the dynamic layer
//! (`schema_table.rs`). Per-item code lives in `items.rs`, per-type
//! fragments in `exprs.rs`, the table in `table.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::names::{full_pascal, module_path, pascal, snake, split_name};
use crate::parse::{crc_id, Decl, Schema, Ty};

/// Canonical declarations of the built-in constructors we need ids for.
pub(crate) const BUILTINS: &[(&str, &str)] = &[
    ("BOOL_TRUE", "boolTrue = Bool"),
    ("BOOL_FALSE", "boolFalse = Bool"),
    ("VECTOR", "vector t:Type # [ t ] = Vector t"),
];

/// The generator: the schema plus facts derived from it.
pub(crate) struct Gen<'a> {
    pub(crate) schema: &'a Schema,
    /// Constructor name → whether its struct can derive `Default`.
    pub(crate) defaultable: BTreeMap<String, bool>,
}

impl<'a> Gen<'a> {
    fn new(schema: &'a Schema) -> Result<Self, String> {
        check_acyclic(schema)?;
        let mut gen = Gen {
            schema,
            defaultable: BTreeMap::new(),
        };
        for d in &schema.decls {
            let value = gen.compute_defaultable(d);
            gen.defaultable.insert(d.name.clone(), value);
        }
        for d in &schema.decls {
            for f in &d.fields {
                if f.condition.is_some() && !gen.type_defaultable(&f.ty) {
                    return Err(format!(
                        "line {}: optional field `{}` needs a type with a default value",
                        d.line, f.name
                    ));
                }
            }
        }
        Ok(gen)
    }

    fn compute_defaultable(&self, d: &Decl) -> bool {
        d.fields
            .iter()
            .all(|f| f.condition.is_some() || self.type_defaultable(&f.ty))
    }

    fn type_defaultable(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Boxed(_) => false,
            Ty::Bare(name) => match self.defaultable.get(name) {
                Some(v) => *v,
                None => self
                    .schema
                    .constructor(name)
                    .is_some_and(|d| self.compute_defaultable(d)),
            },
            _ => true,
        }
    }

    fn generate_typed(&self) -> String {
        // module kind -> namespace (None = top level) -> items
        let mut types: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        let mut functions: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        let mut enums: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for d in &self.schema.decls {
            let ns = split_name(&d.name).0.map(str::to_string);
            let target = if d.is_function {
                &mut functions
            } else {
                &mut types
            };
            target.entry(ns).or_default().push(self.struct_item(d));
        }
        for ty in self.schema.boxed_types() {
            let variants: Vec<(String, String, &Decl)> = self
                .schema
                .constructors_of(&ty)
                .into_iter()
                .map(|d| {
                    (
                        pascal(split_name(&d.name).1),
                        module_path("types", &d.name),
                        d,
                    )
                })
                .collect();
            let ns = split_name(&ty).0.map(str::to_string);
            enums
                .entry(ns)
                .or_default()
                .push(self.enum_item(&ty, &variants, ""));
        }
        let all_functions: Vec<(String, String, &Decl)> = self
            .schema
            .decls
            .iter()
            .filter(|d| d.is_function)
            .map(|d| (full_pascal(&d.name), module_path("functions", &d.name), d))
            .collect();
        let any_function = self.enum_item(
            "AnyFunction",
            &all_functions,
            "Any function of the schema, decoded by its id (e.g. the payload of a `tcp.query`, or a request sent as a `tcp.packet`).",
        );
        functions.entry(None).or_default().push(any_function);

        let mut out = String::new();
        let _ = writeln!(out, "/// Ids of TL built-ins, computed from their canonical declarations.\npub mod builtin_ids {{");
        for (name, text) in BUILTINS {
            let _ = writeln!(
                out,
                "    /// CRC-32 of `{text}`.\n    pub const {name}: u32 = {:#010x};",
                crc_id(text)
            );
        }
        let _ = writeln!(out, "}}");
        emit_module(
            &mut out,
            "types",
            "One struct per constructor of the schema.",
            &types,
            "Constructors",
        );
        emit_module(
            &mut out,
            "enums",
            "One enum per boxed type of the schema.",
            &enums,
            "Boxed types",
        );
        emit_module(
            &mut out,
            "functions",
            "One struct per function of the schema.",
            &functions,
            "Functions",
        );
        out
    }
}

fn emit_module(
    out: &mut String,
    kind: &str,
    doc: &str,
    items: &BTreeMap<Option<String>, Vec<String>>,
    what: &str,
) {
    let _ = writeln!(out, "/// {doc}\n#[allow(clippy::large_enum_variant, clippy::too_many_lines)]\npub mod {kind} {{");
    for (ns, list) in items {
        match ns {
            None => {
                for item in list {
                    out.push_str(item);
                }
            }
            Some(ns) => {
                let _ = writeln!(
                    out,
                    "/// {what} of the `{ns}` namespace.\npub mod {} {{",
                    snake(ns)
                );
                for item in list {
                    out.push_str(item);
                }
                let _ = writeln!(out, "}}");
            }
        }
    }
    let _ = writeln!(out, "}}");
}

/// Rejects schemas where a type contains itself (the structs would be infinitely large).
fn check_acyclic(schema: &Schema) -> Result<(), String> {
    fn refs(ty: &Ty, out: &mut Vec<String>, schema: &Schema) {
        match ty {
            Ty::Vector(_) => {} // a Vec is heap-allocated: recursion through it is fine
            Ty::Bare(name) => out.push(name.clone()),
            Ty::Boxed(name) => {
                out.extend(schema.constructors_of(name).iter().map(|d| d.name.clone()))
            }
            _ => {}
        }
    }
    fn visit(
        name: &str,
        schema: &Schema,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Result<(), String> {
        if done.contains(name) {
            return Ok(());
        }
        if stack.iter().any(|s| s == name) {
            return Err(format!(
                "recursive type through `{name}` is not supported: {stack:?}"
            ));
        }
        stack.push(name.to_string());
        if let Some(d) = schema.decls.iter().find(|d| d.name == name) {
            let mut next = Vec::new();
            for f in &d.fields {
                refs(&f.ty, &mut next, schema);
            }
            for n in next {
                visit(&n, schema, stack, done)?;
            }
        }
        stack.pop();
        done.insert(name.to_string());
        Ok(())
    }
    let mut done = BTreeSet::new();
    for d in &schema.decls {
        visit(&d.name, schema, &mut Vec::new(), &mut done)?;
    }
    Ok(())
}

/// Generates (`schema.rs`, `schema_table.rs`).
pub fn generate(schema: &Schema) -> Result<(String, String), String> {
    let gen = Gen::new(schema)?;
    Ok((gen.generate_typed(), gen.generate_table()))
}
