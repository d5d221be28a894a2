//! `cocoon tl`: list constructor ids, and convert TL objects between bytes
//! (hex) and JSON, driven by the schema compiled into `cocoon-wire`.

use std::io::{Read as _, Write as _};

use anyhow::Context as _;
use cocoon_wire::dynamic;

/// Inspect and build TL objects of the COCOON wire protocol.
#[derive(clap::Subcommand, Debug)]
pub enum TlCommand {
    /// Print every constructor and function as `name 0x%08x`, sorted by name.
    Ids,
    /// Decode one boxed TL object or function (hex) and print it as JSON.
    #[command(after_help = "Example:\n  \
        cocoon tl decode 7c62e9bb0100000000000000\n  \
        echo 7c62e9bb 01000000 00000000 | cocoon tl decode -\n\n\
        bytes/int128/int256 print as base64, a long beyond ±2^53 as a string, \
        optional fields only when present.")]
    Decode {
        /// Hex bytes (whitespace ignored), or `-` to read them from stdin.
        hex: String,
    },
    /// Encode a JSON object (`"@type"` = constructor or function name) and print it as hex.
    #[command(after_help = "Example:\n  \
        cocoon tl encode '{\"@type\":\"tcp.ping\",\"id\":1}'\n  \
        cocoon tl decode 7c62e9bb0100000000000000 | cocoon tl encode -\n\n\
        The JSON form is what `cocoon tl decode` prints; flags bits of present \
        optional fields are set automatically.")]
    Encode {
        /// The JSON text, or `-` to read it from stdin.
        json: String,
    },
}

/// Runs one `cocoon tl` subcommand.
pub fn run(cmd: TlCommand) -> anyhow::Result<()> {
    let output = match cmd {
        TlCommand::Ids => ids_listing(),
        TlCommand::Decode { hex } => decode_hex(&argument_or_stdin(hex)?)?,
        TlCommand::Encode { json } => encode_to_hex(&argument_or_stdin(json)?)?,
    };
    print_output(&output)
}

/// Prints `text` and a newline; a closed pipe (e.g. `| head`) is not an error.
fn print_output(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match result {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(err).context("writing to stdout")
        }
        _ => Ok(()),
    }
}

/// The argument itself, or all of stdin for `-`.
fn argument_or_stdin(argument: String) -> anyhow::Result<String> {
    if argument != "-" {
        return Ok(argument);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading stdin")?;
    Ok(text)
}

fn ids_listing() -> String {
    dynamic::all_ids()
        .into_iter()
        .map(|(name, id)| format!("{name} {id:#010x}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode_hex(text: &str) -> anyhow::Result<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(&compact).context("input is not valid hex")?;
    let value = dynamic::decode_json(&bytes).context("cannot decode the TL object")?;
    Ok(serde_json::to_string_pretty(&value)?)
}

fn encode_to_hex(text: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(text).context("input is not valid JSON")?;
    let bytes = dynamic::encode_json(&value).context("cannot encode the TL object")?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sorted_lines_of_name_and_hex() {
        let listing = ids_listing();
        let lines: Vec<&str> = listing.lines().collect();
        assert!(lines.contains(&"tcp.ping 0xbbe9627c"));
        assert!(lines.contains(&"client.runQueryEx 0xf54cb74b"));
        assert!(lines.contains(&"tokensUsed 0x70c5b15c"));
        let names: Vec<&str> = lines.iter().filter_map(|l| l.split(' ').next()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn decode_ignores_whitespace_and_encode_reverses_it() {
        let json = decode_hex("7c62e9bb 01000000\n 00000000").unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value, serde_json::json!({"@type": "tcp.ping", "id": 1}));
        assert_eq!(encode_to_hex(&json).unwrap(), "7c62e9bb0100000000000000");
    }

    #[test]
    fn errors_explain_the_problem() {
        let err = decode_hex("zz").unwrap_err();
        assert!(format!("{err:#}").contains("hex"));
        let err = decode_hex("7c62e9bb0100").unwrap_err();
        assert!(format!("{err:#}").contains("input ends early"), "{err:#}");
        let err = encode_to_hex(r#"{"@type":"tcp.ping"}"#).unwrap_err();
        assert!(format!("{err:#}").contains("id: missing"), "{err:#}");
    }
}
