//! Giving memory back after a connection flood (issue 14): a node process calls glibc's
//! `malloc_trim(0)` every few seconds, on a thread of its own.
//!
//! Why: a flood of connections (2,000 idle keep-alive connections on the client's OpenAI port,
//! a thousand unauthenticated ones on the proxy's RPC port) allocates their buffers and tasks
//! on the allocator's per-thread arenas; once they close, glibc keeps the freed pages inside
//! its heaps, since only free space at a heap's *top* is handed back by `free`. `malloc_trim`
//! also releases the free pages in the middle of every arena (`madvise(MADV_DONTNEED)`), so the
//! resident set returns to about where it was. Measured (debug build, `cocoon up`, RSS before
//! → during → 15 s after the flood closed, MiB): client 27.2 → 40.0 → 39.5 without a trim,
//! 29.0 after one; proxy 30.1 → 37.4 → 37.4, 29.9 after one. mimalloc and jemalloc
//! were measured too (see `docs/security.md`, "Memory under floods").
//!
//! The interval is `COCOON_MALLOC_TRIM_INTERVAL` seconds (default
//! [`DEFAULT_INTERVAL_SECS`]; `0` turns the trimming off). A trim with nothing to release
//! costs a walk over the arenas' free lists (measured: 3.3 ms with a 200 MiB live heap; a
//! node's heap is about 30 MiB).
//! Only glibc has `malloc_trim`; elsewhere this does nothing.

use std::time::Duration;

/// Seconds between trims when `COCOON_MALLOC_TRIM_INTERVAL` is unset.
pub const DEFAULT_INTERVAL_SECS: f64 = 5.0;

/// The environment variable that sets the interval in seconds (`0`: off).
pub const INTERVAL_VAR: &str = "COCOON_MALLOC_TRIM_INTERVAL";

/// The interval `value` (the variable's content, if set) asks for; `None` = off. A value
/// that is not a number of seconds between 0 and 3600 is refused with the reason.
pub fn interval_from(value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(text) = value else {
        return Ok(Some(Duration::from_secs_f64(DEFAULT_INTERVAL_SECS)));
    };
    match text.trim().parse::<f64>() {
        Ok(0.0) => Ok(None),
        Ok(v) if v.is_finite() && (0.1..=3600.0).contains(&v) => {
            Ok(Some(Duration::from_secs_f64(v)))
        }
        _ => Err(format!(
            "{INTERVAL_VAR}={text:?} is not 0 (off) or a number of seconds from 0.1 to 3600"
        )),
    }
}

/// Starts the trimming thread of this process as `COCOON_MALLOC_TRIM_INTERVAL` says (a bad
/// value is logged and the default used).
pub fn start() {
    let interval = match interval_from(std::env::var(INTERVAL_VAR).ok().as_deref()) {
        Ok(interval) => interval,
        Err(reason) => {
            tracing::warn!("{reason}; trimming every {DEFAULT_INTERVAL_SECS} s");
            Some(Duration::from_secs_f64(DEFAULT_INTERVAL_SECS))
        }
    };
    if let Some(every) = interval {
        spawn(every);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn spawn(every: Duration) {
    let started = std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            // SAFETY: malloc_trim only walks and trims glibc's own heaps, under their locks;
            // it is safe to call from any thread at any time.
            unsafe {
                libc::malloc_trim(0);
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the malloc-trim thread");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn spawn(_every: Duration) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_defaults_can_be_set_or_turned_off_and_bad_values_are_refused() {
        assert_eq!(
            interval_from(None),
            Ok(Some(Duration::from_secs_f64(DEFAULT_INTERVAL_SECS)))
        );
        assert_eq!(interval_from(Some("0")), Ok(None));
        assert_eq!(
            interval_from(Some(" 1.5 ")),
            Ok(Some(Duration::from_millis(1500)))
        );
        for bad in ["", "soon", "-1", "0.01", "NaN", "inf", "7200"] {
            assert!(interval_from(Some(bad)).is_err(), "{bad:?} is refused");
        }
    }
}
