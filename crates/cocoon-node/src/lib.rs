//! # cocoon-node — the client, proxy and worker roles
//!
//! The three COCOON node roles, built on the connection layer (`cocoon-net`),
//! the attested links (`cocoon-tee`) and the ledger (`cocoon-ledger`).
