//! Reports from inside a confidential VM through Linux configfs-tsm
//! (`/sys/kernel/config/tsm/report`), for every provider the kernel has:
//! `tdx_guest` (a TDX quote) and `sev_guest` (an SEV-SNP ATTESTATION_REPORT,
//! with the host's certificate table in `auxblob`).
//!
//! The exchange ([`request_report`]): create a report entry directory, check
//! its `provider`, write the 64-byte report data to `inblob`, read `outblob`
//! (and `auxblob`), remove the entry. The `generation` counter is compared
//! before and after to detect a concurrent writer. Reading `outblob` blocks in
//! the kernel until the firmware answers, so [`ConfigfsTsm::report`] runs the
//! exchange on a helper thread and gives up after a timeout (the thread then
//! finishes, and removes the entry, whenever the kernel answers). Outside a
//! confidential VM the directory does not exist and the error says so.

use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::quote::MAX_QUOTE_SIZE;
use crate::{AttestError, QuoteProvider, TeeKind};

/// Where the kernel exposes configfs-tsm reports.
pub const DEFAULT_TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";
/// The `provider` a TDX guest reports.
pub const TDX_PROVIDER: &str = "tdx_guest";
/// The `provider` an AMD SEV-SNP guest reports.
pub const SEV_PROVIDER: &str = "sev_guest";
/// How long one report request may take by default.
pub const DEFAULT_TSM_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest `auxblob` read (an SEV certificate table with VCEK, ASK and ARK is
/// about 5 KB).
pub const MAX_AUXBLOB_LEN: usize = 64 * 1024;

static NEXT_ENTRY: AtomicU64 = AtomicU64::new(0);

fn failed(detail: impl Into<String>) -> AttestError {
    AttestError::QuoteGeneration {
        detail: detail.into(),
    }
}

/// What one exchange returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// The quote (TDX) or ATTESTATION_REPORT (SEV-SNP).
    pub outblob: Vec<u8>,
    /// Provider-specific extra data: for SEV-SNP the host's certificate
    /// table (see [`crate::sev::cert_table`]); `None` when absent or empty.
    pub auxblob: Option<Vec<u8>>,
}

/// The configfs-tsm report interface for one provider.
#[derive(Debug, Clone)]
pub struct ConfigfsTsm {
    report_dir: PathBuf,
    /// An existing entry to use instead of creating one under `report_dir`.
    entry: Option<PathBuf>,
    provider: &'static str,
    /// Largest `outblob` accepted.
    max_outblob: usize,
    timeout: Duration,
}

impl ConfigfsTsm {
    /// TDX quotes (`tdx_guest`), at most [`MAX_QUOTE_SIZE`] bytes.
    pub fn tdx() -> Self {
        ConfigfsTsm {
            report_dir: PathBuf::from(DEFAULT_TSM_REPORT_DIR),
            entry: None,
            provider: TDX_PROVIDER,
            max_outblob: MAX_QUOTE_SIZE,
            timeout: DEFAULT_TSM_TIMEOUT,
        }
    }

    /// SEV-SNP reports (`sev_guest`): an ATTESTATION_REPORT is 1184 bytes;
    /// up to a page is accepted here, the size is judged by the report parser.
    pub fn sev() -> Self {
        ConfigfsTsm {
            provider: SEV_PROVIDER,
            max_outblob: 4096,
            ..Self::tdx()
        }
    }

    /// Use another report directory (tests, unusual mounts).
    pub fn with_report_dir(mut self, report_dir: impl Into<PathBuf>) -> Self {
        self.report_dir = report_dir.into();
        self
    }

    /// Use an existing report entry directory, neither created nor removed
    /// here: root makes it (`mkdir /sys/kernel/config/tsm/report/NAME`) and
    /// hands it to an unprivileged service; concurrent users are detected by
    /// the `generation` check.
    pub fn with_entry(mut self, entry: impl Into<PathBuf>) -> Self {
        self.entry = Some(entry.into());
        self
    }

