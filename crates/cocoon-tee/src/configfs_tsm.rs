//! Real TDX quotes from inside a TD through Linux configfs-tsm
//! (`/sys/kernel/config/tsm/report`): create a report entry directory, write
//! the 64-byte report data to `inblob`, read the quote from `outblob`, and
//! remove the entry. The `generation` counter is compared before and after to
//! detect a concurrent writer. Outside a TD the directory does not exist and
//! [`ConfigfsTsmProvider::quote`] fails saying so.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::quote::MAX_QUOTE_SIZE;
use crate::{AttestError, QuoteProvider, TeeKind};

/// Where the kernel exposes configfs-tsm reports.
pub const DEFAULT_TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";
/// The `provider` a TDX guest reports.
pub const TDX_PROVIDER: &str = "tdx_guest";

static NEXT_ENTRY: AtomicU64 = AtomicU64::new(0);

fn failed(detail: impl Into<String>) -> AttestError {
    AttestError::QuoteGeneration {
        detail: detail.into(),
    }
}

/// [`QuoteProvider`] for real TDX via configfs-tsm.
#[derive(Debug, Clone)]
pub struct ConfigfsTsmProvider {
    report_dir: PathBuf,
}

impl Default for ConfigfsTsmProvider {
    fn default() -> Self {
        ConfigfsTsmProvider {
            report_dir: PathBuf::from(DEFAULT_TSM_REPORT_DIR),
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
            report_dir: report_dir.into(),
        }
    }

    /// Whether the report directory exists (we are probably in a TD).
    pub fn is_available(&self) -> bool {
        self.report_dir.is_dir()
    }

    fn not_available(&self) -> AttestError {
        failed(format!(
            "configfs-tsm not available: not running inside a TDX guest ({} missing)",
            self.report_dir.display()
        ))
    }
}

impl QuoteProvider for ConfigfsTsmProvider {
    fn kind(&self) -> TeeKind {
        TeeKind::Tdx
    }

    fn quote(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
        if !self.is_available() {
            return Err(self.not_available());
        }
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
        let result = request_quote(&entry, report_data);
        // configfs entries are removed with rmdir; the attribute files go with them.
        let _ = fs::remove_dir(&entry);
        result
    }
}

/// The configfs-tsm exchange on an existing report entry directory.
pub fn request_quote(entry: &Path, report_data: &[u8; 64]) -> Result<Vec<u8>, AttestError> {
    let io = |what: &str, e: std::io::Error| failed(format!("{what} {}: {e}", entry.display()));
    if let Ok(provider) = fs::read_to_string(entry.join("provider")) {
        if provider.trim() != TDX_PROVIDER {
            return Err(failed(format!(
                "configfs-tsm provider is {:?}, expected {TDX_PROVIDER:?}",
                provider.trim()
            )));
        }
    }
    fs::write(entry.join("inblob"), report_data).map_err(|e| io("writing inblob in", e))?;
    let generation_before = read_generation(entry)?;
    let quote = fs::read(entry.join("outblob")).map_err(|e| io("reading outblob in", e))?;
    let generation_after = read_generation(entry)?;
    if generation_before != generation_after {
        return Err(failed(
            "configfs-tsm report entry was changed concurrently; retry",
        ));
    }
    if quote.is_empty() {
        return Err(failed("configfs-tsm returned an empty quote"));
    }
    if quote.len() > MAX_QUOTE_SIZE {
        return Err(failed(format!(
            "configfs-tsm returned {} bytes, more than {MAX_QUOTE_SIZE}",
            quote.len()
        )));
    }
    Ok(quote)
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
    }

    #[test]
    fn exchange_writes_inblob_and_reads_outblob() {
        // A plain directory standing in for a configfs entry (the kernel would
        // fill outblob from inblob).
        let entry = scratch_dir("exchange");
        fs::write(entry.join("provider"), "tdx_guest\n").expect("provider");
        fs::write(entry.join("generation"), "3\n").expect("generation");
        fs::write(entry.join("outblob"), b"QUOTE").expect("outblob");
        let quote = request_quote(&entry, &[0xab; 64]).expect("quote");
        assert_eq!(quote, b"QUOTE");
        assert_eq!(
            fs::read(entry.join("inblob")).expect("inblob"),
            vec![0xab; 64]
        );
        fs::write(entry.join("provider"), "sev_guest\n").expect("provider");
        assert!(request_quote(&entry, &[0; 64])
            .unwrap_err()
            .to_string()
            .contains("sev_guest"));
        let _ = fs::remove_dir_all(&entry);
    }
}
