//! The shared test engine on the test model ([`cocoon_engine::model_cache::test_model_or_skip`]).

#![allow(dead_code)]

use std::sync::OnceLock;

use cocoon_engine::{Engine, EngineOptions};

pub const MODEL_FILE: &str = cocoon_engine::model_cache::TEST_MODEL_FILE;

/// One engine per test binary (loading takes a second; tests share it, the queue orders them).
/// `None`: the model is not there (skipped outside CI).
pub fn shared_engine() -> Option<Engine> {
    static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let path = cocoon_engine::model_cache::test_model_or_skip()?;
            Some(Engine::load(&path, EngineOptions::default()).expect("the test model loads"))
        })
        .clone()
}
