//! `cocoon gen-cert`: write an RA-TLS certificate and key like the
//! reference's `gen-cert` tool (tee.md §3.1).
//!
//! Files: `BASE_cert.pem`, `BASE_key.pem` (PKCS#8 v1, mode 0600) and, when
//! attested, `BASE_image_hash.b64` (base64 of the 32-byte image hash, no
//! newline). Every file is written atomically (temporary file + rename).
//! As in the reference, without `--force` existing certificate/key files are
//! left alone (message on stderr, exit status 0) while the image-hash file is
//! still (re)written.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use cocoon_tee::cert::{self, CertAndKey};
use cocoon_tee::configfs_tsm::ConfigfsTsmProvider;
use cocoon_tee::fake::FakeQuoteProvider;
use cocoon_tee::image_hash::{tdx_image_hash, to_base64, ZERO_MEASUREMENTS_IMAGE_HASH};
use cocoon_tee::quote::ParsedQuote;
use cocoon_tee::QuoteProvider;

use crate::gen_cert_sev::SevArgs;

/// How far in the future `--current-time` may be (clock skew allowance).
const MAX_FUTURE_SKEW: Duration = Duration::from_secs(60);

/// Which TEE attests the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TeeMode {
    /// No attestation: a plain self-signed certificate.
    None,
    /// Simulated TEE (the quote is just SHA-512 of the key). Proves nothing.
    #[value(alias = "fake_tee", alias = "fake_tdx")]
    Fake,
    /// Real Intel TDX quote through configfs-tsm (only inside a TD).
    #[value(alias = "tee")]
    Tdx,
    /// AMD SEV-SNP report through configfs-tsm (only inside an SNP guest).
    #[value(alias = "sev-snp")]
    Sev,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
cocoon gen-cert --name test --tee fake\n      writes test_cert.pem, test_key.pem, test_image_hash.b64\n  \
cocoon gen-cert --name /etc/tee/tee --tee tdx --current-time 1760000000 --force\n      \
what a TD does at boot and every hour (time taken from the TON blockchain)\n  \
cocoon gen-cert --name /etc/tee/tee --tee sev --sev-kds https://kdsintf.amd.com --sev-kds-cache /etc/tee/sev\n      \
inside an SEV-SNP guest; the VCEK comes from the host, else --vcek FILE, else the KDS")]
pub struct GenCertArgs {
    /// Base name of the output files (`BASE_cert.pem`, `BASE_key.pem`, `BASE_image_hash.b64`).
    #[arg(long, short = 'n', value_name = "BASE", default_value = "test")]
    pub name: String,
    /// Attestation put into the certificate (reference names fake_tee/fake_tdx and tee are accepted).
    #[arg(long, value_enum, value_name = "MODE", default_value = "none")]
    pub tee: TeeMode,
    /// Directory the base name is relative to.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Certificate notBefore as UNIX seconds instead of now (at most 60 s in the future).
    #[arg(long, value_name = "UNIX")]
    pub current_time: Option<u32>,
    /// Overwrite existing certificate and key files.
    #[arg(long, short = 'f')]
    pub force: bool,
    #[command(flatten)]
    pub sev: SevArgs,
}

pub fn run(args: GenCertArgs) -> anyhow::Result<()> {
    let not_before = not_before(args.current_time, SystemTime::now())?;
    let base = match &args.out {
        Some(dir) => dir.join(&args.name),
        None => PathBuf::from(&args.name),
    };
    let cert_path = with_suffix(&base, "_cert.pem");
    let key_path = with_suffix(&base, "_key.pem");
    let hash_path = with_suffix(&base, "_image_hash.b64");

    if args.tee == TeeMode::Sev {
        return run_sev(&args, not_before, &cert_path, &key_path, &hash_path);
    }
    let provider: Option<Box<dyn QuoteProvider>> = match args.tee {
        TeeMode::Sev | TeeMode::None => None,
        TeeMode::Fake => Some(Box::new(FakeQuoteProvider)),
        TeeMode::Tdx => Some(Box::new(ConfigfsTsmProvider::new())),
    };

    let image_hash = provider
        .as_deref()
        .map(|p| own_image_hash(args.tee, p))
        .transpose()?;
    write_outputs(
        args.force,
        image_hash,
        &cert_path,
        &key_path,
        &hash_path,
        || cert::generate(provider.as_deref(), not_before).context("generating the certificate"),
    )
}

/// `--tee sev`: the same files, the evidence from the SNP guest.
fn run_sev(
    args: &GenCertArgs,
    not_before: SystemTime,
    cert_path: &Path,
    key_path: &Path,
    hash_path: &Path,
) -> anyhow::Result<()> {
    let image_hash = args.sev.image_hash()?;
    write_outputs(
        args.force,
        Some(image_hash),
        cert_path,
        key_path,
        hash_path,
        || {
            args.sev
                .certificate(not_before)
                .context("generating the SEV-SNP certificate")
        },
    )
}

/// Writes the image hash (when the TEE has one), then — unless the certificate or key exists
/// and `force` is off — the certificate `make` returns and its key. Every TEE mode ends here.
fn write_outputs(
    force: bool,
    image_hash: Option<[u8; 32]>,
    cert_path: &Path,
    key_path: &Path,
    hash_path: &Path,
    make: impl FnOnce() -> anyhow::Result<CertAndKey>,
) -> anyhow::Result<()> {
    if let Some(image_hash) = image_hash {
        write_atomically(hash_path, to_base64(&image_hash).as_bytes(), 0o644)?;
        eprintln!(
            "wrote {} ({})",
            hash_path.display(),
            hex::encode(image_hash)
        );
    }
    if !force && (cert_path.exists() || key_path.exists()) {
        eprintln!(
            "refusing to overwrite existing {} / {}; pass --force to replace them",
            cert_path.display(),
            key_path.display()
        );
        return Ok(());
    }
    write_cert_and_key(&make()?, cert_path, key_path)
}

