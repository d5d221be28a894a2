//! `cocoon inspect`: decode a TEE quote (or SEV-SNP report) or an RA-TLS
//! certificate to JSON, and optionally verify the quote with Intel DCAP
//! against collateral from a file or a PCCS/PCS, or the SEV-SNP report
//! against AMD's roots and chains/CRLs from `--sev-pki` ([`crate::inspect_sev`]),
//! as of now or a given time.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use cocoon_tee::cert::ParsedCert;
use cocoon_tee::dcap::{fetch_collateral_blocking, Collateral, DcapReport, DcapVerifier};
use cocoon_tee::fake::{looks_fake, parse_fake_quote};
use cocoon_tee::image_hash::{
    sgx_image_hash, tdx_image_hash, to_base64, ZERO_MEASUREMENTS_IMAGE_HASH,
};
use cocoon_tee::policy::expected_report_data;
use cocoon_tee::quote::{ParsedQuote, QuoteBody, MAX_QUOTE_SIZE};
use cocoon_tee::{AttestError, TdxMeasurements};
use serde_json::{json, Map, Value};

use crate::inspect_sev::{
    describe_sev_report, inspect_sev_cert, looks_like_sev_report, verify_sev_into, SevCheck,
};

const QUOTE_EXAMPLES: &str = "\
Examples:
  cocoon inspect quote quote.dat
  cocoon inspect quote quote.dat --collateral tdx_quote_collateral.json --at 1750400000
  cocoon inspect quote quote.dat --collateral https://pccs.example.com:8081
  cocoon inspect quote quote.dat --collateral https://api.trustedservices.intel.com
  cocoon inspect quote snp_report.bin --sev-pki /etc/tee/sev --vcek vcek.pem --at 1796688000

Output keys: version, tee_type (tdx, sgx or fake), mrtd, rtmr (4 hex), report_data, debug,
image_hash (hex), image_hash_b64, and with --collateral: verified, tcb_status, root_key_id,
collateral_expires_at, error. A 64-byte file is a fake TEE quote (tee_type \"fake\").
A 1184-byte AMD SEV-SNP ATTESTATION_REPORT shows tee_type \"sev-snp\", product, measurement,
report_data, host_data, policy, debug, vmpl, chip_id, reported_tcb, image_hash; with --sev-pki
(AMD KDS chains and CRLs: a PEM file or a directory of *.pem) it is verified against AMD's
pinned roots with the VCEK of --vcek (else the first VCEK in --sev-pki): verified, vcek_product,
tcb, error. The exit status is non-zero when verification was requested and failed.";

const CERT_EXAMPLES: &str = "\
Examples:
  cocoon inspect cert /etc/tee/tee_cert.pem
  cocoon inspect cert tee_cert.pem --collateral https://pccs.example.com:8081
  cocoon inspect cert sev_cert.pem --sev-pki /etc/tee/sev

Prints the certificate's key and validity, and the decoded quote of its TDX quote extension
(as `inspect quote`), plus report_data_matches_key: whether the quote is bound to the
certificate key (REPORTDATA = SHA-512(key)). With --collateral, verified means the quote
verified with DCAP and is bound to the key. A certificate with SEV-SNP extensions shows the
report as `inspect quote` does, vcek_product_name and vcek_hw_id, and report_data_matches_key;
with --sev-pki it is verified with the certificate's VCEK. A certificate without TEE
extensions shows tee_type \"none\".";

/// Decode and verify quotes and RA-TLS certificates.
#[derive(clap::Subcommand)]
pub enum InspectCommand {
    /// Decode a DCAP quote (TDX v4/v5, SGX v3) or a fake TEE quote from FILE.
    #[command(after_help = QUOTE_EXAMPLES)]
    Quote {
        /// Raw quote file (binary; hex text is accepted too). `-` reads stdin.
        file: PathBuf,
        #[command(flatten)]
        verify: VerifyArgs,
    },
    /// Decode an RA-TLS certificate (PEM) and the quote it carries.
    #[command(after_help = CERT_EXAMPLES)]
    Cert {
        /// Certificate file (PEM). `-` reads stdin.
        file: PathBuf,
        #[command(flatten)]
        verify: VerifyArgs,
    },
}

/// How to verify, when asked to.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Verify with DCAP against collateral: a JSON file in dcap-qvl's collateral format, or the
    /// base URL of a PCCS / Intel PCS (http:// or https://) to fetch it from.
    #[arg(long, value_name = "FILE|URL")]
    collateral: Option<String>,
    /// Verify a SEV-SNP report against AMD's pinned roots with these chains and CRLs (AMD KDS
    /// `cert_chain` and CRL as PEM): a PEM file, or a directory of `*.pem` (`/etc/tee/sev`).
    #[arg(long, value_name = "DIR|FILE")]
    sev_pki: Option<PathBuf>,
    /// The VCEK (PEM or DER) that signed a SEV-SNP report given to `inspect quote`.
    #[arg(long, value_name = "FILE", requires = "sev_pki")]
    vcek: Option<PathBuf>,
    /// Verify as of this UNIX time (seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    at: Option<u64>,
    /// Accept debug TDs / SNP guests (rejected by default: the host can read their memory).
    #[arg(long)]
    allow_debug: bool,
}

