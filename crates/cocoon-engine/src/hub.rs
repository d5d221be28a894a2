//! Models by name from the Hugging Face hub (`hf-hub`): `OWNER/REPO[:FILE.gguf]` is downloaded
//! once into the model cache ([`crate::model_cache::cache_dir`]`/hub`, the hub's own layout),
//! resumable (an interrupted download goes on from its last 10 MB chunk at the next try),
//! checked against the hub's SHA-256 of the file, with progress on stderr, and a download that
//! receives nothing for [`STALL_LIMIT`] is abandoned with an error instead of hanging.
//!
//! `HF_ENDPOINT` points at another hub (a mirror), `HF_TOKEN` (or the token file under
//! `HF_HOME`) authenticates for gated models; tests use a local hub ([`Hub::new`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hf_hub::api::tokio::{ApiBuilder, ApiRepo, Progress};
use hf_hub::{Cache, Repo};
use sha2::{Digest, Sha256};

/// A download that receives no byte for this long fails.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// A model on the hub: a repository and, optionally, the GGUF file in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubModel {
    /// `OWNER/REPO`.
    pub repo: String,
    /// The file; `None`: the repository's only `.gguf` file.
    pub file: Option<String>,
}

impl std::str::FromStr for HubModel {
    type Err = String;

    /// `OWNER/REPO` or `OWNER/REPO:FILE.gguf`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (repo, file) = match s.split_once(':') {
            Some((r, f)) => (r, Some(f)),
            None => (s, None),
        };
        let valid_repo = repo.split('/').count() == 2
            && repo.split('/').all(|p| {
                !p.is_empty()
                    && p != "."
                    && p != ".."
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            });
        if !valid_repo {
            return Err(format!(
                "{s:?}: expected OWNER/REPO or OWNER/REPO:FILE.gguf \
                 (e.g. HuggingFaceTB/SmolLM2-135M-Instruct-GGUF)"
            ));
        }
        if let Some(f) = file {
            if f.is_empty() || f.starts_with('/') || f.split('/').any(|p| p == "..") {
                return Err(format!("{s:?}: {f:?} is not a file name in the repository"));
            }
        }
        Ok(HubModel {
            repo: repo.to_string(),
            file: file.map(str::to_string),
        })
    }
}

impl std::fmt::Display for HubModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}:{file}", self.repo),
            None => f.write_str(&self.repo),
        }
    }
}

/// Where hub downloads are kept by default.
pub fn hub_cache_dir() -> PathBuf {
    crate::model_cache::cache_dir().join("hub")
}

/// A hub to download from, and where to keep what it gives.
#[derive(Debug, Clone)]
pub struct Hub {
    /// `None`: `HF_ENDPOINT`, else huggingface.co.
    endpoint: Option<String>,
    cache_dir: PathBuf,
    stall_limit: Duration,
}

impl Hub {
    /// The hub `HF_ENDPOINT` names (default huggingface.co), into [`hub_cache_dir`].
    pub fn from_env() -> Self {
        Hub {
            endpoint: None,
            cache_dir: hub_cache_dir(),
            stall_limit: STALL_LIMIT,
        }
    }

    /// The hub at `endpoint` (e.g. `http://127.0.0.1:8080`), into `cache_dir`.
    pub fn new(endpoint: &str, cache_dir: PathBuf) -> Self {
        Hub {
            endpoint: Some(endpoint.trim_end_matches('/').to_string()),
            cache_dir,
            stall_limit: STALL_LIMIT,
        }
    }

    /// Fail a download that receives nothing for this long.
    pub fn with_stall_limit(mut self, limit: Duration) -> Self {
        self.stall_limit = limit;
        self
    }

    /// The model's file in the cache, downloaded first when it is not there yet.
    pub async fn fetch(&self, model: &HubModel) -> Result<PathBuf, String> {
        let cache = Cache::new(self.cache_dir.clone());
        // From the environment: HF_ENDPOINT, and the token file under HF_HOME.
        let mut builder = ApiBuilder::from_env()
            .with_cache_dir(self.cache_dir.clone())
            .with_progress(false);
        if let Some(token) = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()) {
            builder = builder.with_token(Some(token));
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let api = builder.build().map_err(|e| format!("hub: {e}"))?;
        let repo = api.repo(Repo::model(model.repo.clone()));
        let file = match &model.file {
            Some(f) => f.clone(),
            None => only_gguf(&repo, &model.repo).await?,
        };
        // A file already downloaded is used without asking the hub anything more.
        if let Some(path) = cache.model(model.repo.clone()).get(&file) {
            return Ok(path);
        }
        let url = repo.url(&file);
        let meta = api
            .metadata(&url)
            .await
            .map_err(|e| format!("{}:{file} on the hub: {e}", model.repo))?;
        let progress = Printer::new(&file, &self.cache_dir);
        let watch = progress.clone();
        let download = repo.download_with_progress(&file, progress);
        tokio::pin!(download);
        let tick = (self.stall_limit / 4).max(Duration::from_millis(100));
        let path = loop {
            tokio::select! {
                done = &mut download => {
                    break done.map_err(|e| format!("downloading {}:{file}: {e}", model.repo))?;
                }
                _ = tokio::time::sleep(tick) => {
                    if watch.idle() > self.stall_limit {
                        return Err(format!(
                            "downloading {}:{file}: nothing received for {} s (what was \
                             downloaded is kept; run again to resume)",
                            model.repo,
                            self.stall_limit.as_secs_f32()
                        ));
                    }
                }
            }
        };
        if let Err(e) = check_sha256(&path, meta.etag()) {
            // A corrupt file must not be served from the cache next time.
            if let Ok(blob) = std::fs::canonicalize(&path) {
                let _ = std::fs::remove_file(blob);
            }
            let _ = std::fs::remove_file(&path);
            return Err(format!("{}:{file}: {e}", model.repo));
        }
        Ok(path)
    }
}

