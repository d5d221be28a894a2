//! The TON backend of the COCOON payment layer: the contract messages the runners send,
//! the cocoon wallet, the root contract state, and (later) a [`cocoon_ledger::ledger::Ledger`]
//! implementation that talks to liteservers through `cocoon-liteclient`.
