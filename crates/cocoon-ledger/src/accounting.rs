//! Token accounting: the adjustment formula, prices, and the proxy's per-client and
//! per-worker counters (real protocol semantics, no I/O).
//!
//! * [`adjust_tokens`] is the reference float formula (left-to-right `f64` evaluation,
//!   truncation toward zero).
//! * [`RawUsage::adjust`] turns backend counters into [`AdjustedUsage`] with the worker
//!   coefficient and the root multipliers.
//! * [`Prices`] turns adjusted tokens into nanoTON: client charge, worker fee, proxy commission.
//! * [`CommitCounters`] holds the three monotone counters (`tokens_max`, committed to the DB,
//!   committed to the chain) plus the `seqno → tokens` commit map.
//! * [`ClientAccount`] adds the on-chain view and reservations and computes
//!   `tokens_available`; [`WorkerAccount`] is the worker side; [`settle_request`] performs
//!   the per-request settlement.
//!
//! Deliberate difference from the reference: settlement charges at most the reserved
//! amount (the reference charges whatever the worker reported, which can push a client's
//! available tokens below zero). The surplus is reported as [`Settlement::unbilled`] and is
//! neither charged to the client nor credited to the worker, so client and worker counters
//! always move together.

use std::collections::BTreeMap;

/// nanoTON amounts. `u128` so that `tokens (u64) × price (u64)` never overflows.
pub type NanoTon = u128;

/// One TON in nanoTON.
pub const ONE_TON: NanoTon = 1_000_000_000;

/// Worker coefficient meaning 1.0× (coefficients are in thousandths).
pub const COEFFICIENT_ONE: i64 = 1000;

/// Root multiplier meaning 1.0× (multipliers are in ten-thousandths).
pub const MULTIPLIER_ONE: i64 = 10_000;

/// Value `safe_div` returns when the divisor is not positive (reference behaviour).
pub const SAFE_DIV_FALLBACK: u64 = 1_000_000_000_000;

/// The reference adjustment formula:
/// `trunc((t as f64) * ((coef as f64) * 0.001) * (mult as f64) * 0.0001)`, evaluated left to
/// right in `f64`. Out-of-range results saturate (Rust `as` semantics; the reference's
/// behaviour there is undefined).
pub fn adjust_tokens(tokens: i64, coefficient: i64, multiplier: i64) -> i64 {
    let value = (tokens as f64) * ((coefficient as f64) * 0.001) * (multiplier as f64) * 0.0001;
    value.trunc() as i64
}

/// `a / b`, or [`SAFE_DIV_FALLBACK`] when `b` is zero (prices are unsigned here, so
/// "not positive" means zero). Saturates to `u64::MAX`.
pub fn safe_div(amount: NanoTon, price: u64) -> u64 {
    if price == 0 {
        return SAFE_DIV_FALLBACK;
    }
    u64::try_from(amount / NanoTon::from(price)).unwrap_or(u64::MAX)
}

/// Per-category price multipliers from the root config (10000 = 1.0×).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Multipliers {
    /// Non-cached prompt tokens.
    pub prompt: u32,
    /// Cached prompt tokens.
    pub cached: u32,
    /// Non-reasoning completion tokens.
    pub completion: u32,
    /// Reasoning tokens.
    pub reasoning: u32,
}

impl Default for Multipliers {
    fn default() -> Self {
        let one = MULTIPLIER_ONE as u32;
        Multipliers {
            prompt: one,
            cached: one,
            completion: one,
            reasoning: one,
        }
    }
}

/// Raw usage counters reported by the inference backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawUsage {
    /// `usage.prompt_tokens` (includes cached).
    pub prompt: u64,
    /// `usage.prompt_tokens_details.cached_tokens`.
    pub cached: u64,
    /// `usage.completion_tokens` (includes reasoning).
    pub completion: u64,
    /// Reasoning tokens.
    pub reasoning: u64,
}

/// Adjusted (billable) tokens per category; `total` is what is charged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdjustedUsage {
    /// Adjusted non-cached prompt tokens.
    pub prompt: u64,
    /// Adjusted cached tokens.
    pub cached: u64,
    /// Adjusted non-reasoning completion tokens.
    pub completion: u64,
    /// Adjusted reasoning tokens.
    pub reasoning: u64,
    /// Sum of the four (saturating).
    pub total: u64,
}

fn adjust_u64(tokens: u64, coefficient: i64, multiplier: u32) -> u64 {
    let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
    adjust_tokens(tokens, coefficient, i64::from(multiplier)).max(0) as u64
}

