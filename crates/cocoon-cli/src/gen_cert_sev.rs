//! `cocoon gen-cert --tee sev`: an RA-TLS certificate with SEV-SNP evidence,
//! made inside an SNP guest through configfs-tsm
//! ([`cocoon_tee::sev::guest`]). The VCEK comes from the host's certificate
//! table when it sends one, else from `--vcek FILE`, else from AMD's KDS
//! (`--sev-kds URL`, kept in `--sev-kds-cache DIR`). Elsewhere it fails
//! saying what is missing.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use cocoon_tee::cert::{CertAndKey, CertKey};
use cocoon_tee::configfs_tsm::{ConfigfsTsm, DEFAULT_TSM_REPORT_DIR};
use cocoon_tee::sev::report::SnpReport;
use cocoon_tee::sev::{
    sev_certificate, sev_image_hash, KdsClient, KdsCollateral, Product, SevGuest,
};
use cocoon_tee::AttestError;

/// The legacy SEV-SNP guest device (its ioctl is not used; see the module
/// doc of `cocoon_tee::sev::guest`).
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";

/// Where `--tee sev` gets its report and VCEK.
#[derive(Debug, Clone, clap::Args)]
pub struct SevArgs {
    /// configfs-tsm report directory (`--tee sev`).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_TSM_REPORT_DIR)]
    pub tsm_report_dir: PathBuf,
    /// An existing configfs-tsm report entry to use instead of creating one
    /// (root makes it and gives it to an unprivileged service).
    #[arg(long, value_name = "DIR")]
    pub tsm_entry: Option<PathBuf>,
    /// The chip's VCEK (PEM or DER) when the host sends none with the report.
    #[arg(long, value_name = "FILE")]
    pub vcek: Option<PathBuf>,
    /// Fetch the VCEK from this AMD KDS when the host sends none and no --vcek
    /// is given (e.g. https://kdsintf.amd.com).
    #[arg(long, value_name = "URL")]
    pub sev_kds: Option<String>,
    /// Keep the fetched VCEK here as vcek.pem (the /etc/tee/sev layout).
    #[arg(long, value_name = "DIR", requires = "sev_kds")]
    pub sev_kds_cache: Option<PathBuf>,
    /// The CPU product (Milan, Genoa, Turin) for the KDS when the report
    /// does not name it (report version 2).
    #[arg(long, value_name = "NAME", value_parser = parse_product)]
    pub sev_product: Option<Product>,
}

impl Default for SevArgs {
    fn default() -> Self {
        SevArgs {
            tsm_report_dir: PathBuf::from(DEFAULT_TSM_REPORT_DIR),
            tsm_entry: None,
            vcek: None,
            sev_kds: None,
            sev_kds_cache: None,
            sev_product: None,
        }
    }
}

fn parse_product(text: &str) -> Result<Product, String> {
    Product::ALL
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(text))
        .ok_or_else(|| format!("{text:?} is not Milan, Genoa or Turin"))
}

impl SevArgs {
    fn guest(&self) -> SevGuest {
        let mut tsm = ConfigfsTsm::sev().with_report_dir(&self.tsm_report_dir);
        if let Some(entry) = &self.tsm_entry {
            tsm = tsm.with_entry(entry);
        }
        SevGuest::with_tsm(tsm)
    }

    /// Not in an SNP guest: say what is missing.
    fn check_available(&self, guest: &SevGuest) -> anyhow::Result<()> {
        if guest.is_available() {
            return Ok(());
        }
        let where_ = self
            .tsm_entry
            .as_deref()
            .unwrap_or(&self.tsm_report_dir)
            .display()
            .to_string();
        if Path::new(SEV_GUEST_DEVICE).exists() {
            bail!(
                "--tee sev needs configfs-tsm ({where_} is missing, Linux >= 6.7 with configfs \
                 mounted); {SEV_GUEST_DEVICE} exists but its ioctl interface is not supported"
            );
        }
        bail!(
            "--tee sev needs an AMD SEV-SNP guest: neither {SEV_GUEST_DEVICE} nor configfs-tsm \
             ({where_}) is present here"
        )
    }

    /// The VCEK when the host sent none: `--vcek`, else the KDS.
    fn fallback_vcek(&self, report: &SnpReport) -> Result<Vec<u8>, AttestError> {
        let failed = |detail: String| AttestError::QuoteGeneration { detail };
        if let Some(path) = &self.vcek {
            return std::fs::read(path)
                .map_err(|e| failed(format!("reading --vcek {}: {e}", path.display())));
        }
        let Some(url) = &self.sev_kds else {
            return Err(failed(
                "the host sent no VCEK with the report: pass --vcek FILE or --sev-kds URL".into(),
            ));
        };
        let kds = KdsCollateral::new(KdsClient::new(url), self.sev_kds_cache.clone());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(kds.vcek_for(report, self.sev_product, now)?)
    }

    /// The image hash of this guest: SHA-256(measurement ‖ 64 zero bytes)
    /// from a report of zero report data.
    pub fn image_hash(&self) -> anyhow::Result<[u8; 32]> {
        let guest = self.guest();
        self.check_available(&guest)?;
        let got = guest
            .report(&[0u8; 64])
            .context("getting an SEV-SNP report")?;
        Ok(sev_image_hash(&got.report.measurement))
    }

