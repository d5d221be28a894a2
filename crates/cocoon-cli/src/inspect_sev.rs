//! `cocoon inspect` for AMD SEV-SNP: a raw ATTESTATION_REPORT file, or the
//! SEV extensions of an RA-TLS certificate, decoded to JSON (measurement,
//! image hash, guest policy, TCB, chip id, CPU product), and with `--sev-pki`
//! verified offline against AMD's pinned roots and the given chains and CRLs
//! (as of now or `--at`).

use std::path::Path;

use cocoon_tee::cert::ParsedCert;
use cocoon_tee::image_hash::to_base64;
use cocoon_tee::policy::expected_report_data;
use cocoon_tee::sev::report::{POLICY_DEBUG, POLICY_MIGRATE_MA, SNP_REPORT_LEN};
use cocoon_tee::sev::{
    sev_image_hash, Product, SevCollateral, SevError, SevPolicy, SevVerifier, SnpReport, Vcek,
};
use serde_json::{json, Map, Value};

/// A 1184-byte input whose bytes 2–3 are zero: a SEV-SNP report (version is
/// a little-endian u32) and not a DCAP quote (u16 version, then a non-zero
/// attestation key type).
pub fn looks_like_sev_report(raw: &[u8]) -> bool {
    raw.len() == SNP_REPORT_LEN && raw.get(2..4) == Some(&[0, 0][..])
}

fn tcb_json(raw: u64, product: Option<Product>) -> Value {
    let mut out = Map::new();
    out.insert("raw".into(), json!(format!("{raw:016x}")));
    if let Some(product) = product {
        for (name, spl) in cocoon_tee::sev::TcbVersion::decode(raw, product).components() {
            out.insert(name.into(), json!(spl));
        }
    }
    Value::Object(out)
}

/// The JSON description of a report.
pub fn describe_sev_report(report: &SnpReport) -> Map<String, Value> {
    let mut out = Map::new();
    let product = report.cpu_product();
    // Before version 3 the report names no CPU; only Milan and Genoa (same
    // TCB layout) produce such reports.
    let tcb_layout = product.or((report.version < 3).then_some(Product::Milan));
    out.insert("tee_type".into(), json!("sev-snp"));
    out.insert("version".into(), json!(report.version));
    out.insert("quote_size".into(), json!(SNP_REPORT_LEN));
    out.insert("product".into(), json!(product.map(Product::name)));
    out.insert("cpuid_family".into(), json!(report.cpuid_family));
    out.insert("cpuid_model".into(), json!(report.cpuid_model));
    out.insert("measurement".into(), json!(hex::encode(report.measurement)));
    out.insert("report_data".into(), json!(hex::encode(report.report_data)));
    out.insert("host_data".into(), json!(hex::encode(report.host_data)));
    out.insert("guest_svn".into(), json!(report.guest_svn));
    out.insert("policy".into(), json!(format!("{:#x}", report.policy)));
    out.insert("debug".into(), json!(report.policy & POLICY_DEBUG != 0));
    out.insert(
        "migration_agent".into(),
        json!(report.policy & POLICY_MIGRATE_MA != 0),
    );
    out.insert("vmpl".into(), json!(report.vmpl));
    out.insert("family_id".into(), json!(hex::encode(report.family_id)));
    out.insert("image_id".into(), json!(hex::encode(report.image_id)));
    out.insert("signing_key".into(), json!(report.signing_key));
    out.insert("chip_id".into(), json!(hex::encode(report.chip_id)));
    out.insert("chip_id_masked".into(), json!(report.mask_chip_id));
    out.insert(
        "reported_tcb".into(),
        tcb_json(report.reported_tcb, tcb_layout),
    );
    out.insert(
        "current_tcb".into(),
        tcb_json(report.current_tcb, tcb_layout),
    );
    let hash = sev_image_hash(&report.measurement);
    out.insert("image_hash".into(), json!(hex::encode(hash)));
    out.insert("image_hash_b64".into(), json!(to_base64(&hash)));
    out
}

