//! The invariants checked after every step, and the final close of every contract.

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::ContractStatus;
use proptest::prelude::*;

use crate::ops::{Op, Step, SLOTS};
use crate::world::World;

impl World {
    pub fn check_invariants(&self, s: &DevnetSnapshot) -> Result<(), TestCaseError> {
        // Client contracts hold no money (their balance is a figure; the money is in the
        // proxy contract): wallets and proxy contracts hold everything minted.
        let wallets: NanoTon = s.wallets.values().sum();
        let in_proxies: NanoTon = s.proxies.values().map(|p| p.funds).sum();
        prop_assert_eq!(s.minted, self.books.minted);
        prop_assert_eq!(wallets + in_proxies, s.minted, "money not conserved");
        for c in s.clients.values() {
            if c.status == ContractStatus::Closed {
                prop_assert_eq!(c.balance, 0);
            }
        }
        for p in s.proxies.values() {
            if p.status == ContractStatus::Closed {
                prop_assert_eq!((p.funds, p.stake, p.commission), (0, 0, 0));
            }
        }
        Ok(())
    }

    /// Closes every contract as its owner; then every nanoTON is back in a wallet (closing a
    /// proxy contract pays everything it holds to its owner).
    pub fn close_everything(&mut self) -> Result<(), TestCaseError> {
        let s = self.ledgers[0].try_devnet_snapshot().expect("snapshot");
        for (&(c, p), sc) in &self.books.clients.clone() {
            let st = &s.clients[&sc.to_hex()];
            if st.status == ContractStatus::Active {
                self.step(&Step {
                    via: 0,
                    op: Op::Refund { c, p, owner: true },
                })?;
            }
        }
        for p in 0..SLOTS {
            if self.books.proxies[p]
                .as_ref()
                .is_some_and(|sc| s.proxies[&sc.to_hex()].status == ContractStatus::Active)
            {
                self.step(&Step {
                    via: 1,
                    op: Op::ProxyClose { p, owner: true },
                })?;
            }
        }
        // A client's second refund request must come strictly after its unlock time.
        let delay = u64::from(self.setup.proxy_delay.max(self.setup.client_delay)) + 1;
        self.step(&Step {
            via: 0,
            op: Op::Advance { seconds: delay },
        })?;
        let s = self.ledgers[0].try_devnet_snapshot().expect("snapshot");
        for (&(c, p), sc) in &self.books.clients.clone() {
            if s.clients[&sc.to_hex()].status == ContractStatus::Closing {
                // The second refund request closes it (a forced refund, capped by the
                // proxy's stake).
                self.step(&Step {
                    via: 1,
                    op: Op::Refund { c, p, owner: true },
                })?;
            }
        }
        for p in 0..SLOTS {
            if self.books.proxies[p]
                .as_ref()
                .is_some_and(|sc| s.proxies[&sc.to_hex()].status == ContractStatus::Closing)
            {
                self.step(&Step {
                    via: 0,
                    op: Op::ProxyComplete { p, owner: true },
                })?;
            }
        }
        let end = self.ledgers[1].try_devnet_snapshot().expect("snapshot");
        prop_assert!(end
            .clients
            .values()
            .all(|c| c.status == ContractStatus::Closed));
        prop_assert!(end
            .proxies
            .values()
            .all(|p| p.status == ContractStatus::Closed));
        prop_assert_eq!(
            end.wallets.values().sum::<NanoTon>(),
            end.minted,
            "all money back in wallets"
        );
        Ok(())
    }
}