impl VerifyArgs {
    fn unix_now(&self) -> u64 {
        self.at.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    }

    /// The SEV-SNP verification asked for, if any.
    fn sev_check(&self) -> Option<SevCheck<'_>> {
        self.sev_pki.as_deref().map(|pki| SevCheck {
            pki,
            now: self.unix_now(),
            allow_debug: self.allow_debug,
        })
    }
}

pub fn run(cmd: InspectCommand) -> anyhow::Result<()> {
    let (InspectCommand::Quote { verify, .. } | InspectCommand::Cert { verify, .. }) = &cmd;
    if (verify.at.is_some() || verify.allow_debug)
        && verify.collateral.is_none()
        && verify.sev_pki.is_none()
    {
        bail!("--at and --allow-debug need --collateral or --sev-pki");
    }
    let (out, failure) = match cmd {
        InspectCommand::Quote { file, verify } => inspect_quote(&read_input(&file)?, &verify)?,
        InspectCommand::Cert { file, verify } => inspect_cert(&read_input(&file)?, &verify)?,
    };
    println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    match failure {
        Some(reason) => bail!("not verified: {reason}"),
        None => Ok(()),
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let limit = (4 * MAX_QUOTE_SIZE) as u64;
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin(), limit + 1),
            &mut buf,
        )?;
        buf
    } else {
        let len = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if len > limit {
            bail!(
                "{} is {len} bytes, larger than any quote or certificate ({limit})",
                path.display()
            );
        }
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
    };
    if bytes.len() as u64 > limit {
        bail!("input larger than any quote or certificate ({limit} bytes)");
    }
    Ok(bytes)
}

/// Raw bytes, or hex text decoded. Exactly 64 bytes is always a raw fake quote.
fn quote_bytes(input: &[u8]) -> Vec<u8> {
    if input.len() == 64 {
        return input.to_vec();
    }
    let text: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let is_hex =
        !text.is_empty() && text.len().is_multiple_of(2) && text.iter().all(u8::is_ascii_hexdigit);
    match is_hex.then(|| hex::decode(&text).ok()).flatten() {
        Some(decoded) => decoded,
        None => input.to_vec(),
    }
}

type Inspected = (Map<String, Value>, Option<String>);

fn inspect_quote(input: &[u8], verify: &VerifyArgs) -> anyhow::Result<Inspected> {
    let raw = quote_bytes(input);
    if looks_like_sev_report(&raw) {
        return inspect_sev_report(&raw, verify);
    }
    let mut out = describe_quote(&raw)?;
    let failure = match &verify.collateral {
        Some(source) => verify_into(&mut out, &raw, source, verify, None),
        None => None,
    };
    Ok((out, failure))
}

fn inspect_sev_report(raw: &[u8], verify: &VerifyArgs) -> anyhow::Result<Inspected> {
    let report = cocoon_tee::sev::SnpReport::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = describe_sev_report(&report);
    let Some(check) = verify.sev_check() else {
        return Ok(dcap_asked_for_sev(out, verify));
    };
    let vcek = match &verify.vcek {
        Some(path) => Some(read_input(path)?),
        None => None,
    };
    let failure = verify_sev_into(&mut out, raw, vcek.as_deref(), None, &check);
    Ok((out, failure))
}

/// SEV-SNP evidence with only `--collateral` (DCAP) given: not verified.
fn dcap_asked_for_sev(mut out: Map<String, Value>, verify: &VerifyArgs) -> Inspected {
    if verify.collateral.is_none() {
        return (out, None);
    }
    let reason = "SEV-SNP evidence is verified with --sev-pki, not DCAP --collateral".to_owned();
    out.insert("verified".into(), json!(false));
    out.insert("error".into(), json!(reason));
    (out, Some(reason))
}

