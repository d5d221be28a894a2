//! Named attestation policies from the reference router's JSON config
//! (tee.md §5.2, delta §6.7) and its `--policy NAME:TYPE[:hashes]` and
//! `--collateral-hash` arguments.
//!
//! Accepted JSON (only `policies` is read; ports, threads and the certificate
//! base belong to the router):
//! ```json
//! { "policies": [ { "name": "strict", "type": "tee", "description": "…",
//!     "ratls_policy": {
//!       "tdx_config": { "allowed_image_hashes": ["<64 hex>"] | "<64 hex>",
//!                       "allowed_image_hash": "<64 hex>",
//!                       "allowed_collateral_root_hashes": ["<96 hex>"] | "<96 hex>",
//!                       "allowed_mrtd": ["<96 hex>"],
//!                       "allowed_rtmr": [["<96 hex>", "<96 hex>", "<96 hex>", "<96 hex>"]],
//!                       "allow_debug": false, "require_attestation": false },
//!       "sev_config": { "allowed_measurement": ["<96 hex>"], "allowed_image_id": ["<64 hex>"] } } } ] }
//! ```
//! December configs (`tdx_config` directly in the policy) and type names
//! (`tdx`, `fake_tdx`) are accepted too. `allow_debug` and
//! `require_attestation` are our additions.
//!
//! Deliberate differences from the reference (tee.md §15.13–14): parsing is
//! fail-closed (a non-string item, an RTMR set of the wrong size or an
//! unknown key is an error naming the field, never a silently shorter
//! allowlist), and a JSON policy named like a built-in replaces the built-in
//! instead of being silently replaced by it.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::cache::CachedVerifier;
use crate::policy::{AnyPolicy, FakePolicy, PolicyConfig, PolicyKind, TdxPolicy};
use crate::sev::SevVerification;
use crate::{AttestError, AttestationPolicy};

/// A named policy definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    pub name: String,
    pub kind: PolicyKind,
    pub description: String,
    pub config: PolicyConfig,
}

impl PolicySpec {
    /// An unrestricted policy of `kind` named `name`.
    pub fn builtin(name: &str, kind: PolicyKind) -> Self {
        PolicySpec {
            name: name.to_owned(),
            kind,
            description: String::new(),
            config: PolicyConfig::default(),
        }
    }

    /// Instantiate the policy. A `tdx` policy needs `verification`; `extra_root_key_ids`
    /// (the router's global `--collateral-hash` list) is appended to a `tdx`
    /// policy's root key allowlist when that list is non-empty, as the reference does.
    pub fn build(
        &self,
        verification: Option<&CachedVerifier>,
        extra_root_key_ids: &[[u8; 48]],
    ) -> Result<Arc<dyn AttestationPolicy>, AttestError> {
        self.build_with_sev(verification, None, extra_root_key_ids)
    }

    /// [`PolicySpec::build`], with SEV-SNP verification for a `tdx` policy
    /// (without it, SEV-SNP evidence is refused as unsupported).
    pub fn build_with_sev(
        &self,
        verification: Option<&CachedVerifier>,
        sev: Option<&SevVerification>,
        extra_root_key_ids: &[[u8; 48]],
    ) -> Result<Arc<dyn AttestationPolicy>, AttestError> {
        let name = self.name.clone();
        let mut config = self.config.clone();
        Ok(match self.kind {
            PolicyKind::Any => Arc::new(AnyPolicy { name, config }),
            PolicyKind::Fake => Arc::new(FakePolicy { name, config }),
            PolicyKind::Tdx => {
                let verification = verification.cloned().ok_or_else(|| {
                    AttestError::config(
                        format!("policy {name}"),
                        "a tdx policy needs a DCAP verifier and collateral",
                    )
                })?;
                for id in extra_root_key_ids {
                    if !config.allowed_root_key_ids.contains(id) {
                        config.allowed_root_key_ids.push(*id);
                    }
                }
                Arc::new(TdxPolicy {
                    name,
                    config,
                    verification,
                    sev: sev.cloned(),
                })
            }
        })
    }
}

/// Named policies: definitions from a config file and the command line, and
/// the unrestricted built-ins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    specs: Vec<PolicySpec>,
}

impl PolicySet {
    /// The built-ins only.
    pub fn builtins() -> Self {
        PolicySet::default()
    }

    /// Add (or replace, by name) a definition.
    pub fn define(&mut self, spec: PolicySpec) {
        self.specs.retain(|s| s.name != spec.name);
        self.specs.push(spec);
    }

    /// Definitions from a router JSON config.
    pub fn from_router_json(text: &str) -> Result<Self, AttestError> {
        let mut set = PolicySet::default();
        for spec in parse_router_json(text)? {
            set.define(spec);
        }
        Ok(set)
    }

