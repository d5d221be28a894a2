//! The invariants checked after every step, and the final close of every contract.

use cocoon_ledger::accounting::NanoTon;
use cocoon_ledger::ledger::devnet::DevnetSnapshot;
use cocoon_ledger::ledger::ContractStatus;
use proptest::prelude::*;

use crate::ops::{Op, Step, SLOTS};
use crate::world::World;

impl World {
    pub fn check_invariants(&self, s: &DevnetSnapshot) -> Result<(), TestCaseError> {
        let (price, fee) = (self.price(), self.fee());
        let wallets: NanoTon = s.wallets.values().sum();
        let in_proxies: NanoTon = s
            .proxies
            .values()
            .map(|p| p.stake + p.commission + p.worker_pool)
            .sum();
        let in_clients: NanoTon = s.clients.values().map(|c| c.balance + c.stake).sum();
        prop_assert_eq!(s.minted, self.books.minted);
        prop_assert_eq!(
            wallets + in_proxies + in_clients,
            s.minted,
            "money not conserved"
        );

        for (address, c) in &s.clients {
            let charged = self.books.charged.get(address).copied().unwrap_or(0);
            let forgiven = self.books.forgiven.get(address).copied().unwrap_or(0);
            prop_assert_eq!(charged + forgiven, NanoTon::from(c.tokens_used) * price);
            if c.status == ContractStatus::Closed {
                prop_assert_eq!((c.balance, c.stake), (0, 0));
            }
        }
        for (address, w) in &s.workers {
            let paid = self.books.paid.get(address).copied().unwrap_or(0);
            let lost = self.books.lost.get(address).copied().unwrap_or(0);
            prop_assert_eq!(paid + lost, NanoTon::from(w.tokens) * fee);
        }
        let (mut charged_all, mut drawn_all, mut paid_all, mut commission_all, mut pool_all) =
            (0, 0, 0, 0, 0);
        for p in 0..SLOTS {
            let Some(sc) = &self.books.proxies[p] else {
                continue;
            };
            let key = sc.to_hex();
            let proxy = &s.proxies[&key];
            let client_tokens: NanoTon = s
                .clients
                .values()
                .filter(|c| c.proxy_sc == key)
                .map(|c| NanoTon::from(c.tokens_used))
                .sum();
            let worker_tokens: NanoTon = s
                .workers
                .values()
                .filter(|w| w.proxy_sc == key)
                .map(|w| NanoTon::from(w.tokens))
                .sum();
            let b = &self.books;
            let commission = proxy.commission + b.commission_paid_out[p] + b.commission_returned[p];
            prop_assert_eq!(
                commission + b.forgiven_commission[p],
                (price - fee) * client_tokens
            );
            prop_assert!(
                proxy.stake + b.stake_returned[p] <= b.deposit[p],
                "proxy stake grew"
            );
            let drawn = b.deposit[p] - proxy.stake - b.stake_returned[p];
            let pool = proxy.worker_pool + b.pool_returned[p];
            prop_assert_eq!(
                fee * worker_tokens + pool + b.forgiven_workers[p] - b.lost_workers[p],
                fee * client_tokens + drawn
            );
            if proxy.status == ContractStatus::Closed {
                prop_assert_eq!(
                    (proxy.stake, proxy.commission, proxy.worker_pool),
                    (0, 0, 0)
                );
            }
            charged_all += price * client_tokens - b.forgiven_workers[p] - b.forgiven_commission[p];
            drawn_all += drawn;
            paid_all += fee * worker_tokens - b.lost_workers[p];
            commission_all += commission;
            pool_all += pool;
        }
        prop_assert_eq!(charged_all, self.books.charged.values().sum::<NanoTon>());
        prop_assert_eq!(paid_all, self.books.paid.values().sum::<NanoTon>());
        prop_assert_eq!(
            charged_all + drawn_all,
            paid_all + commission_all + pool_all,
            "nanoTON flow"
        );
        Ok(())
    }

    /// Closes every contract as its owner; every owner gets back exactly what its contract held.
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
                // The second refund request closes it; `step` checks the exact refund
                // (balance + stake) and fails if refused.
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