impl RawUsage {
    /// Applies the worker coefficient and root multipliers:
    /// `P' = adj(P−C, k, m_p)`, `C' = adj(C, k, m_c)`, `O' = adj(O−R, k, m_o)`,
    /// `R' = adj(R, k, m_r)`. Subtractions saturate at zero (the reference assumes
    /// cached ⊆ prompt and reasoning ⊆ completion and would go negative otherwise);
    /// negative results of the formula (negative coefficient) are clamped to zero.
    pub fn adjust(&self, coefficient: i64, multipliers: &Multipliers) -> AdjustedUsage {
        let prompt = adjust_u64(
            self.prompt.saturating_sub(self.cached),
            coefficient,
            multipliers.prompt,
        );
        let cached = adjust_u64(self.cached, coefficient, multipliers.cached);
        let completion = adjust_u64(
            self.completion.saturating_sub(self.reasoning),
            coefficient,
            multipliers.completion,
        );
        let reasoning = adjust_u64(self.reasoning, coefficient, multipliers.reasoning);
        let total = prompt
            .saturating_add(cached)
            .saturating_add(completion)
            .saturating_add(reasoning);
        AdjustedUsage {
            prompt,
            cached,
            completion,
            reasoning,
            total,
        }
    }
}

/// Tokens to reserve for a request: the request's byte length counts as prompt tokens and
/// the sum is scaled by the client's `max_coefficient` (multiplier 1.0×).
pub fn reservation_for(max_tokens: u64, request_bytes: u64, max_coefficient: i64) -> u64 {
    adjust_u64(
        max_tokens.saturating_add(request_bytes),
        max_coefficient,
        MULTIPLIER_ONE as u32,
    )
}

/// Error building [`Prices`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "worker fee per token ({worker_fee_per_token}) exceeds price per token ({price_per_token})"
)]
pub struct PriceError {
    /// Offending price.
    pub price_per_token: u64,
    /// Offending fee.
    pub worker_fee_per_token: u64,
}

/// Per-token prices from the root config, in nanoTON. Invariant: fee ≤ price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prices {
    price_per_token: u64,
    worker_fee_per_token: u64,
}

impl Prices {
    /// Builds prices; the worker fee may not exceed the client price.
    pub fn new(price_per_token: u64, worker_fee_per_token: u64) -> Result<Prices, PriceError> {
        if worker_fee_per_token > price_per_token {
            return Err(PriceError {
                price_per_token,
                worker_fee_per_token,
            });
        }
        Ok(Prices {
            price_per_token,
            worker_fee_per_token,
        })
    }
    /// nanoTON a client pays per adjusted token.
    pub fn price_per_token(&self) -> u64 {
        self.price_per_token
    }
    /// nanoTON a worker earns per adjusted token.
    pub fn worker_fee_per_token(&self) -> u64 {
        self.worker_fee_per_token
    }
    /// What the client is charged for `tokens`.
    pub fn client_charge(&self, tokens: u64) -> NanoTon {
        NanoTon::from(tokens) * NanoTon::from(self.price_per_token)
    }
    /// What the worker is paid for `tokens`.
    pub fn worker_payout(&self, tokens: u64) -> NanoTon {
        NanoTon::from(tokens) * NanoTon::from(self.worker_fee_per_token)
    }
    /// The proxy's commission for `tokens` (= charge − payout).
    pub fn proxy_commission(&self, tokens: u64) -> NanoTon {
        NanoTon::from(tokens) * NanoTon::from(self.price_per_token - self.worker_fee_per_token)
    }
}

/// Error from the commit counters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// A DB commit seqno must be higher than every earlier one.
    #[error("commit seqno {seqno} is not above the last one ({last})")]
    SeqnoNotIncreasing {
        /// Offered seqno.
        seqno: u64,
        /// Last recorded seqno.
        last: u64,
    },
}

/// The three monotone counters of one client or worker (§6.1) and the
/// `seqno → tokens_max` map of DB commits not yet confirmed on chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitCounters {
    tokens_max: u64,
    committed_to_db: u64,
    committed_to_blockchain: u64,
    last_db_seqno: Option<u64>,
    unconfirmed: BTreeMap<u64, u64>,
}

impl CommitCounters {
    /// Counters restored from the DB: the stored tokens count as committed to the DB and to
    /// the chain at `seqno` (what the reference does on load).
    pub fn restored(tokens: u64, seqno: u64) -> CommitCounters {
        CommitCounters {
            tokens_max: tokens,
            committed_to_db: tokens,
            committed_to_blockchain: tokens,
            last_db_seqno: Some(seqno),
            unconfirmed: BTreeMap::new(),
        }
    }
    /// All tokens charged/earned so far.
    pub fn tokens_max(&self) -> u64 {
        self.tokens_max
    }
    /// `tokens_max` at the latest DB commit.
    pub fn committed_to_db(&self) -> u64 {
        self.committed_to_db
    }
    /// Tokens at the highest DB seqno seen confirmed on chain; vouchers are issued for this.
    pub fn committed_to_blockchain(&self) -> u64 {
        self.committed_to_blockchain
    }
    /// Adds served tokens (saturating).
    pub fn add(&mut self, tokens: u64) {
        self.tokens_max = self.tokens_max.saturating_add(tokens);
    }
    /// Records `tokens_max` as committed at DB seqno `seqno`.
    pub fn commit_to_db(&mut self, seqno: u64) -> Result<(), CounterError> {
        if let Some(last) = self.last_db_seqno {
            if seqno <= last {
                return Err(CounterError::SeqnoNotIncreasing { seqno, last });
            }
        }
        self.last_db_seqno = Some(seqno);
        self.committed_to_db = self.tokens_max;
        self.unconfirmed.insert(seqno, self.tokens_max);
        Ok(())
    }
    /// The proxy saw its `save_state(seqno)` on chain: promotes the value recorded at the
    /// highest DB seqno ≤ `seqno`. Returns true when `committed_to_blockchain` grew.
    pub fn confirm_on_chain(&mut self, seqno: u64) -> bool {
        let Some((&at, &tokens)) = self.unconfirmed.range(..=seqno).next_back() else {
            return false;
        };
        self.unconfirmed = self.unconfirmed.split_off(&(at + 1));
        if tokens > self.committed_to_blockchain {
            self.committed_to_blockchain = tokens;
            return true;
        }
        false
    }
}