    /// Give up on a request after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn report_dir(&self) -> &Path {
        &self.report_dir
    }

    /// The provider this interface expects.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// Whether the report directory exists (configfs-tsm is mounted).
    pub fn is_available(&self) -> bool {
        self.entry.as_deref().unwrap_or(&self.report_dir).is_dir()
    }

    fn guest_name(&self) -> &'static str {
        match self.provider {
            SEV_PROVIDER => "an AMD SEV-SNP",
            _ => "a TDX",
        }
    }

    fn not_available(&self) -> AttestError {
        failed(format!(
            "configfs-tsm not available: not running inside {} guest ({} missing)",
            self.guest_name(),
            self.entry.as_deref().unwrap_or(&self.report_dir).display()
        ))
    }

    /// One report of `report_data`: create an entry (unless one was given),
    /// exchange on a helper thread within the timeout, remove the entry.
    pub fn report(&self, report_data: &[u8; 64]) -> Result<TsmReport, AttestError> {
        if !self.is_available() {
            return Err(self.not_available());
        }
        let (entry, created) = match &self.entry {
            Some(entry) => (entry.clone(), false),
            None => {
                let name = format!(
                    "cocoon-{}-{}",
                    std::process::id(),
                    NEXT_ENTRY.fetch_add(1, Ordering::Relaxed)
                );
                let entry = self.report_dir.join(name);
                fs::create_dir(&entry).map_err(|e| match e.kind() {
                    ErrorKind::NotFound => self.not_available(),
                    _ => failed(format!("creating {}: {e}", entry.display())),
                })?;
                (entry, true)
            }
        };
        let (done, result) = mpsc::channel();
        let (provider, max_outblob, data) = (self.provider, self.max_outblob, *report_data);
        let worker_entry = entry.clone();
        let spawned = std::thread::Builder::new()
            .name("configfs-tsm".into())
            .spawn(move || {
                let result = request_report(&worker_entry, &data, provider, max_outblob);
                if created {
                    // configfs entries are removed with rmdir; the attribute files go with them.
                    let _ = fs::remove_dir(&worker_entry);
                }
                let _ = done.send(result);
            });
        if let Err(e) = spawned {
            if created {
                let _ = fs::remove_dir(&entry);
            }
            return Err(failed(format!("starting the configfs-tsm thread: {e}")));
        }
        match result.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(failed(format!(
                "configfs-tsm gave no report within {:?} ({}): the firmware or host is not answering",
                self.timeout,
                entry.display()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(failed("configfs-tsm request thread ended without an answer"))
            }
        }
    }
}

/// [`QuoteProvider`] for real TDX via configfs-tsm.
#[derive(Debug, Clone)]
pub struct ConfigfsTsmProvider {
    tsm: ConfigfsTsm,
}

impl Default for ConfigfsTsmProvider {
    fn default() -> Self {
        ConfigfsTsmProvider {
            tsm: ConfigfsTsm::tdx(),
        }
    }
}

impl ConfigfsTsmProvider {
    pub fn new() -> Self {
        Self::default()
    }

    /// Use another report directory (tests, unusual mounts).
    pub fn with_report_dir(report_dir: impl Into<PathBuf>) -> Self {
        ConfigfsTsmProvider {
            tsm: ConfigfsTsm::tdx().with_report_dir(report_dir),
        }
    }

    /// Whether the report directory exists (we are probably in a TD).
    pub fn is_available(&self) -> bool {
        self.tsm.is_available()
    }
}

impl QuoteProvider for ConfigfsTsmProvider {
    fn kind(&self) -> TeeKind {
        TeeKind::Tdx
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
        Ok(self.tsm.report(report_data)?.outblob)
    }
}

