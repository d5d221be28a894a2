//! The credential of a node's admin port ([`super::admin`]): the config's `http_access_hash`
//! when it sets one (the reference's semantics), else a random token kept in a file that
//! only its owner may read ([`load_or_create`]).

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Fewest characters of a token read from a file (a generated one has 64).
pub const MIN_FILE_TOKEN_LEN: usize = 16;

/// Largest token file read.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// A credential. Its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(Arc<str>);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl AdminToken {
    /// `token` as a credential; `None` when empty.
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| AdminToken(Arc::from(token)))
    }

    /// A fresh random token: 32 random bytes, hex.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        AdminToken(Arc::from(hex::encode(bytes)))
    }

    /// The token itself (to write it to its file, or to send it).
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token. Compares SHA-256 digests, so the time taken says
    /// nothing about how much of the token a guess got right.
    pub fn matches(&self, given: &str) -> bool {
        Sha256::digest(given.as_bytes()) == Sha256::digest(self.0.as_bytes())
    }
}

/// The token in `path`, or — when there is no such file — a fresh one written there with
/// mode 0600 (created exclusively, so a file that appears meanwhile is read instead).
///
/// An existing file must hold at least [`MIN_FILE_TOKEN_LEN`] characters and, on Unix, be
/// readable by its owner only.
pub fn load_or_create(path: &Path) -> io::Result<AdminToken> {
    match read_token_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let token = AdminToken::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{}\n", token.reveal()).as_bytes())?;
            file.sync_all()?;
            Ok(token)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_token_file(path),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot create the admin token file {}: {e}", path.display()),
        )),
    }
}

fn read_token_file(path: &Path) -> io::Result<AdminToken> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(invalid(format!(
                "the admin token file {} is readable by others: chmod 600 it",
                path.display()
            )));
        }
    }
    if !meta.is_file() {
        return Err(invalid(format!("{} is not a file", path.display())));
    }
    let mut text = String::new();
    file.take(MAX_TOKEN_FILE_BYTES).read_to_string(&mut text)?;
    match AdminToken::new(&text) {
        Some(token) if token.reveal().len() >= MIN_FILE_TOKEN_LEN => Ok(token),
        _ => Err(invalid(format!(
            "the admin token file {} must hold a token of at least {MIN_FILE_TOKEN_LEN} characters",
            path.display()
        ))),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cocoon-admin-token-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(name)
    }

    #[test]
    fn a_token_is_generated_once_and_then_read_back() {
        let path = temp_path("node.admin-token");
        let first = load_or_create(&path).expect("created");
        assert_eq!(first.reveal().len(), 64);
        let again = load_or_create(&path).expect("read back");
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_or_a_short_token_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = temp_path("open.admin-token");
        std::fs::write(&path, "0123456789abcdef0123\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = load_or_create(&path).expect_err("refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            load_or_create(&path).expect("accepted").reveal(),
            "0123456789abcdef0123"
        );
        std::fs::write(&path, "short\n").expect("write");
        assert!(load_or_create(&path).is_err());
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn tokens_match_exactly_and_hide_in_debug() {
        let token = AdminToken::new(" secret-value ").expect("non-empty");
        assert!(token.matches("secret-value"));
        assert!(!token.matches("secret-valu"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("secret"));
        assert!(AdminToken::new("  ").is_none());
        assert_ne!(AdminToken::generate(), AdminToken::generate());
    }
}