    /// The policy called `name`: a definition, or else a built-in
    /// (`any`; `fake`, `fake_tee`, `fake_tdx`; `tdx`, `tee`).
    pub fn get(&self, name: &str) -> Option<PolicySpec> {
        self.specs
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .or_else(|| PolicyKind::parse(name).map(|kind| PolicySpec::builtin(name, kind)))
    }

    /// The explicit definitions, in definition order.
    pub fn defined(&self) -> &[PolicySpec] {
        &self.specs
    }
}

/// Parse the `policies` array of a router JSON config.
pub fn parse_router_json(text: &str) -> Result<Vec<PolicySpec>, AttestError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| AttestError::config("config", e.to_string()))?;
    let root = root
        .as_object()
        .ok_or_else(|| AttestError::config("config", "not a JSON object"))?;
    let Some(policies) = root.get("policies") else {
        return Ok(Vec::new());
    };
    let policies = policies
        .as_array()
        .ok_or_else(|| AttestError::config("policies", "not an array"))?;
    policies
        .iter()
        .enumerate()
        .map(|(i, p)| parse_policy(&format!("policies[{i}]"), p))
        .collect()
}

fn parse_policy(at: &str, value: &Value) -> Result<PolicySpec, AttestError> {
    let obj = object(at, value)?;
    only_keys(
        at,
        obj,
        &["name", "type", "description", "ratls_policy", "tdx_config"],
    )?;
    let name = string(
        &format!("{at}.name"),
        obj.get("name").unwrap_or(&Value::Null),
    )?
    .to_owned();
    if name.is_empty() {
        return Err(AttestError::config(format!("{at}.name"), "empty"));
    }
    let type_at = format!("{at}.type");
    let type_name = string(&type_at, obj.get("type").unwrap_or(&Value::Null))?;
    let kind = PolicyKind::parse(type_name).ok_or_else(|| {
        AttestError::config(
            &type_at,
            format!("unknown type {type_name:?} (any, fake_tee, tee)"),
        )
    })?;
    let description = match obj.get("description") {
        Some(v) => string(&format!("{at}.description"), v)?.to_owned(),
        None => String::new(),
    };
    let mut config = PolicyConfig::default();
    if let Some(tdx) = obj.get("tdx_config") {
        parse_tdx_config(&format!("{at}.tdx_config"), tdx, &mut config)?;
    }
    if let Some(ratls) = obj.get("ratls_policy") {
        let ratls_at = format!("{at}.ratls_policy");
        let ratls = object(&ratls_at, ratls)?;
        only_keys(&ratls_at, ratls, &["tdx_config", "sev_config"])?;
        if let Some(tdx) = ratls.get("tdx_config") {
            parse_tdx_config(&format!("{ratls_at}.tdx_config"), tdx, &mut config)?;
        }
        if let Some(sev) = ratls.get("sev_config") {
            parse_sev_config(&format!("{ratls_at}.sev_config"), sev, &mut config)?;
        }
    }
    Ok(PolicySpec {
        name,
        kind,
        description,
        config,
    })
}

fn parse_tdx_config(at: &str, value: &Value, config: &mut PolicyConfig) -> Result<(), AttestError> {
    let obj = object(at, value)?;
    only_keys(
        at,
        obj,
        &[
            "allowed_mrtd",
            "allowed_rtmr",
            "allowed_image_hashes",
            "allowed_image_hash",
            "allowed_collateral_root_hashes",
            "allow_debug",
            "require_attestation",
        ],
    )?;
    if let Some(v) = obj.get("allowed_mrtd") {
        config
            .allowed_mrtd
            .extend(hex_list::<48>(&format!("{at}.allowed_mrtd"), v)?);
    }
    if let Some(v) = obj.get("allowed_rtmr") {
        let rtmr_at = format!("{at}.allowed_rtmr");
        let sets = v
            .as_array()
            .ok_or_else(|| AttestError::config(&rtmr_at, "not an array"))?;
        for (i, set) in sets.iter().enumerate() {
            let set_at = format!("{rtmr_at}[{i}]");
            let items = set
                .as_array()
                .ok_or_else(|| AttestError::config(&set_at, "not an array of 4 RTMRs"))?;
            if items.len() != 4 {
                return Err(AttestError::config(
                    &set_at,
                    format!("{} RTMRs, expected 4", items.len()),
                ));
            }
            let mut tuple = [[0u8; 48]; 4];
            for ((j, item), slot) in items.iter().enumerate().zip(tuple.iter_mut()) {
                *slot = hex_value::<48>(&format!("{set_at}[{j}]"), item)?;
            }
            config.allowed_rtmr.push(tuple);
        }
    }
    if let Some(v) = obj.get("allowed_image_hashes") {
        config
            .allowed_image_hashes
            .extend(hex_list::<32>(&format!("{at}.allowed_image_hashes"), v)?);
    }
    if let Some(v) = obj.get("allowed_image_hash") {
        let hash_at = format!("{at}.allowed_image_hash");
        if !string(&hash_at, v)?.is_empty() {
            config
                .allowed_image_hashes
                .push(hex_value::<32>(&hash_at, v)?);
        }
    }
    if let Some(v) = obj.get("allowed_collateral_root_hashes") {
        config.allowed_root_key_ids.extend(hex_list::<48>(
            &format!("{at}.allowed_collateral_root_hashes"),
            v,
        )?);
    }
    if let Some(v) = obj.get("allow_debug") {
        config.allow_debug = boolean(&format!("{at}.allow_debug"), v)?;
    }
    if let Some(v) = obj.get("require_attestation") {
        config.require_evidence = boolean(&format!("{at}.require_attestation"), v)?;
    }
    Ok(())
}

