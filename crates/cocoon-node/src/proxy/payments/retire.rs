//! Leaving a proxy contract (runners.md §8 `close_all`): every counter is flushed, then
//! moved with the contract addresses into an old-contract record of the books in one
//! transaction ([`cocoon_ledger::books::Books::retire_to_old_contract`]); the payments stop
//! settling. The close machine of [`crate::proxy::money`] then works through the record,
//! persisting each observed step here, and signs its messages with [`ProxyPayments::sign_close_flow`].

use cocoon_ledger::address::parse_address;
use cocoon_ledger::books::{OldContractRecord, OldContractStep};
use cocoon_ledger::ledger::Ledger;
use cocoon_ledger::root_config::RootParams;
use cocoon_ledger::voucher::VoucherKind;
use tonlib_core::TonAddress;

use super::{ProxyPayments, Side};
use crate::proxy::books::ProxyBooks;

impl ProxyPayments {
    /// Whether the contract was retired (the proxy is to restart on a new one).
    pub fn is_retired(&self) -> bool {
        self.retired
    }

    /// Flushes every counter, then moves all rows into a new old-contract record of
    /// `proxy_sc` (deployed with `params`), forgets the counters and closes the books.
    /// Needs books: the record must survive the restart that follows.
    pub fn retire_contract(
        &mut self,
        proxy_sc: &str,
        params: RootParams,
    ) -> Result<OldContractRecord, String> {
        if self.retired {
            return Err("the contract is already retired".into());
        }
        if self.books.is_none() {
            return Err("closing an old proxy contract needs durable books (set db_path)".into());
        }
        self.flush();
        let record = OldContractRecord {
            format: 0,
            proxy_sc: proxy_sc.to_owned(),
            params: Some(params),
            step: OldContractStep::NotStarted,
            close_at: 0,
            clients: Vec::new(),
            workers: Vec::new(),
        };
        let books = self.books.as_mut().ok_or("no books")?;
        let (record, seqno) = books
            .books_mut()
            .retire_to_old_contract(record)
            .map_err(|e| format!("retiring the contract in the books: {e}"))?;
        self.seqno = seqno;
        self.clients.clear();
        self.workers.clear();
        self.retired = true;
        // Close the books file: the restarted proxy opens it again (redb allows one opener,
        // and this instance may outlive the restart while something still holds it).
        self.books = None;
        Ok(record)
    }

    /// Books opened at start-up whose rows name client / worker contracts other than ours
    /// belong to an earlier proxy contract (the root params changed while the proxy was
    /// down): their counters must not be carried to the new contract (its vouchers would
    /// charge the same usage again). They are moved into an old-contract record of the
    /// earlier contract, found on `ledger` from a row's contract. Returns that contract.
    /// Rows whose contracts the ledger does not know (books of a run without a ledger) are
    /// kept, with a warning.
    /// Call before [`Self::attach_books`].
    pub fn retire_earlier_rows(
        &self,
        books: &mut ProxyBooks,
        ledger: &dyn Ledger,
    ) -> Result<Option<String>, String> {
        let b = books.books();
        let rows = b
            .clients()
            .map(|c| (Side::Client, c.owner.clone(), c.sc_address.clone()))
            .chain(
                b.workers()
                    .map(|w| (Side::Worker, w.owner.clone(), w.sc_address.clone())),
            );
        let mut earlier = None;
        let mut foreign = false;
        for (side, owner, sc) in rows {
            if sc.is_empty() || self.sc_address(side, &owner) == sc {
                continue;
            }
            foreign = true;
            let Ok(address) = parse_address(&sc).map(|a| a.address) else {
                continue;
            };
            let proxy_sc = match side {
                Side::Client => ledger.client_state(&address).map(|s| s.proxy_sc),
                Side::Worker => ledger.worker_state(&address).map(|s| s.proxy_sc),
            };
            if let Ok(proxy_sc) = proxy_sc {
                earlier = Some(proxy_sc);
                break;
            }
        }
        let Some(proxy_sc) = earlier else {
            if foreign {
                // E.g. books of a run without a ledger: nothing of them was ever charged here.
                tracing::warn!(
                    "the proxy books name contracts this ledger does not have; their counters are kept"
                );
            }
            return Ok(None);
        };
        let record = OldContractRecord {
            format: 0,
            proxy_sc: proxy_sc.clone(),
            params: None,
            step: OldContractStep::NotStarted,
            close_at: 0,
            clients: Vec::new(),
            workers: Vec::new(),
        };
        let (record, _) = books
            .books_mut()
            .retire_to_old_contract(record)
            .map_err(|e| format!("retiring the earlier contract's rows: {e}"))?;
        tracing::info!(
            proxy_sc = %proxy_sc,
            clients = record.clients.len(),
            workers = record.workers.len(),
            "the books belong to an earlier proxy contract; it will be closed"
        );
        Ok(Some(proxy_sc))
    }

    /// Closes the books file and stops settling (a disabled proxy about to restart: the
    /// restarted one opens the file again).
    pub fn close_books(&mut self) {
        self.retired = true;
        self.books = None;
    }

    /// The old contracts being closed (empty without books).
    pub fn old_contracts(&self) -> Result<Vec<OldContractRecord>, String> {
        match &self.books {
            None => Ok(Vec::new()),
            Some(b) => b.books().old_contracts().map_err(|e| e.to_string()),
        }
    }

    /// Persists the progress of an old contract's close.
    pub fn save_old_contract(&mut self, record: &OldContractRecord) -> Result<(), String> {
        let books = self.books.as_mut().ok_or("no books")?;
        books
            .books_mut()
            .put_old_contract(record)
            .map_err(|e| e.to_string())
    }

    /// Deletes the record of a closed old contract.
    pub fn delete_old_contract(&mut self, proxy_sc: &str) -> Result<(), String> {
        let books = self.books.as_mut().ok_or("no books")?;
        books
            .books_mut()
            .delete_old_contract(proxy_sc)
            .map_err(|e| e.to_string())
    }

    /// A proxy-signed grant refund / last payout for `tokens` addressed to `target`.
    pub fn sign_close_flow(
        &self,
        kind: VoucherKind,
        tokens: u64,
        target: TonAddress,
    ) -> Result<Vec<u8>, String> {
        self.contracts
            .as_ref()
            .ok_or("vouchers are disabled (no signing key)")?
            .sign_for(kind, tokens, target)
    }
}