fn inspect_cert(input: &[u8], verify: &VerifyArgs) -> anyhow::Result<Inspected> {
    let pem = std::str::from_utf8(input).context("certificate is not PEM text")?;
    let cert =
        ParsedCert::from_pem(pem).map_err(|e| anyhow::anyhow!("parsing certificate: {e}"))?;
    let mut out = Map::new();
    out.insert("public_key".into(), json!(hex::encode(cert.public_key)));
    out.insert("not_before".into(), json!(cert.not_before));
    out.insert("not_after".into(), json!(cert.not_after));
    if cert.tdx_quote.is_none() && cert.sev_report.is_some() {
        let check = verify.sev_check();
        let failure = inspect_sev_cert(&mut out, &cert, check.as_ref())?;
        if check.is_none() {
            return Ok(dcap_asked_for_sev(out, verify));
        }
        return Ok((out, failure));
    }
    let Some(quote) = &cert.tdx_quote else {
        let tee = if cert.sev_report.is_some() {
            "sev-snp"
        } else {
            "none"
        };
        out.insert("tee_type".into(), json!(tee));
        if cert.sev_report.is_none() {
            // Accepted without attestation by policies lacking image-hash allowlists.
            out.insert(
                "image_hash".into(),
                json!(hex::encode(ZERO_MEASUREMENTS_IMAGE_HASH)),
            );
            out.insert(
                "image_hash_b64".into(),
                json!(to_base64(&ZERO_MEASUREMENTS_IMAGE_HASH)),
            );
        }
        let failure = verify.collateral.as_ref().map(|_| {
            out.insert("verified".into(), json!(false));
            out.insert("tcb_status".into(), Value::Null);
            let reason = format!("the certificate carries no TDX quote (tee_type {tee})");
            out.insert("error".into(), json!(reason));
            reason
        });
        return Ok((out, failure));
    };
    out.extend(describe_quote(quote)?);
    let bound = quote_report_data(quote).map(|rd| rd == expected_report_data(&cert.public_key));
    out.insert("report_data_matches_key".into(), json!(bound));
    let failure = match &verify.collateral {
        Some(source) => verify_into(
            &mut out,
            quote,
            source,
            verify,
            Some(bound.unwrap_or(false)),
        ),
        None => None,
    };
    Ok((out, failure))
}

fn quote_report_data(raw: &[u8]) -> Option<[u8; 64]> {
    if looks_fake(raw) {
        if let Ok(m) = parse_fake_quote(raw) {
            return Some(m.report_data);
        }
    }
    ParsedQuote::parse(raw).ok().map(|q| *q.report_data())
}

fn hex_list(items: &[[u8; 48]; 4]) -> Value {
    json!(items.iter().map(hex::encode).collect::<Vec<_>>())
}

fn measurements_json(out: &mut Map<String, Value>, m: &TdxMeasurements) {
    out.insert("mrtd".into(), json!(hex::encode(m.mr_td)));
    out.insert("mrconfigid".into(), json!(hex::encode(m.mr_config_id)));
    out.insert("mrowner".into(), json!(hex::encode(m.mr_owner)));
    out.insert(
        "mrownerconfig".into(),
        json!(hex::encode(m.mr_owner_config)),
    );
    out.insert("rtmr".into(), hex_list(&m.rtmr));
    out.insert("report_data".into(), json!(hex::encode(m.report_data)));
    out.insert("debug".into(), json!(m.debug));
}