/// What a SEV verification needs from the command line.
pub struct SevCheck<'a> {
    pub pki: &'a Path,
    pub now: u64,
    pub allow_debug: bool,
}

/// Verify `report` signed by `vcek` (or else the first VCEK in the
/// collateral) bound to `expected` (the report's own data when `None`).
/// Records `verified`, `product`, `tcb`, `error` in `out`; returns the failure.
pub fn verify_sev_into(
    out: &mut Map<String, Value>,
    report: &[u8],
    vcek: Option<&[u8]>,
    expected: Option<[u8; 64]>,
    check: &SevCheck<'_>,
) -> Option<String> {
    out.insert("verified_at".into(), json!(check.now));
    let result = SevCollateral::load(check.pki).and_then(|collateral| {
        let vcek = match vcek {
            Some(v) => v.to_vec(),
            None => collateral.vceks().first().cloned().ok_or_else(|| {
                SevError::CollateralMalformed {
                    reason: format!(
                        "{} holds no VCEK (give one with --vcek)",
                        check.pki.display()
                    ),
                }
            })?,
        };
        let parsed = SnpReport::parse(report)?;
        let expected = expected.unwrap_or(parsed.report_data);
        let verifier = SevVerifier::new().with_policy(SevPolicy {
            allow_debug: check.allow_debug,
            ..SevPolicy::default()
        });
        verifier.verify(report, &vcek, &collateral, &expected, check.now)
    });
    let failure = match result {
        Ok(verified) => {
            out.insert("vcek_product".into(), json!(verified.product.name()));
            let tcb: Map<String, Value> = verified
                .tcb
                .components()
                .into_iter()
                .map(|(name, spl)| (name.to_owned(), json!(spl)))
                .collect();
            out.insert("tcb".into(), Value::Object(tcb));
            None
        }
        Err(err) => Some(err.to_string()),
    };
    out.insert("verified".into(), json!(failure.is_none()));
    if let Some(reason) = &failure {
        out.insert("error".into(), json!(reason));
    }
    failure
}

/// The SEV part of `inspect cert`: the report, its binding to the key, the
/// VCEK's product and chip, and with `check` the verification.
pub fn inspect_sev_cert(
    out: &mut Map<String, Value>,
    cert: &ParsedCert,
    check: Option<&SevCheck<'_>>,
) -> anyhow::Result<Option<String>> {
    let report_bytes = cert
        .sev_report
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("the certificate has no SEV-SNP report extension"))?;
    let report = SnpReport::parse(report_bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    out.extend(describe_sev_report(&report));
    let expected = expected_report_data(&cert.public_key);
    let extension_bound = cert.sev_report_data.as_deref() == Some(expected.as_slice());
    out.insert(
        "report_data_matches_key".into(),
        json!(extension_bound && report.report_data == expected),
    );
    match cert.sev_vcek.as_deref().map(Vcek::parse) {
        Some(Ok(vcek)) => {
            out.insert("vcek_product_name".into(), json!(vcek.product_name));
            out.insert("vcek_hw_id".into(), json!(hex::encode(&vcek.hw_id)));
        }
        Some(Err(e)) => {
            out.insert("vcek_error".into(), json!(e.to_string()));
        }
        None => {
            out.insert("vcek_error".into(), json!("no VCEK extension"));
        }
    }
    let Some(check) = check else {
        return Ok(None);
    };
    if !extension_bound {
        let reason = "the SEV report-data extension is not SHA-512 of the certificate key";
        out.insert("verified".into(), json!(false));
        out.insert("error".into(), json!(reason));
        return Ok(Some(reason.into()));
    }
    let Some(vcek) = cert.sev_vcek.as_deref() else {
        let reason = "the certificate has no VCEK extension";
        out.insert("verified".into(), json!(false));
        out.insert("error".into(), json!(reason));
        return Ok(Some(reason.into()));
    };
    Ok(verify_sev_into(
        out,
        report_bytes,
        Some(vcek),
        Some(expected),
        check,
    ))
}
