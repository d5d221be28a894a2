//! # cocoon-node — the client, proxy and worker roles
//!
//! The three COCOON node roles, built on the connection layer (`cocoon-net`),
//! the attested links (`cocoon-tee`) and the ledger (`cocoon-ledger`).
//!
//! Building blocks: [`config`] (the reference's JSON configs), [`validate`]
//! (OpenAI request validation), [`metering`] (token counting from the engine's
//! answers), [`fake_engine`] (a fake OpenAI-compatible engine for development),
//! [`http_util`] (CORS, OpenAI error responses, TON-error → HTTP-status mapping),
//! [`http_server`] (the HTTP server of every listener, with its timeouts and connection cap),
//! [`common`] (what the roles share: protocol versions, dialing, stats).
//! Roles: [`proxy`], [`worker`], [`client`].

pub mod config;
pub mod fake_engine;
pub mod http_server;
pub mod http_util;
pub mod metering;
pub mod validate;

pub mod common;

pub mod client;
pub mod keymanager;
pub mod proxy;
pub mod worker;
