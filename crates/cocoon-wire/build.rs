//! Build script of cocoon-wire: generates the TL types and the constructor
//! table from `schema/cocoon.tl` (the single source of truth for ids).

#[path = "build/exprs.rs"]
mod exprs;
#[path = "build/gen.rs"]
mod gen;
#[path = "build/items.rs"]
mod items;
#[path = "build/names.rs"]
mod names;
#[path = "build/parse.rs"]
mod parse;
#[path = "build/table.rs"]
mod table;

use std::path::PathBuf;

fn main() {
    let schema_path = "schema/cocoon.tl";
    println!("cargo:rerun-if-changed={schema_path}");
    println!("cargo:rerun-if-changed=build");

    let text = match std::fs::read_to_string(schema_path) {
        Ok(text) => text,
        Err(err) => fail(&format!("cannot read {schema_path}: {err}")),
    };
    let schema = match parse::parse_schema(&text) {
        Ok(schema) => schema,
        Err(err) => fail(&format!("{schema_path}: {err}")),
    };
    let (typed, table) = match gen::generate(&schema) {
        Ok(code) => code,
        Err(err) => fail(&format!("{schema_path}: {err}")),
    };
    let out_dir = match std::env::var_os("OUT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => fail("OUT_DIR is not set"),
    };
    for (name, code) in [("schema.rs", typed), ("schema_table.rs", table)] {
        if let Err(err) = std::fs::write(out_dir.join(name), code) {
            fail(&format!("cannot write {name}: {err}"));
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