/// The configfs-tsm exchange on an existing report entry directory: the
/// `provider` must be `expected_provider` (when the kernel shows one), the
/// `outblob` non-empty and at most `max_outblob` bytes.
pub fn request_report(
    entry: &Path,
    report_data: &[u8; 64],
    expected_provider: &str,
    max_outblob: usize,
) -> Result<TsmReport, AttestError> {
    let io = |what: &str, e: std::io::Error| failed(format!("{what} {}: {e}", entry.display()));
    if let Ok(provider) = fs::read_to_string(entry.join("provider")) {
        if provider.trim() != expected_provider {
            return Err(failed(format!(
                "configfs-tsm provider is {:?}, expected {expected_provider:?} (wrong kind of confidential VM for this TEE mode)",
                provider.trim()
            )));
        }
    }
    fs::write(entry.join("inblob"), report_data).map_err(|e| io("writing inblob in", e))?;
    let generation_before = read_generation(entry)?;
    let outblob = read_bounded(&entry.join("outblob"), max_outblob)
        .map_err(|e| io("reading outblob in", e))?
        .ok_or_else(|| {
            failed(format!(
                "configfs-tsm returned more than {max_outblob} bytes"
            ))
        })?;
    let auxblob = match read_bounded(&entry.join("auxblob"), MAX_AUXBLOB_LEN) {
        Ok(Some(aux)) if aux.is_empty() => None,
        Ok(Some(aux)) => Some(aux),
        Ok(None) => {
            return Err(failed(format!(
                "configfs-tsm auxblob is larger than {MAX_AUXBLOB_LEN} bytes"
            )))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(io("reading auxblob in", e)),
    };
    let generation_after = read_generation(entry)?;
    if generation_before != generation_after {
        return Err(failed(
            "configfs-tsm report entry was changed concurrently; retry",
        ));
    }
    if outblob.is_empty() {
        return Err(failed("configfs-tsm returned an empty report"));
    }
    Ok(TsmReport { outblob, auxblob })
}

/// The whole file, or `None` when it is longer than `limit`.
fn read_bounded(path: &Path, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() <= limit).then_some(bytes))
}

fn read_generation(entry: &Path) -> Result<Option<u64>, AttestError> {
    match fs::read_to_string(entry.join("generation")) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            failed(format!(
                "configfs-tsm generation is not a number: {:?}",
                text.trim()
            ))
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failed(format!(
            "reading generation in {}: {e}",
            entry.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cocoon-tsm-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn outside_a_td_the_error_says_so() {
        let provider = ConfigfsTsmProvider::with_report_dir("/nonexistent/cocoon/tsm/report");
        let err = provider.quote(&[0; 64]).unwrap_err().to_string();
        assert!(
            err.contains("configfs-tsm not available: not running inside a TDX guest"),
            "{err}"
        );
        assert!(err.contains("/nonexistent/cocoon/tsm/report"), "{err}");
        assert_eq!(provider.kind(), TeeKind::Tdx);
        let sev = ConfigfsTsm::sev().with_report_dir("/nonexistent/cocoon/tsm/report");
        let err = sev.report(&[0; 64]).unwrap_err().to_string();
        assert!(err.contains("inside an AMD SEV-SNP guest"), "{err}");
    }

    #[test]
    fn exchange_writes_inblob_and_reads_outblob_and_auxblob() {
        // A plain directory standing in for a configfs entry (the kernel would
        // fill outblob from inblob).
        let entry = scratch_dir("exchange");
        fs::write(entry.join("provider"), "tdx_guest\n").expect("provider");
        fs::write(entry.join("generation"), "3\n").expect("generation");
        fs::write(entry.join("outblob"), b"QUOTE").expect("outblob");
        let report = request_report(&entry, &[0xab; 64], TDX_PROVIDER, 16).expect("quote");
        assert_eq!(report.outblob, b"QUOTE");
        assert_eq!(report.auxblob, None);
        assert_eq!(
            fs::read(entry.join("inblob")).expect("inblob"),
            vec![0xab; 64]
        );
        fs::write(entry.join("auxblob"), b"CERTS").expect("auxblob");
        let report = request_report(&entry, &[0; 64], TDX_PROVIDER, 16).expect("quote");
        assert_eq!(report.auxblob.as_deref(), Some(&b"CERTS"[..]));
        let err = request_report(&entry, &[0; 64], TDX_PROVIDER, 4).unwrap_err();
        assert!(err.to_string().contains("more than 4 bytes"), "{err}");

        fs::write(entry.join("provider"), "sev_guest\n").expect("provider");
        let err = request_report(&entry, &[0; 64], TDX_PROVIDER, 16).unwrap_err();
        assert!(err.to_string().contains("\"sev_guest\""), "{err}");
        assert!(request_report(&entry, &[0; 64], SEV_PROVIDER, 16).is_ok());
        let _ = fs::remove_dir_all(&entry);
    }
}
