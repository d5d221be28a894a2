//! A TON liteserver client (ADNL over TCP, lite_api): global config, several servers,
//! masterchain agreement, account states with proofs, transactions, external messages.