/// What the chain says about a client contract (proxy's view).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientChainView {
    /// Unspent prepaid nanoTON.
    pub balance: NanoTon,
    /// Stake in nanoTON.
    pub stake: NanoTon,
    /// Tokens already charged on chain.
    pub sc_tokens_used: u64,
}

/// A reservation taken at request start; consumed by [`settle_request`] or
/// [`ClientAccount::release`]. Not `Clone`, so it is released exactly once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation must be settled or released"]
pub struct Reservation {
    tokens: u64,
}

impl Reservation {
    /// Reserved tokens.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

/// Refusal of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client balance is too low: to_reserve={requested} tokens_available={available}")]
pub struct InsufficientTokens {
    /// Tokens asked for.
    pub requested: u64,
    /// `tokens_available` at the time.
    pub available: i128,
}

/// The proxy's accounting for one client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientAccount {
    /// Monotone counters; `tokens_max` is the client's `tokens_used`.
    pub counters: CommitCounters,
    /// Last known on-chain state.
    pub chain: ClientChainView,
    reserved: u64,
}

impl ClientAccount {
    /// New account with the given chain view.
    pub fn new(chain: ClientChainView) -> ClientAccount {
        ClientAccount {
            counters: CommitCounters::default(),
            chain,
            reserved: 0,
        }
    }
    /// Tokens currently reserved by running requests.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }
    /// `balance / price + sc_tokens_used`.
    pub fn tokens_payed(&self, prices: &Prices) -> u64 {
        safe_div(self.chain.balance, prices.price_per_token())
            .saturating_add(self.chain.sc_tokens_used)
    }
    /// `stake / price`.
    pub fn tokens_stake(&self, prices: &Prices) -> u64 {
        safe_div(self.chain.stake, prices.price_per_token())
    }
    /// `min(tokens_payed, tokens_stake + sc_tokens_used) − reserved − tokens_used`
    /// (may be negative).
    pub fn tokens_available(&self, prices: &Prices) -> i128 {
        let limit = self.tokens_payed(prices).min(
            self.tokens_stake(prices)
                .saturating_add(self.chain.sc_tokens_used),
        );
        i128::from(limit) - i128::from(self.reserved) - i128::from(self.counters.tokens_max())
    }
    /// Reserves `tokens` if that many are available.
    pub fn reserve(
        &mut self,
        tokens: u64,
        prices: &Prices,
    ) -> Result<Reservation, InsufficientTokens> {
        let available = self.tokens_available(prices);
        if i128::from(tokens) > available {
            return Err(InsufficientTokens {
                requested: tokens,
                available,
            });
        }
        self.reserved += tokens;
        Ok(Reservation { tokens })
    }
    /// Releases a reservation without charging anything (request failed before serving).
    pub fn release(&mut self, reservation: Reservation) {
        self.reserved = self.reserved.saturating_sub(reservation.tokens);
    }
}

/// The proxy's accounting for one worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerAccount {
    /// Monotone counters; `tokens_max` is everything the worker earned.
    pub counters: CommitCounters,
}

/// Result of settling one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Tokens added to both the client's and the worker's `tokens_max`.
    pub charged: u64,
    /// Reported tokens above the reservation, not charged and not credited.
    pub unbilled: u64,
}

/// Per-request settlement (§6.3): releases the reservation and adds
/// `min(reported, reserved)` to both the client and the worker.
pub fn settle_request(
    client: &mut ClientAccount,
    worker: &mut WorkerAccount,
    reservation: Reservation,
    reported_tokens: u64,
) -> Settlement {
    let charged = reported_tokens.min(reservation.tokens);
    client.release(reservation);
    client.counters.add(charged);
    worker.counters.add(charged);
    Settlement {
        charged,
        unbilled: reported_tokens - charged,
    }
}

#[cfg(test)]
#[path = "accounting_tests.rs"]
mod tests;
