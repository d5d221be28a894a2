//! The HTTP GET used to fetch attestation collateral (Intel PCCS/PCS in
//! [`crate::dcap`], AMD KDS in [`crate::sev::kds`]): reqwest with a total
//! timeout, bodies read in chunks and refused past a size limit, non-2xx
//! statuses as errors; and [`block_on_helper`], which runs such a fetch from
//! synchronous code (policies run inside TLS handshakes) on a helper thread
//! with its own runtime, so it is safe to call from inside a tokio runtime.

use std::future::Future;
use std::time::Duration;

/// An HTTP client with a total per-request `timeout`.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider: install ring's
    // (ignored when the process already installed one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// GET `url`: the body (at most `max_bytes`) and the response headers.
pub async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> Result<(Vec<u8>, reqwest::header::HeaderMap), String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(format!("GET {url}: response larger than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, headers))
}

/// Run the future made by `make` to completion on a helper thread with its
/// own current-thread runtime, blocking the caller until it ends. `Err` only
/// when the helper could not run it.
pub fn block_on_helper<T, F, Fut>(make: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting fetch runtime: {e}"))?;
        Ok(runtime.block_on(make()))
    })
    .join()
    .map_err(|_| "fetch thread panicked".to_owned())?
}