/// The JSON description of a raw quote (fake, TDX or SGX).
fn describe_quote(raw: &[u8]) -> anyhow::Result<Map<String, Value>> {
    let mut out = Map::new();
    if looks_fake(raw) {
        if let Ok(m) = parse_fake_quote(raw) {
            out.insert("version".into(), Value::Null);
            out.insert("tee_type".into(), json!("fake"));
            out.insert("quote_size".into(), json!(raw.len()));
            measurements_json(&mut out, &m);
            let hash = tdx_image_hash(&m);
            out.insert("image_hash".into(), json!(hex::encode(hash)));
            out.insert("image_hash_b64".into(), json!(to_base64(&hash)));
            return Ok(out);
        }
    }
    let q = ParsedQuote::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    out.insert("version".into(), json!(q.header.version));
    out.insert("att_key_type".into(), json!(q.header.att_key_type));
    out.insert("tee_type".into(), json!(q.tee_kind().as_str()));
    out.insert(
        "qe_vendor_id".into(),
        json!(hex::encode(q.header.qe_vendor_id)),
    );
    out.insert("quote_size".into(), json!(raw.len()));
    let hash = match &q.body {
        QuoteBody::Td(td) => {
            out.insert(
                "body".into(),
                json!(if td.td15.is_some() { "td1.5" } else { "td1.0" }),
            );
            let m = td.measurements();
            measurements_json(&mut out, &m);
            out.insert("tee_tcb_svn".into(), json!(hex::encode(td.tee_tcb_svn)));
            out.insert("mrseam".into(), json!(hex::encode(td.mr_seam)));
            out.insert("td_attributes".into(), json!(hex::encode(td.td_attributes)));
            out.insert("xfam".into(), json!(hex::encode(td.xfam)));
            if let Some(ext) = &td.td15 {
                out.insert("tee_tcb_svn2".into(), json!(hex::encode(ext.tee_tcb_svn2)));
                out.insert("mrservicetd".into(), json!(hex::encode(ext.mr_service_td)));
            }
            tdx_image_hash(&m)
        }
        QuoteBody::Sgx(sgx) => {
            out.insert("body".into(), json!("sgx"));
            out.insert("mrtd".into(), Value::Null);
            out.insert("rtmr".into(), Value::Null);
            out.insert("mrenclave".into(), json!(hex::encode(sgx.mr_enclave)));
            out.insert("mrsigner".into(), json!(hex::encode(sgx.mr_signer)));
            out.insert("report_data".into(), json!(hex::encode(sgx.report_data)));
            out.insert("debug".into(), json!(sgx.is_debug()));
            sgx_image_hash(&sgx.mr_enclave)
        }
    };
    out.insert("image_hash".into(), json!(hex::encode(hash)));
    out.insert("image_hash_b64".into(), json!(to_base64(&hash)));
    Ok(out)
}

/// Verify `raw` and record `verified`, `tcb_status` (and details) in `out`.
/// Returns the failure reason, if any. `bound_to_key`: for certificates.
fn verify_into(
    out: &mut Map<String, Value>,
    raw: &[u8],
    source: &str,
    args: &VerifyArgs,
    bound_to_key: Option<bool>,
) -> Option<String> {
    let now = args.unix_now();
    out.insert("verified_at".into(), json!(now));
    let result = if looks_fake(raw) && parse_fake_quote(raw).is_ok() {
        Err(AttestError::Other(
            "a fake TEE quote proves nothing; there is nothing to verify".into(),
        ))
    } else {
        load_collateral(raw, source).and_then(|c| {
            DcapVerifier::new()
                .allow_debug(args.allow_debug)
                .verify(raw, &c, now)
        })
    };
    let failure = match &result {
        Ok(report) => {
            record_report(out, report);
            match bound_to_key {
                Some(false) => Some(
                    "the quote is not bound to the certificate key (REPORTDATA != SHA-512(key))"
                        .into(),
                ),
                _ => None,
            }
        }
        Err(AttestError::TcbNotUpToDate {
            status,
            advisory_ids,
        }) => {
            out.insert("tcb_status".into(), json!(status));
            out.insert("advisory_ids".into(), json!(advisory_ids));
            Some(
                result
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
        }
        Err(err) => {
            out.insert("tcb_status".into(), Value::Null);
            Some(err.to_string())
        }
    };
    out.insert("verified".into(), json!(failure.is_none()));
    if let Some(reason) = &failure {
        out.insert("error".into(), json!(reason));
    }
    failure
}

fn record_report(out: &mut Map<String, Value>, report: &DcapReport) {
    out.insert("tcb_status".into(), json!(report.tcb_status));
    out.insert("advisory_ids".into(), json!(report.advisory_ids));
    out.insert("root_key_id".into(), json!(hex::encode(report.root_key_id)));
    out.insert(
        "collateral_expires_at".into(),
        json!(report.collateral_expires_at),
    );
}

fn load_collateral(raw: &[u8], source: &str) -> Result<Collateral, AttestError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let quote = ParsedQuote::parse(raw)?;
        fetch_collateral_blocking(source, &quote)
    } else {
        Collateral::from_file(Path::new(source))
    }
}

#[cfg(test)]
#[path = "inspect_tests.rs"]
mod tests;