fn parse_sev_config(at: &str, value: &Value, config: &mut PolicyConfig) -> Result<(), AttestError> {
    let obj = object(at, value)?;
    only_keys(at, obj, &["allowed_measurement", "allowed_image_id"])?;
    if let Some(v) = obj.get("allowed_measurement") {
        config
            .sev_allowed_measurements
            .extend(hex_list::<48>(&format!("{at}.allowed_measurement"), v)?);
    }
    if let Some(v) = obj.get("allowed_image_id") {
        config
            .sev_allowed_image_hashes
            .extend(hex_list::<32>(&format!("{at}.allowed_image_id"), v)?);
    }
    Ok(())
}

/// `--policy NAME:TYPE[:h1,h2,…]`; each hash is 64 hex digits, optionally
/// prefixed `tdx@` (or `sev@` for the SEV-SNP list).
pub fn parse_policy_arg(arg: &str) -> Result<PolicySpec, AttestError> {
    let mut parts = arg.splitn(3, ':');
    let name = parts.next().unwrap_or_default();
    let type_name = parts
        .next()
        .ok_or_else(|| AttestError::config("--policy", "expected NAME:TYPE[:HASHES]"))?;
    if name.is_empty() {
        return Err(AttestError::config("--policy", "empty policy name"));
    }
    let kind = PolicyKind::parse(type_name).ok_or_else(|| {
        AttestError::config(
            "--policy",
            format!("unknown type {type_name:?} (any, fake_tee, tee)"),
        )
    })?;
    let mut config = PolicyConfig::default();
    for (i, item) in parts
        .next()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let at = format!("--policy hash #{}", i + 1);
        if let Some(hex) = item.strip_prefix("sev@") {
            config
                .sev_allowed_image_hashes
                .push(hex_str::<32>(&at, hex)?);
        } else {
            config.allowed_image_hashes.push(hex_str::<32>(
                &at,
                item.strip_prefix("tdx@").unwrap_or(item),
            )?);
        }
    }
    Ok(PolicySpec {
        name: name.to_owned(),
        kind,
        description: String::new(),
        config,
    })
}

/// `--collateral-hash h1,h2,…` (96 hex digits each).
pub fn parse_root_key_ids(arg: &str) -> Result<Vec<[u8; 48]>, AttestError> {
    arg.split(',')
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, h)| hex_str::<48>(&format!("--collateral-hash #{}", i + 1), h))
        .collect()
}

fn object<'a>(at: &str, value: &'a Value) -> Result<&'a Map<String, Value>, AttestError> {
    value
        .as_object()
        .ok_or_else(|| AttestError::config(at, "not a JSON object"))
}

fn string<'a>(at: &str, value: &'a Value) -> Result<&'a str, AttestError> {
    value.as_str().ok_or_else(|| {
        AttestError::config(at, format!("expected a string, got {}", type_name(value)))
    })
}

fn boolean(at: &str, value: &Value) -> Result<bool, AttestError> {
    value.as_bool().ok_or_else(|| {
        AttestError::config(
            at,
            format!("expected true or false, got {}", type_name(value)),
        )
    })
}

fn only_keys(at: &str, obj: &Map<String, Value>, known: &[&str]) -> Result<(), AttestError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(AttestError::config(
            format!("{at}.{key}"),
            format!("unknown key (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string or an array of strings, each `N` bytes of hex.
fn hex_list<const N: usize>(at: &str, value: &Value) -> Result<Vec<[u8; N]>, AttestError> {
    match value {
        Value::String(_) => Ok(vec![hex_value::<N>(at, value)?]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| hex_value::<N>(&format!("{at}[{i}]"), item))
            .collect(),
        other => Err(AttestError::config(
            at,
            format!(
                "expected a string or an array of strings, got {}",
                type_name(other)
            ),
        )),
    }
}

fn hex_value<const N: usize>(at: &str, value: &Value) -> Result<[u8; N], AttestError> {
    hex_str::<N>(at, string(at, value)?)
}

fn hex_str<const N: usize>(at: &str, text: &str) -> Result<[u8; N], AttestError> {
    let bytes =
        hex::decode(text.trim()).map_err(|e| AttestError::config(at, format!("bad hex: {e}")))?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| AttestError::config(at, format!("{} hex digits, expected {}", len * 2, N * 2)))
}
