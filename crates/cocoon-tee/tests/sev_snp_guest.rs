//! Our own SEV-SNP evidence through a fake configfs-tsm report entry (a plain
//! directory; `outblob` a FIFO where the test plays the kernel): the
//! certificate made of it verifies with our verifier; the real Milan report
//! as configfs returns it verifies against AMD's roots with the VCEK from the
//! host's certificate table; wrong provider, a report for other data, a VCEK
//! of another chip, a missing VCEK and a silent firmware are clear errors.

mod sev_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use cocoon_tee::cert::{CertKey, ParsedCert};
use cocoon_tee::configfs_tsm::ConfigfsTsm;
use cocoon_tee::sev::cert_table::{CertKind, CertTable};
use cocoon_tee::sev::{sev_certificate, SevEvidence, SevGuest, SevPolicy};
use cocoon_tee::AttestError;
use sev_support::*;

fn entry_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cocoon-sev-guest-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("entry dir");
    fs::write(dir.join("provider"), "sev_guest\n").expect("provider");
    dir
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Play the kernel once: when the guest opens `outblob` (after writing
/// `inblob`), answer with `answer(report data)`.
fn kernel_answers_once(entry: &Path, answer: impl FnOnce([u8; 64]) -> Vec<u8> + Send + 'static) {
    let entry = entry.to_path_buf();
    std::thread::spawn(move || {
        // Opening a FIFO for writing waits for its reader.
        let mut out = fs::OpenOptions::new()
            .write(true)
            .open(entry.join("outblob"))
            .expect("open outblob");
        let inblob: [u8; 64] = fs::read(entry.join("inblob"))
            .expect("inblob")
            .try_into()
            .expect("64 bytes of report data");
        std::io::Write::write_all(&mut out, &answer(inblob)).expect("answer");
    });
}

fn guest(entry: &Path) -> SevGuest {
    SevGuest::with_tsm(
        ConfigfsTsm::sev()
            .with_entry(entry)
            .with_timeout(Duration::from_secs(20)),
    )
}

fn no_fallback(_: &cocoon_tee::sev::report::SnpReport) -> Result<Vec<u8>, AttestError> {
    Err(AttestError::QuoteGeneration {
        detail: "no VCEK here".into(),
    })
}

#[test]
fn a_generated_certificate_verifies_with_our_verifier() {
    let entry = entry_dir("verifies");
    mkfifo(&entry.join("outblob"));
    fs::write(
        entry.join("auxblob"),
        CertTable::encode(&[(CertKind::Ask, b"not used"), (CertKind::Vcek, SYN_VCEK)]),
    )
    .expect("auxblob");
    kernel_answers_once(&entry, |data| {
        resigned(|r| r[0x50..0x90].copy_from_slice(&data))
    });

    let not_before = UNIX_EPOCH + Duration::from_secs(NOW - 60);
    let (made, got) = sev_certificate(
        CertKey::generate(),
        &guest(&entry),
        &no_fallback,
        not_before,
    )
    .expect("certificate");
    assert_eq!(got.host_vcek(), Some(SYN_VCEK));

    let parsed = ParsedCert::from_der(made.cert_der()).expect("parse");
    let evidence = SevEvidence {
        public_key: &parsed.public_key,
        report_data_extension: parsed.sev_report_data.as_deref().expect("report data"),
        report: parsed.sev_report.as_deref().expect("report"),
        vcek: parsed.sev_vcek.as_deref().expect("vcek"),
    };
    assert!(evidence.vcek.starts_with(b"-----BEGIN CERTIFICATE-----"));
    let verifier = synthetic_verifier(SevPolicy::default());
    let verified = cocoon_tee::sev::verify_sev_evidence(
        &verifier,
        &synthetic_collateral(SYN_CRL),
        &evidence,
        NOW,
    )
    .expect("our certificate verifies");
    assert_eq!(verified.report.measurement[..], MILAN_REPORT[0x90..0xC0]);
    // Verified at the given time: after the CRL's nextUpdate it is refused.
    assert!(matches!(
        cocoon_tee::sev::verify_sev_evidence(
            &verifier,
            &synthetic_collateral(SYN_CRL),
            &evidence,
            AFTER_SYN_CRL,
        ),
        Err(cocoon_tee::sev::SevError::CrlOutdated { .. })
    ));
    let _ = fs::remove_dir_all(&entry);
}

#[test]
fn the_real_milan_report_from_configfs_verifies_against_amds_roots() {
    let entry = entry_dir("real");
    fs::write(entry.join("outblob"), MILAN_REPORT).expect("outblob");
    fs::write(
        entry.join("auxblob"),
        CertTable::encode(&[(CertKind::Vcek, MILAN_VCEK)]),
    )
    .expect("auxblob");
    let got = guest(&entry).report(&milan_report_data()).expect("report");
    assert_eq!(got.raw, MILAN_REPORT);
    let vcek = got.host_vcek().expect("VCEK from the table");
    amd_verifier()
        .verify(
            &got.raw,
            vcek,
            &cocoon_tee::sev::SevCollateral::empty(),
            &milan_report_data(),
            NOW,
        )
        .expect("genuine report and VCEK");

    // Asking for our key's binding gets a report for other data: refused.
    let err = sev_certificate(
        CertKey::generate(),
        &guest(&entry),
        &no_fallback,
        UNIX_EPOCH,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("other report data than requested"), "{err}");
    let _ = fs::remove_dir_all(&entry);
}

#[test]
fn vcek_from_the_caller_when_the_host_sends_none_and_it_must_be_the_chips() {
    let key = CertKey::generate();
    let report = resigned(|r| {
        r[0x50..0x90].copy_from_slice(&cocoon_tee::cert::report_data_for_key(&key.public_key()))
    });
    let entry = entry_dir("fallback");
    fs::write(entry.join("outblob"), &report).expect("outblob");
    let from_file = |_: &cocoon_tee::sev::report::SnpReport| Ok(SYN_VCEK.to_vec());
    let (made, got) =
        sev_certificate(key.clone(), &guest(&entry), &from_file, UNIX_EPOCH).expect("cert");
    assert_eq!(got.host_vcek(), None);
    assert!(ParsedCert::from_der(made.cert_der())
        .expect("parse")
        .sev_vcek
        .is_some());

    let err = sev_certificate(key.clone(), &guest(&entry), &no_fallback, UNIX_EPOCH)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no VCEK here"), "{err}");
    let turin = |_: &cocoon_tee::sev::report::SnpReport| Ok(TURIN_VCEK.to_vec());
    let err = sev_certificate(key, &guest(&entry), &turin, UNIX_EPOCH)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not the report's chip id"), "{err}");
    let _ = fs::remove_dir_all(&entry);
}

#[test]
fn wrong_provider_bad_table_and_silent_firmware_are_clear_errors() {
    let entry = entry_dir("errors");
    fs::write(entry.join("outblob"), MILAN_REPORT).expect("outblob");
    fs::write(entry.join("provider"), "tdx_guest\n").expect("provider");
    let err = guest(&entry)
        .report(&milan_report_data())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("provider is \"tdx_guest\", expected \"sev_guest\""),
        "{err}"
    );

    fs::write(entry.join("provider"), "sev_guest\n").expect("provider");
    fs::write(entry.join("auxblob"), [1u8; 30]).expect("auxblob");
    let err = guest(&entry)
        .report(&milan_report_data())
        .unwrap_err()
        .to_string();
    assert!(err.contains("SEV certificate table"), "{err}");

    let silent = entry_dir("silent");
    mkfifo(&silent.join("outblob"));
    let tsm = ConfigfsTsm::sev()
        .with_entry(&silent)
        .with_timeout(Duration::from_millis(200));
    let err = SevGuest::with_tsm(tsm)
        .report(&[0; 64])
        .unwrap_err()
        .to_string();
    assert!(err.contains("gave no report within 200ms"), "{err}");
    // Release the helper thread still waiting on the FIFO (it reads nothing).
    drop(
        fs::OpenOptions::new()
            .write(true)
            .open(silent.join("outblob"))
            .expect("open outblob"),
    );

    let outside = SevGuest::with_tsm(ConfigfsTsm::sev().with_report_dir("/nonexistent/tsm"));
    assert!(!outside.is_available());
    let err = outside.report(&[0; 64]).unwrap_err().to_string();
    assert!(
        err.contains("not running inside an AMD SEV-SNP guest"),
        "{err}"
    );
    let _ = fs::remove_dir_all(&entry);
    let _ = fs::remove_dir_all(&silent);
}