async fn only_gguf(repo: &ApiRepo, name: &str) -> Result<String, String> {
    let info = repo
        .info()
        .await
        .map_err(|e| format!("{name} on the hub: {e}"))?;
    let ggufs: Vec<String> = info
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .filter(|f| f.ends_with(".gguf"))
        .collect();
    match ggufs.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("{name} has no .gguf file")),
        many => Err(format!(
            "{name} has {} .gguf files; name one as {name}:FILE: {}",
            many.len(),
            many.join(", ")
        )),
    }
}

/// The hub's etag of a large (LFS) file is the SHA-256 of its bytes; other etags are not
/// checked.
fn check_sha256(path: &std::path::Path, etag: &str) -> Result<(), String> {
    let etag = etag.trim_matches('"');
    if etag.len() != 64 || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    let got = hex::encode(hasher.finalize());
    if got.eq_ignore_ascii_case(etag) {
        Ok(())
    } else {
        Err(format!(
            "the downloaded file's SHA-256 is {got}, the hub says {etag}: removed"
        ))
    }
}

/// Progress on stderr: a line at each tenth of the file (and when it starts and ends), and
/// when the last byte arrived (for the stall check).
#[derive(Clone)]
struct Printer {
    state: Arc<Mutex<PrinterState>>,
}

struct PrinterState {
    file: String,
    cache_dir: PathBuf,
    total: usize,
    done: usize,
    shown_tenths: usize,
    last_byte: Instant,
}

impl Printer {
    fn new(file: &str, cache_dir: &std::path::Path) -> Self {
        Printer {
            state: Arc::new(Mutex::new(PrinterState {
                file: file.to_string(),
                cache_dir: cache_dir.to_path_buf(),
                total: 0,
                done: 0,
                shown_tenths: 0,
                last_byte: Instant::now(),
            })),
        }
    }

    fn idle(&self) -> Duration {
        self.state
            .lock()
            .map(|s| s.last_byte.elapsed())
            .unwrap_or_default()
    }
}

impl Progress for Printer {
    async fn init(&mut self, size: usize, filename: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.total = size;
            s.last_byte = Instant::now();
            eprintln!(
                "downloading {filename} ({} MB) into {}",
                size / 1_000_000,
                s.cache_dir.display()
            );
        }
    }

    async fn update(&mut self, size: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.done += size;
            s.last_byte = Instant::now();
            let tenths = (s.done * 10).checked_div(s.total).unwrap_or(0).min(10);
            if tenths > s.shown_tenths && tenths < 10 {
                s.shown_tenths = tenths;
                eprintln!(
                    "downloading {}: {}% ({} of {} MB)",
                    s.file,
                    tenths * 10,
                    s.done / 1_000_000,
                    s.total / 1_000_000
                );
            }
        }
    }

    async fn finish(&mut self) {
        if let Ok(s) = self.state.lock() {
            eprintln!("downloaded {} ({} MB)", s.file, s.total / 1_000_000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_ones_say_what_is_expected() {
        let m: HubModel = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF".parse().unwrap();
        assert_eq!(m.file, None);
        let m: HubModel = "a/b:sub/m.Q4_1.gguf".parse().unwrap();
        assert_eq!(m.repo, "a/b");
        assert_eq!(m.file.as_deref(), Some("sub/m.Q4_1.gguf"));
        assert_eq!(m.to_string(), "a/b:sub/m.Q4_1.gguf");
        for bad in [
            "",
            "a",
            "a/b/c",
            "../b",
            "a/b:",
            "a/b:../x",
            "a/b:/etc/passwd",
            "a b/c",
        ] {
            let e = bad.parse::<HubModel>().unwrap_err();
            assert!(
                e.contains("OWNER/REPO") || e.contains("not a file name"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_wrong_sha256_is_refused_and_a_non_lfs_etag_is_not_checked() {
        let dir = std::env::temp_dir().join(format!("cocoon-hub-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x");
        std::fs::write(&f, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert!(check_sha256(&f, abc).is_ok());
        assert!(check_sha256(&f, &format!("\"{abc}\"")).is_ok());
        let wrong = "0".repeat(64);
        assert!(check_sha256(&f, &wrong).unwrap_err().contains("SHA-256"));
        assert!(check_sha256(&f, "1234-abcd").is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }
}