    /// A fresh key and its certificate with SEV-SNP evidence.
    pub fn certificate(&self, not_before: SystemTime) -> anyhow::Result<CertAndKey> {
        let guest = self.guest();
        self.check_available(&guest)?;
        let fallback = |report: &SnpReport| self.fallback_vcek(report);
        let (made, _) = sev_certificate(CertKey::generate(), &guest, &fallback, not_before)?;
        Ok(made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen_cert::{run, GenCertArgs, TeeMode};
    use cocoon_tee::cert::{report_data_for_key, ParsedCert};
    use std::fs;

    const MILAN_REPORT: &[u8] = include_bytes!("../../cocoon-tee/tests/data/sev/milan_report.bin");
    const MILAN_VCEK: &[u8] = include_bytes!("../../cocoon-tee/tests/data/sev/milan_vcek.der");

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cocoon-gen-cert-sev-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn args(dir: &Path, sev: SevArgs) -> GenCertArgs {
        GenCertArgs {
            name: "node".into(),
            tee: TeeMode::Sev,
            out: Some(dir.to_path_buf()),
            current_time: None,
            force: false,
            sev,
        }
    }

    /// A configfs-tsm entry whose `outblob` FIFO the test answers `rounds`
    /// times with the real Milan report carrying the requested report data
    /// (its signature then no longer verifies: gen-cert does not verify).
    fn fake_entry(dir: &Path, rounds: usize, auxblob: Option<Vec<u8>>) -> PathBuf {
        let entry = dir.join("entry");
        fs::create_dir_all(&entry).unwrap();
        fs::write(entry.join("provider"), "sev_guest\n").unwrap();
        if let Some(aux) = auxblob {
            fs::write(entry.join("auxblob"), aux).unwrap();
        }
        let fifo = entry.join("outblob");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let kernel = entry.clone();
        std::thread::spawn(move || {
            for _ in 0..rounds {
                // One request at a time: its inblob comes before its outblob
                // read, and after the previous read is finished.
                let inblob = kernel.join("inblob");
                while !inblob.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                let data = fs::read(&inblob).unwrap();
                fs::remove_file(&inblob).unwrap();
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .open(kernel.join("outblob"))
                    .unwrap();
                let mut report = MILAN_REPORT.to_vec();
                report[0x50..0x90].copy_from_slice(&data);
                std::io::Write::write_all(&mut out, &report).unwrap();
            }
        });
        entry
    }

    #[test]
    fn outside_an_snp_guest_it_fails_clearly_and_writes_nothing() {
        let dir = temp_dir("outside");
        let sev = SevArgs {
            tsm_report_dir: dir.join("no-tsm"),
            ..SevArgs::default()
        };
        let err = format!("{:#}", run(args(&dir, sev)).unwrap_err());
        assert!(err.starts_with("--tee sev needs"), "{err}");
        assert!(err.contains("no-tsm"), "{err}");
        assert!(!dir.join("node_cert.pem").exists());
        assert!(!dir.join("node_image_hash.b64").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn inside_a_guest_it_writes_the_certificate_with_the_hosts_vcek() {
        let dir = temp_dir("inside");
        let table = cocoon_tee::sev::cert_table::CertTable::encode(&[(
            cocoon_tee::sev::cert_table::CertKind::Vcek,
            MILAN_VCEK,
        )]);
        let sev = SevArgs {
            tsm_entry: Some(fake_entry(&dir, 2, Some(table))),
            ..SevArgs::default()
        };
        run(args(&dir, sev)).unwrap();
        let measurement: [u8; 48] = MILAN_REPORT[0x90..0xC0].try_into().unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("node_image_hash.b64")).unwrap(),
            cocoon_tee::image_hash::to_base64(&sev_image_hash(&measurement))
        );
        let cert_pem = fs::read_to_string(dir.join("node_cert.pem")).unwrap();
        let key_pem = fs::read_to_string(dir.join("node_key.pem")).unwrap();
        let loaded = cocoon_tee::cert::CertAndKey::from_pem(&cert_pem, &key_pem).unwrap();
        let parsed = ParsedCert::from_der(loaded.cert_der()).unwrap();
        let bound = report_data_for_key(&parsed.public_key);
        assert_eq!(parsed.sev_report_data.as_deref(), Some(&bound[..]));
        assert_eq!(
            &parsed.sev_report.as_deref().unwrap()[0x50..0x90],
            &bound[..]
        );
        let vcek_pem = String::from_utf8(parsed.sev_vcek.unwrap()).unwrap();
        assert_eq!(
            cocoon_tee::cert::pem_decode(&vcek_pem, "CERTIFICATE").unwrap(),
            MILAN_VCEK
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_a_vcek_from_the_host_it_says_where_to_get_one() {
        let dir = temp_dir("novcek");
        let sev = SevArgs {
            tsm_entry: Some(fake_entry(&dir, 2, None)),
            ..SevArgs::default()
        };
        let err = format!("{:#}", run(args(&dir, sev)).unwrap_err());
        assert!(err.contains("pass --vcek FILE or --sev-kds URL"), "{err}");
        assert!(!dir.join("node_cert.pem").exists());

        fs::write(dir.join("vcek.der"), MILAN_VCEK).unwrap();
        let sev = SevArgs {
            tsm_entry: Some(dir.join("entry")),
            vcek: Some(dir.join("vcek.der")),
            ..SevArgs::default()
        };
        fake_entry_rounds(&dir, 2);
        run(args(&dir, sev)).unwrap();
        assert!(dir.join("node_cert.pem").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    /// Answer `rounds` more requests on an existing fake entry.
    fn fake_entry_rounds(dir: &Path, rounds: usize) {
        let entry = dir.join("entry");
        let _ = fs::remove_file(entry.join("outblob"));
        fake_entry(dir, rounds, None);
    }

    #[test]
    fn products_parse_by_name() {
        assert_eq!(parse_product("milan"), Ok(Product::Milan));
        assert_eq!(parse_product("Turin"), Ok(Product::Turin));
        assert!(parse_product("Naples").is_err());
    }
}
