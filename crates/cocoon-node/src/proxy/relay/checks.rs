//! The checks of a request that need no worker (runners.md §4.3 steps 1–3, plus ours), and
//! the key of an end-to-end encrypted request (delta-2026-04 §2.5 step 3).

use std::time::Duration;

use cocoon_e2e::Seed;
use cocoon_wire::schema::functions;
use cocoon_wire::tl::from_bytes;

use super::{Relay, MAX_TIMEOUT_S};
use crate::common::km_client::unix_now;
use crate::common::proto::code;

impl Relay {
    /// Checks that need no worker (§4.3 steps 1–3, plus ours).
    pub(super) fn precheck(&self) -> Result<Duration, (i32, String)> {
        let r = &self.req;
        if r.min_config_version > self.shared.settings.config_version {
            return Err((code::ERROR, "active config version is too low".into()));
        }
        if r.max_coefficient < 0 || r.max_tokens < 0 {
            return Err((
                code::PROTOVIOLATION,
                "max_coefficient and max_tokens must not be negative".into(),
            ));
        }
        if !(r.timeout.is_finite() && r.timeout > 0.0) {
            return Err((
                code::PROTOVIOLATION,
                format!("invalid timeout {}", r.timeout),
            ));
        }
        if from_bytes::<functions::http::Request>(&r.query).is_err() {
            return Err((
                code::PROTOVIOLATION,
                "query is not a valid http.request".into(),
            ));
        }
        Ok(Duration::from_secs_f64(r.timeout.min(MAX_TIMEOUT_S)))
    }

    /// The seed of the key an encrypted request names (delta §2.5 step 3): `None` for a
    /// plain request, an error `unknown public key <HEX>` (602, the reference's text with
    /// TON's upper-case hex) when the key manager gave us no such key or it expired.
    pub(super) fn request_key(&self) -> Result<Option<Seed>, (i32, String)> {
        let Some(public) = self.req.public_key.filter(|_| self.req.is_encrypted()) else {
            return Ok(None);
        };
        match self.shared.keys.seed_for(&public, unix_now()) {
            Some(seed) => Ok(Some(seed)),
            None => Err((
                code::ERROR,
                format!("unknown public key {}", hex::encode_upper(public)),
            )),
        }
    }
}
