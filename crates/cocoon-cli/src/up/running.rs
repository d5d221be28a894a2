//! Where a running `cocoon up` announces its devnet ledger, so that `cocoon devnet status`
//! without `--ledger` finds it: one file per running `cocoon up`, named by its process id,
//! holding the ledger path, in `$COCOON_UP_REGISTRY` (default `<temp dir>/cocoon-up-running`).
//! The file is removed when `cocoon up` exits; one whose process is gone (killed) is
//! ignored and removed by the next lookup.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The directory of the announcements.
pub fn registry_dir() -> PathBuf {
    std::env::var_os("COCOON_UP_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("cocoon-up-running"))
}

/// This process's announcement of its ledger; removed on drop.
pub struct Announcement {
    file: PathBuf,
}

impl Announcement {
    /// Announces `ledger` (made absolute) as the ledger of this process in `dir`.
    pub fn new_in(dir: &Path, ledger: &Path) -> anyhow::Result<Announcement> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let ledger = std::path::absolute(ledger)
            .with_context(|| format!("resolving {}", ledger.display()))?;
        let file = dir.join(std::process::id().to_string());
        std::fs::write(&file, ledger.to_string_lossy().as_bytes())
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(Announcement { file })
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    true
}

/// The ledgers announced in `dir` by live processes, with their process ids (oldest
/// announcement files of dead processes are removed).
pub fn announced_in(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let ledger = PathBuf::from(text);
        if ledger.is_file() {
            found.push((pid, ledger));
        }
    }
    found.sort();
    found
}

/// The ledger of the one running `cocoon up` announced in `dir`; an error saying what to
/// do when there is none or more than one.
pub fn running_ledger_in(dir: &Path) -> anyhow::Result<PathBuf> {
    let found = announced_in(dir);
    match found.as_slice() {
        [] => bail!(
            "no running `cocoon up` with a devnet ledger (none announced in {}); pass \
             --ledger FILE",
            dir.display()
        ),
        [(_, ledger)] => Ok(ledger.clone()),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|(pid, l)| format!("{} (pid {pid})", l.display()))
                .collect();
            bail!(
                "{} running `cocoon up`s have a devnet ledger; pass --ledger with one of: {}",
                many.len(),
                list.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "cocoon-running-test-{}-{n}-{}",
                std::process::id(),
                crate::up::procs::unique_suffix()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_one_running_ledger_is_found_and_forgotten_on_exit() {
        let tmp = TempDir::new();
        let dir = tmp.path().join("registry");
        assert!(running_ledger_in(&dir).is_err());
        let ledger = tmp.path().join("devnet.json");
        std::fs::write(&ledger, "{}").expect("ledger");
        let announced = Announcement::new_in(&dir, &ledger).expect("announce");
        assert_eq!(running_ledger_in(&dir).expect("found"), ledger);
        drop(announced);
        let err = running_ledger_in(&dir).expect_err("gone").to_string();
        assert!(err.contains("--ledger"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn dead_processes_are_ignored_and_several_live_ones_are_named() {
        let tmp = TempDir::new();
        let dir = tmp.path().join("registry");
        let ledger = tmp.path().join("devnet.json");
        std::fs::write(&ledger, "{}").expect("ledger");
        let _me = Announcement::new_in(&dir, &ledger).expect("announce");
        // A process id above the kernel's maximum (2^22) cannot be running.
        let dead = dir.join("99999999");
        std::fs::write(&dead, ledger.to_string_lossy().as_bytes()).expect("stale");
        assert_eq!(running_ledger_in(&dir).expect("found"), ledger);
        assert!(!dead.exists(), "a dead process's announcement is removed");
        // Our parent process is alive: two running, so the caller must choose.
        let other = tmp.path().join("other.json");
        std::fs::write(&other, "{}").expect("ledger");
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        std::fs::write(
            dir.join(parent.to_string()),
            other.to_string_lossy().as_bytes(),
        )
        .expect("announce");
        let err = running_ledger_in(&dir).expect_err("two").to_string();
        assert!(
            err.contains("2 running") && err.contains("other.json") && err.contains("devnet.json"),
            "{err}"
        );
    }
}