fn write_cert_and_key(made: &CertAndKey, cert_path: &Path, key_path: &Path) -> anyhow::Result<()> {
    write_atomically(cert_path, made.cert_pem().as_bytes(), 0o644)?;
    write_atomically(key_path, made.key_pem().as_bytes(), 0o600)?;
    eprintln!(
        "wrote {} and {} (public key {})",
        cert_path.display(),
        key_path.display(),
        hex::encode(made.public_key())
    );
    Ok(())
}

/// notBefore from `--current-time` (refused if more than 60 s ahead of `now`) or `now`.
fn not_before(current_time: Option<u32>, now: SystemTime) -> anyhow::Result<SystemTime> {
    let Some(secs) = current_time else {
        return Ok(now);
    };
    let given = UNIX_EPOCH + Duration::from_secs(u64::from(secs));
    if given > now + MAX_FUTURE_SKEW {
        let now_secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        bail!("--current-time {secs} is in the future (now is {now_secs}; at most 60 s of skew allowed)");
    }
    Ok(given)
}

/// The image hash of the TEE we run in: all-zero measurements for the fake
/// TEE, the measurements of a fresh quote (report data zero) for TDX.
fn own_image_hash(mode: TeeMode, provider: &dyn QuoteProvider) -> anyhow::Result<[u8; 32]> {
    match mode {
        TeeMode::None => bail!("no image hash without a TEE"),
        TeeMode::Sev => bail!("the SEV-SNP image hash comes from SevArgs::image_hash"),
        TeeMode::Fake => Ok(ZERO_MEASUREMENTS_IMAGE_HASH),
        TeeMode::Tdx => {
            let quote = provider.quote(&[0u8; 64]).context("getting a TDX quote")?;
            let parsed = ParsedQuote::parse(&quote).context("parsing our own TDX quote")?;
            let measurements = parsed
                .tdx_measurements()
                .context("our quote is not a TDX quote")?;
            Ok(tdx_image_hash(&measurements))
        }
    }
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Write `bytes` to a temporary file next to `path` with `mode`, sync it and
/// rename it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = with_suffix(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_time_more_than_60_s_ahead_is_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            not_before(Some(1_700_000_060), now).unwrap(),
            now + Duration::from_secs(60)
        );
        assert!(not_before(Some(1_700_000_061), now).is_err());
        assert_eq!(not_before(None, now).unwrap(), now);
        assert_eq!(
            not_before(Some(5), now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(5)
        );
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cocoon-gen-cert-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn args(dir: &Path, tee: TeeMode, force: bool) -> GenCertArgs {
        GenCertArgs {
            name: "node".into(),
            tee,
            out: Some(dir.to_path_buf()),
            current_time: None,
            force,
            sev: SevArgs::default(),
        }
    }

    #[test]
    fn fake_mode_writes_three_files_and_refuses_to_overwrite() {
        let dir = temp_dir("fake");
        run(args(&dir, TeeMode::Fake, false)).unwrap();
        let cert_pem = fs::read_to_string(dir.join("node_cert.pem")).unwrap();
        let key_pem = fs::read_to_string(dir.join("node_key.pem")).unwrap();
        let hash = fs::read_to_string(dir.join("node_image_hash.b64")).unwrap();
        assert_eq!(hash, "XFXI9NtAELqSA9g1NtBgmFavjIR6wDnjfn3ej71XS2E=");
        let loaded = cert::CertAndKey::from_pem(&cert_pem, &key_pem).unwrap();
        let parsed = cert::ParsedCert::from_der(loaded.cert_der()).unwrap();
        assert_eq!(
            parsed.tdx_quote.as_deref(),
            Some(cert::report_data_for_key(&loaded.public_key()).as_slice())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join("node_key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }

        // Without --force the certificate stays; with it, it is replaced.
        run(args(&dir, TeeMode::Fake, false)).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("node_cert.pem")).unwrap(),
            cert_pem
        );
        run(args(&dir, TeeMode::Fake, true)).unwrap();
        assert_ne!(
            fs::read_to_string(dir.join("node_cert.pem")).unwrap(),
            cert_pem
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn none_mode_writes_no_image_hash() {
        let dir = temp_dir("none");
        run(args(&dir, TeeMode::None, false)).unwrap();
        assert!(dir.join("node_cert.pem").exists());
        assert!(!dir.join("node_image_hash.b64").exists());
        let parsed =
            cert::ParsedCert::from_pem(&fs::read_to_string(dir.join("node_cert.pem")).unwrap())
                .unwrap();
        assert!(parsed.tdx_quote.is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tdx_mode_outside_a_td_fails_clearly() {
        if ConfigfsTsmProvider::new().is_available() {
            println!("skipped: running inside a TD");
            return;
        }
        let dir = temp_dir("tdx");
        let err = run(args(&dir, TeeMode::Tdx, false)).unwrap_err();
        assert!(
            format!("{err:#}").contains("configfs-tsm not available"),
            "{err:#}"
        );
        assert!(!dir.join("node_cert.pem").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
